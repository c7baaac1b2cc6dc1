//! Per connection call history and "copy as command". The history lives in the console's
//! memory, not the store: arguments can hold whatever the operator typed (a password to test
//! with, customer data), and the event log deliberately records calls without them. It lasts
//! as long as the console, across closing and reopening the panel.

use rmcp::model::JsonObject;
use serde_json::Value;

use super::{PanelOutcome, Stage, ToolPanel, parse_json};
use crate::toolkit::command_line::call_command;
use crate::tui::editor::Editor;

/// Past calls kept per connection, newest first.
pub const HISTORY_LIMIT: usize = 50;

#[derive(Debug, Clone, PartialEq)]
pub struct PastCall {
    pub tool: String,
    pub arguments: JsonObject,
    /// `ok in 7 ms`, `failed: …`; none while it runs.
    pub outcome: Option<String>,
}

impl ToolPanel {
    pub(super) fn remember(&mut self, tool: &str, arguments: &JsonObject) {
        self.history.insert(
            0,
            PastCall {
                tool: tool.to_string(),
                arguments: arguments.clone(),
                outcome: None,
            },
        );
        self.history.truncate(HISTORY_LIMIT);
    }

    /// The outcome of the call that was running: the newest past call of that tool.
    pub(super) fn remember_outcome(&mut self, tool: &str, outcome: String) {
        if let Some(past) = self
            .history
            .iter_mut()
            .find(|p| p.tool == tool && p.outcome.is_none())
        {
            past.outcome = Some(outcome);
        }
    }

    pub(super) fn open_history(&mut self) {
        self.stage = Stage::History { selected: 0 };
    }

    pub(super) fn rerun(&mut self, selected: usize) -> Option<PanelOutcome> {
        let past = self.history.get(selected)?.clone();
        let index = self.tools.iter().position(|t| t.name == past.tool)?;
        self.edit_with(index, &past.arguments);
        self.submit(index)
    }

    pub(super) fn edit_past(&mut self, selected: usize) {
        let Some(past) = self.history.get(selected).cloned() else {
            return;
        };
        if let Some(index) = self.tools.iter().position(|t| t.name == past.tool) {
            self.edit_with(index, &past.arguments);
        }
    }

    /// The editor on a tool with these arguments in it (in the form if that is what the
    /// operator uses).
    fn edit_with(&mut self, index: usize, arguments: &JsonObject) {
        let text = serde_json::to_string_pretty(&Value::Object(arguments.clone()))
            .unwrap_or_else(|_| "{}".into());
        let name = self.tools[index].name.to_string();
        self.drafts.insert(name, Editor::new(&text));
        self.edit(index);
    }

    /// The `switchboard call` line of the call the stage is about: the arguments being edited,
    /// the past call selected, or the call whose result shows.
    pub(super) fn copy_command(&mut self) -> Option<PanelOutcome> {
        let (tool, arguments) = match &mut self.stage {
            Stage::Edit {
                tool,
                editor,
                form,
                problems,
                ..
            } => {
                let value = match form {
                    Some(f) => Ok(f.value().clone()),
                    None => parse_json(editor),
                };
                let name = self.tools.get(*tool)?.name.to_string();
                match value {
                    Ok(Value::Object(map)) => (name, map),
                    Ok(_) => {
                        *problems = vec!["(arguments): must be a JSON object".into()];
                        return None;
                    }
                    Err(e) => {
                        *problems = vec![e];
                        return None;
                    }
                }
            }
            Stage::History { selected } => {
                let past = self.history.get(*selected)?;
                (past.tool.clone(), past.arguments.clone())
            }
            Stage::Done { .. } => {
                let past = self.history.first()?;
                (past.tool.clone(), past.arguments.clone())
            }
            _ => return None,
        };
        Some(PanelOutcome::Copy(call_command(
            &self.key, &tool, &arguments,
        )))
    }
}
