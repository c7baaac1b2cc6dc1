//! Pure tool helpers shared by the console and the CLI: no I/O, no sessions. Schema checks,
//! argument skeletons, rendering of results and catalogues, the elicitation form with its
//! answer checks, and the MCP protocol revisions an operator may pin. It imports `domain`, `text` and external crates only, so any front-end can
//! use it without reaching past the engine.

pub mod browse;
pub mod call;
pub mod catalogue;
pub mod command_line;
pub mod elicit;
pub mod form;
pub mod progress;
pub mod protocol;
pub mod qr;
pub mod render;
pub mod schema;
pub mod skeleton;
pub mod transcript;

pub use call::{CallError, CallOutcome};
pub use catalogue::Catalogue;
