//! The tool panel's argument stage: the JSON editor or the form (Tab switches, the value
//! carries over), both checked against the tool's schema as they change, and the call.

use crossterm::event::KeyEvent;
use serde_json::Value;
use tokio_util::sync::CancellationToken;

use super::{CONSOLE_CALL_TIMEOUT, PanelOutcome, Stage, ToolPanel, parse_json};
use crate::domain::Actor;
use crate::engine::Command;
use crate::toolkit::form::Form;
use crate::toolkit::schema::{Checked, check};
use crate::toolkit::skeleton::skeleton_text;
use crate::tui::editor::{self, Editor};
use crate::tui::form::FormState;
use crate::tui::panel_keys::PanelIntent;

/// Past this size the editor's text is checked on sending only: checking a large document on
/// every keystroke would make typing lag.
const LIVE_CHECK_LIMIT: usize = 64 * 1024;

pub(super) fn form_intent(form: &mut FormState, intent: PanelIntent) {
    match intent {
        PanelIntent::Up => form.up(),
        PanelIntent::Down => form.down(),
        PanelIntent::Previous => form.cycle(false),
        PanelIntent::Next => form.cycle(true),
        PanelIntent::Add => form.add(),
        PanelIntent::Remove => form.remove(),
        _ => {}
    }
}

/// The editor's text against the schema: what is wrong now, empty when nothing is.
fn live_check(schema: &Value, editor: &Editor) -> Vec<String> {
    let text = editor.text();
    if text.len() > LIVE_CHECK_LIMIT {
        return Vec::new();
    }
    if text.trim().is_empty() {
        return live_violations(schema, &Value::Object(serde_json::Map::new()));
    }
    match serde_json::from_str::<Value>(text) {
        Ok(value) => live_violations(schema, &value),
        Err(e) => vec![format!("not valid JSON yet: {e}")],
    }
}

fn live_violations(schema: &Value, value: &Value) -> Vec<String> {
    match check(schema, value) {
        Checked::Invalid(v) => v.iter().map(ToString::to_string).collect(),
        Checked::Valid | Checked::SchemaUnusable(_) => Vec::new(),
    }
}

impl ToolPanel {
    fn schema_of(&self, index: usize) -> Option<Value> {
        let tool = self.tools.get(index)?;
        Some(Value::Object((*tool.input_schema).clone()))
    }

    /// Opens the arguments of a tool: its draft if it has one, else the schema's template; in
    /// the form when the operator last used the form.
    pub(super) fn edit(&mut self, index: usize) {
        let Some(schema) = self.schema_of(index) else {
            return;
        };
        let name = self.tools[index].name.to_string();
        let draft = self.drafts.remove(&name);
        let editor = draft
            .clone()
            .unwrap_or_else(|| Editor::new(&skeleton_text(&schema)));
        let form = self.prefer_form.then(|| {
            let form = match draft
                .as_ref()
                .map(|e| serde_json::from_str::<Value>(e.text()))
            {
                Some(Ok(value)) => Form::new(&schema, value),
                _ => Form::template(&schema),
            };
            FormState::new(form)
        });
        let live = live_check(&schema, &editor);
        self.stage = Stage::Edit {
            tool: index,
            editor,
            problems: Vec::new(),
            form,
            live,
        };
    }

    /// Tab: from the form to the JSON editor with the form's value, or back with the editor's
    /// (which must parse to an object: the form cannot show anything else).
    pub(super) fn switch_mode(&mut self) {
        let Stage::Edit { tool, .. } = &self.stage else {
            return;
        };
        let Some(schema) = self.schema_of(*tool) else {
            return;
        };
        let Stage::Edit {
            editor,
            problems,
            form,
            live,
            ..
        } = &mut self.stage
        else {
            return;
        };
        problems.clear();
        match form.take() {
            Some(state) => {
                let text =
                    serde_json::to_string_pretty(state.value()).unwrap_or_else(|_| "{}".into());
                *editor = Editor::new(&text);
                *live = live_check(&schema, editor);
                self.prefer_form = false;
            }
            None => match parse_json(editor) {
                // Untouched, the template gains the defaults the JSON template leaves out.
                Ok(Value::Object(_)) if editor.text() == skeleton_text(&schema) => {
                    *form = Some(FormState::new(Form::template(&schema)));
                    self.prefer_form = true;
                }
                Ok(value @ Value::Object(_)) => {
                    *form = Some(FormState::new(Form::new(&schema, value)));
                    self.prefer_form = true;
                }
                Ok(_) => {
                    *problems = vec!["the form edits an object; these arguments are not one".into()]
                }
                Err(e) => *problems = vec![format!("{e}; fix it to open the form")],
            },
        }
    }

