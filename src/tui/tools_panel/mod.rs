//! The tool panel's state and reducer: list a connection's tools, edit JSON arguments prefilled
//! from the schema, call, watch progress, read the result. Pure like the app reducer: keys and
//! engine events in, state and engine commands out.

use std::collections::HashMap;
use std::time::Duration;

use crossterm::event::{KeyCode, KeyEvent};
use rmcp::model::Tool;
use serde_json::Value;
use tokio_util::sync::CancellationToken;

use super::editor::{Edit, Editor};
use super::form::FormState;
use super::keymap::{Binding, lookup_in};
use super::panel_keys::{self, PanelIntent};
use crate::domain::ConnectionKey;
use crate::engine::{Command, ElicitationRequest, Event};
use crate::toolkit::elicit::prompt::Answer as ElicitAnswer;
use crate::toolkit::progress::progress_text;
use crate::toolkit::render::render_result;

/// Console calls get a generous deadline: the operator can always press Esc.
pub const CONSOLE_CALL_TIMEOUT: Duration = Duration::from_secs(120);

mod answer;
mod edit;
mod history;
pub mod history_keys;
pub mod tab_keys;
mod tabs;

pub use history::{HISTORY_LIMIT, PastCall};
pub use tabs::{Browse, Protocol, Tab, Tabs};

use edit::form_intent;

#[derive(Debug)]
pub enum Stage {
    Loading,
    List {
        selected: usize,
    },
    Edit {
        tool: usize,
        editor: Editor,
        problems: Vec<String>,
        /// The argument form, while it is showing instead of the JSON editor.
        form: Option<FormState>,
        /// The editor's text checked against the schema as it was typed.
        live: Vec<String>,
    },
    Running {
        tool: String,
        progress: Option<String>,
        cancel: CancellationToken,
    },
    /// The running call's server asks for input (MCP elicitation): the operator edits the
    /// answer as JSON, then the call carries on.
    Answer {
        /// The engine's id of the request, for the answer.
        id: u64,
        request: ElicitationRequest,
        editor: Editor,
        problems: Vec<String>,
        /// The `Running` stage, back once the answer is given.
        call: Box<Stage>,
    },
    Done {
        text: String,
        failed: bool,
        index: usize,
    },
    /// The connection's past calls, newest first.
    History {
        selected: usize,
    },
    Failed(String),
}

#[derive(Debug)]
pub struct ToolPanel {
    pub key: ConnectionKey,
    pub tools: Vec<Tool>,
    pub stage: Stage,
    /// The arguments last edited or sent per tool name, so calling again with a small change
    /// does not start over from the template. They live as long as the panel.
    drafts: HashMap<String, Editor>,
    /// The panel's help popup (its key tables) is showing.
    help: bool,
    /// The operator last used the form rather than the JSON editor: tools open in it.
    prefer_form: bool,
    /// Which tab shows, and the resources, prompts and protocol tabs' own state.
    pub tabs: Tabs,
    /// This connection's past calls, newest first (the console keeps them between panels).
    pub history: Vec<PastCall>,
}

/// What a key did to the panel.
#[derive(Debug)]
pub enum PanelOutcome {
    Close,
    Send(Command),
    /// Put this text on the clipboard (and show it).
    Copy(String),
}

/// The editor's text as JSON; blank means `{}` (no arguments, an empty answer). On a syntax
/// error the cursor goes where the parser stopped.
fn parse_json(editor: &mut Editor) -> Result<Value, String> {
    if editor.text().trim().is_empty() {
        return Ok(Value::Object(serde_json::Map::new()));
    }
    // Untrimmed, so the error's line and column are the editor's.
    serde_json::from_str(editor.text()).map_err(|e| {
        // At "end of input" serde points at the last character; what is missing goes after it.
        if e.is_eof() {
            editor.apply(Edit::End);
        } else {
            editor.go_to(e.line(), e.column());
        }
        format!("not valid JSON: {e}")
    })
}

