//! The console's side of elicitation: the request handed to the tool panel, and the channel
//! it travels on. The form as a JSON document to edit is `toolkit::elicit::answer`.

use crate::toolkit::elicit::form::Form;
use crate::toolkit::elicit::prompt::Answer;

/// A form request on its way to the console, and where its answer goes. Dropping `reply`
/// (the console closed, or could not show it) declines.
#[derive(Debug)]
pub struct ConsoleAsk {
    pub server: String,
    pub message: String,
    pub form: Form,
    pub reply: tokio::sync::oneshot::Sender<Answer>,
}

pub type ConsoleAsks = tokio::sync::mpsc::UnboundedReceiver<ConsoleAsk>;