    /// A key no table claims edits the text of the editor or the form's field.
    pub(super) fn type_key(&mut self, key: &KeyEvent) {
        let schema = match &self.stage {
            Stage::Edit { tool, .. } => self.schema_of(*tool),
            _ => None,
        };
        match &mut self.stage {
            Stage::Edit {
                form: Some(form), ..
            } => {
                form.key(key);
            }
            Stage::Edit {
                editor,
                problems,
                live,
                ..
            } => {
                if let Some(edit) = editor::edit_for(key)
                    && editor.apply(edit)
                {
                    problems.clear();
                    if let Some(schema) = &schema {
                        *live = live_check(schema, editor);
                    }
                }
            }
            Stage::Answer {
                editor, problems, ..
            } => {
                if let Some(edit) = editor::edit_for(key)
                    && editor.apply(edit)
                {
                    problems.clear();
                }
            }
            _ => {}
        }
    }

    pub(super) fn leave_editor(&mut self) {
        let stage = std::mem::replace(&mut self.stage, Stage::List { selected: 0 });
        if let Stage::Edit {
            tool, editor, form, ..
        } = stage
        {
            let editor = match form {
                Some(f) => {
                    Editor::new(&serde_json::to_string_pretty(f.value()).unwrap_or_default())
                }
                None => editor,
            };
            if let Some(t) = self.tools.get(tool) {
                self.drafts.insert(t.name.to_string(), editor);
            }
            self.stage = Stage::List { selected: tool };
        }
    }

    /// Parses and checks the arguments here, so a typo never reaches the engine.
    pub(super) fn submit(&mut self, index: usize) -> Option<PanelOutcome> {
        let Stage::Edit {
            editor,
            problems,
            form,
            ..
        } = &mut self.stage
        else {
            return None;
        };
        let tool = self.tools.get(index)?;
        let parsed = match form {
            Some(f) => Ok(f.value().clone()),
            None => parse_json(editor),
        };
        let arguments = match parsed {
            Ok(Value::Object(map)) => map,
            Ok(_) => {
                *problems = vec!["(arguments): must be a JSON object".into()];
                return None;
            }
            Err(e) => {
                *problems = vec![e];
                return None;
            }
        };
        let schema = Value::Object((*tool.input_schema).clone());
        if let Checked::Invalid(v) = check(&schema, &Value::Object(arguments.clone())) {
            *problems = v.iter().map(ToString::to_string).collect();
            return None;
        }
        let name = tool.name.to_string();
        self.remember(&name, &arguments);
        let Stage::Edit { editor, form, .. } = &mut self.stage else {
            return None;
        };
        let draft = match form {
            Some(f) => Editor::new(&serde_json::to_string_pretty(f.value()).unwrap_or_default()),
            None => editor.clone(),
        };
        self.drafts.insert(name.clone(), draft);
        let cancel = CancellationToken::new();
        self.stage = Stage::Running {
            tool: name.clone(),
            progress: None,
            cancel: cancel.clone(),
        };
        Some(PanelOutcome::Send(Command::CallTool {
            key: self.key.clone(),
            tool: name,
            arguments: Some(arguments),
            timeout: CONSOLE_CALL_TIMEOUT,
            actor: Actor::Console,
            cancel,
            reply: None,
        }))
    }
}