impl ToolPanel {
    /// Opens the panel and asks the engine for the tool list.
    pub fn open(key: ConnectionKey) -> (ToolPanel, Command) {
        let command = Command::ListTools {
            key: key.clone(),
            refresh: false,
        };
        let panel = ToolPanel {
            key,
            tools: Vec::new(),
            stage: Stage::Loading,
            drafts: HashMap::new(),
            help: false,
            prefer_form: false,
            tabs: Tabs::default(),
            history: Vec::new(),
        };
        (panel, command)
    }

    /// The key table of the stage the panel is in.
    pub fn keys(&self) -> &'static [Binding<PanelIntent>] {
        if self.tabs.tab != Tab::Tools {
            return self.tabs.keys();
        }
        match self.stage {
            Stage::Loading | Stage::Failed(_) => panel_keys::LOADING,
            Stage::List { .. } => panel_keys::LIST,
            Stage::Edit { form: Some(_), .. } => panel_keys::FORM,
            Stage::Edit { .. } => panel_keys::EDIT,
            Stage::Running { .. } => panel_keys::RUNNING,
            Stage::Answer { .. } => panel_keys::ANSWER,
            Stage::Done { .. } => panel_keys::DONE,
            Stage::History { .. } => panel_keys::HISTORY,
        }
    }

    pub fn help_visible(&self) -> bool {
        self.help
    }

    /// A key of the stage's table does what the table says; any other key edits the text in
    /// the stages with an editor, and does nothing elsewhere.
    pub fn handle_key(&mut self, key: KeyEvent) -> Option<PanelOutcome> {
        let intent = lookup_in(self.keys(), &key);
        if self.help {
            // Modal, like the dashboard's help: a key meant for the popup must not act.
            if key.code == KeyCode::Esc || intent == Some(PanelIntent::Help) {
                self.help = false;
            }
            return None;
        }
        match intent {
            Some(intent) => self.act(intent),
            None if self.tabs.tab != Tab::Tools => {
                self.tab_type(&key);
                None
            }
            None => {
                self.type_key(&key);
                None
            }
        }
    }

    fn act(&mut self, intent: PanelIntent) -> Option<PanelOutcome> {
        match intent {
            PanelIntent::Close => return Some(PanelOutcome::Close),
            PanelIntent::Help => {
                self.help = true;
                return None;
            }
            PanelIntent::NextTab => return self.switch_tab(true),
            PanelIntent::PrevTab => return self.switch_tab(false),
            _ if self.tabs.tab != Tab::Tools => return self.tab_act(intent),
            _ => {}
        }
        match (intent, &mut self.stage) {
            (PanelIntent::Up, Stage::List { selected }) => *selected = selected.saturating_sub(1),
            (PanelIntent::Down, Stage::List { selected }) => {
                *selected = (*selected + 1).min(self.tools.len().saturating_sub(1));
            }
            (PanelIntent::Arguments, Stage::List { selected }) => {
                let index = *selected;
                self.edit(index);
            }
            (PanelIntent::Call, Stage::Edit { tool, .. }) => {
                let index = *tool;
                return self.submit(index);
            }
            (PanelIntent::Switch, Stage::Edit { .. }) => self.switch_mode(),
            (
                PanelIntent::Up
                | PanelIntent::Down
                | PanelIntent::Previous
                | PanelIntent::Next
                | PanelIntent::Add
                | PanelIntent::Remove,
                Stage::Edit {
                    form: Some(form), ..
                },
            ) => form_intent(form, intent),
            (
                PanelIntent::Newline,
                Stage::Edit {
                    editor, problems, ..
                },
            )
            | (
                PanelIntent::Newline,
                Stage::Answer {
                    editor, problems, ..
                },
            ) => {
                // Like any edit, a line break makes the problems shown stale.
                let changed = editor.apply(Edit::Newline);
                if changed {
                    problems.clear();
                }
            }
            (PanelIntent::Back, Stage::Edit { .. }) => self.leave_editor(),
            (PanelIntent::Back, Stage::Done { index, .. }) => {
                self.stage = Stage::List { selected: *index };
            }
            (PanelIntent::Back, Stage::History { .. }) => {
                self.stage = Stage::List { selected: 0 };
            }
            (PanelIntent::History, Stage::List { .. }) => self.open_history(),
            (PanelIntent::Up, Stage::History { selected }) => {
                *selected = selected.saturating_sub(1)
            }
            (PanelIntent::Down, Stage::History { selected }) => {
                *selected = (*selected + 1).min(self.history.len().saturating_sub(1));
            }
            (PanelIntent::Rerun, Stage::History { selected }) => {
                let selected = *selected;
                return self.rerun(selected);
            }
            (PanelIntent::EditPast, Stage::History { selected }) => {
                let selected = *selected;
                self.edit_past(selected);
            }
            (PanelIntent::Copy, _) => return self.copy_command(),
            (
                PanelIntent::Cancel,
                Stage::Running {
                    progress, cancel, ..
                },
            ) if !cancel.is_cancelled() => {
                cancel.cancel();
                *progress = Some("cancelling…".into());
            }
            (
                PanelIntent::Answer,
                Stage::Answer {
                    request,
                    editor,
                    problems,
                    ..
                },
            ) => {
                let checked = parse_json(editor)
                    .map_err(|e| vec![e])
                    .and_then(|value| request.form.check_answer(&value));
                match checked {
                    Ok(content) => return self.answer(ElicitAnswer::Accept(content)),
                    Err(found) => *problems = found,
                }
            }
            (PanelIntent::Decline, Stage::Answer { .. }) => {
                return self.answer(ElicitAnswer::Decline);
            }
            (PanelIntent::CancelAsk, Stage::Answer { .. }) => {
                return self.answer(ElicitAnswer::Cancel);
            }
            // A table names only intents its stage has; anything else is a table bug, and
            // doing nothing is the safe reading of it.
            _ => {}
        }
        None
    }

    /// Bracketed paste: the whole text lands at the cursor at once, line breaks included,
    /// instead of arriving as keys where its first newline would send the call.
    pub fn handle_paste(&mut self, text: &str) {
        if let Stage::Edit {
            form: Some(form), ..
        } = &mut self.stage
        {
            form.paste(text);
            return;
        }
        if let Stage::Edit {
            editor, problems, ..
        }
        | Stage::Answer {
            editor, problems, ..
        } = &mut self.stage
            && editor.paste(text)
        {
            problems.clear();
        }
    }

    pub fn on_event(&mut self, event: &Event) {
        self.tab_event(event);
        match event {
            Event::ElicitationClosed { id } => self.elicitation_closed(*id),
            Event::ToolsListed { key, result } if *key == self.key => match result {
                Ok(c) => {
                    self.tools = c.tools.clone();
                    if matches!(self.stage, Stage::Loading) {
                        self.stage = Stage::List { selected: 0 };
                    }
                }
                Err(f) => self.stage = Stage::Failed(f.to_string()),
            },
            Event::ToolProgress {
                key,
                progress: p,
                total,
                message,
                ..
            } if *key == self.key => {
                if let Stage::Running {
                    progress, cancel, ..
                } = &mut self.stage
                    && !cancel.is_cancelled()
                {
                    *progress = Some(progress_text(*p, *total, message.as_deref()));
                }
            }
            Event::ToolResult { key, tool, result } if *key == self.key => {
                // Back to the tool that was called, wherever the list has it now.
                let index = self
                    .tools
                    .iter()
                    .position(|t| t.name == *tool)
                    .unwrap_or_default();
                let (text, failed) = match result {
                    Ok(o) => (
                        render_result(tool, &o.result, o.latency_ms),
                        o.is_tool_error(),
                    ),
                    Err(e) => (format!("{tool}: {e}"), true),
                };
                let outcome = match result {
                    Ok(o) if o.is_tool_error() => format!("tool error in {} ms", o.latency_ms),
                    Ok(o) => format!("ok in {} ms", o.latency_ms),
                    Err(e) => format!("failed: {e}"),
                };
                self.remember_outcome(tool, outcome);
                self.stage = Stage::Done {
                    text,
                    failed,
                    index,
                };
            }
            _ => {}
        }
    }
}
