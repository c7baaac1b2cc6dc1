//! The tool panel's side of a server's request for input (MCP elicitation): shown over the
//! call it belongs to, answered through `Command::AnswerElicitation`, closed when the engine
//! says it is over.

use serde_json::Value;

use super::{PanelOutcome, Stage, ToolPanel};
use crate::domain::ConnectionKey;
use crate::engine::{Command, ElicitationRequest};
use crate::toolkit::elicit::prompt::Answer as ElicitAnswer;
use crate::tui::editor::Editor;

impl ToolPanel {
    /// Shows a server's request for input over the call that it belongs to. Only a call this
    /// panel is running can be asked about (one at a time); false otherwise, and the request
    /// is someone else's to answer.
    pub fn on_elicitation(
        &mut self,
        id: u64,
        key: Option<&ConnectionKey>,
        request: &ElicitationRequest,
    ) -> bool {
        let ours = key.is_none_or(|k| *k == self.key);
        if !ours || !matches!(self.stage, Stage::Running { .. }) {
            return false;
        }
        let template = Value::Object(request.form.template());
        let text = serde_json::to_string_pretty(&template).unwrap_or_else(|_| "{}".into());
        let mut editor = Editor::new(&text);
        // The cursor waits inside the first blank to fill (`"name": ""`), else at the top.
        let blank = text
            .lines()
            .enumerate()
            .find_map(|(i, line)| line.find(": \"\"").map(|at| (i + 1, at + 4)));
        let (line, column) = blank.unwrap_or((1, 1));
        editor.go_to(line, column);
        let call = std::mem::replace(&mut self.stage, Stage::Loading);
        self.stage = Stage::Answer {
            id,
            request: request.clone(),
            editor,
            problems: Vec::new(),
            call: Box::new(call),
        };
        true
    }

    /// Back to the call, and the answer for the engine to send to the server.
    pub(super) fn answer(&mut self, answer: ElicitAnswer) -> Option<PanelOutcome> {
        let stage = std::mem::replace(&mut self.stage, Stage::Loading);
        match stage {
            Stage::Answer { id, call, .. } => {
                self.stage = *call;
                // The server may have given up meanwhile; the call's result will say so.
                Some(PanelOutcome::Send(Command::AnswerElicitation {
                    id,
                    answer,
                }))
            }
            other => {
                self.stage = other;
                None
            }
        }
    }

    /// The request being answered was closed elsewhere (answered, timed out, its call ended):
    /// back to the call.
    pub(super) fn elicitation_closed(&mut self, closed: u64) {
        if matches!(self.stage, Stage::Answer { id, .. } if id == closed) {
            let stage = std::mem::replace(&mut self.stage, Stage::Loading);
            if let Stage::Answer { call, .. } = stage {
                self.stage = *call;
            }
        }
    }
}
