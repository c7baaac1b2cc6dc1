//! The tool panel's state and reducer: list a connection's tools, edit JSON arguments prefilled
//! from the schema, call, watch progress, read the result. Pure like the app reducer: keys and
//! engine events in, state and engine commands out.

use std::time::Duration;

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use rmcp::model::Tool;
use serde_json::{Map, Value};
use tokio_util::sync::CancellationToken;

use crate::domain::{Actor, ConnectionKey};
use crate::engine::{Command, Event};
use crate::mcp::render::render_result;
use crate::mcp::schema::{Checked, check};

/// Console calls get a generous deadline: the operator can always press Esc.
pub const CONSOLE_CALL_TIMEOUT: Duration = Duration::from_secs(120);

#[derive(Debug)]
pub enum Stage {
    Loading,
    List {
        selected: usize,
    },
    Edit {
        tool: usize,
        text: String,
        problems: Vec<String>,
    },
    Running {
        tool: String,
        progress: Option<String>,
        cancel: CancellationToken,
    },
    Done {
        text: String,
        failed: bool,
    },
    Failed(String),
}

#[derive(Debug)]
pub struct ToolPanel {
    pub key: ConnectionKey,
    pub tools: Vec<Tool>,
    pub stage: Stage,
}

/// What a key did to the panel.
#[derive(Debug)]
pub enum PanelOutcome {
    Close,
    Send(Command),
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
        };
        (panel, command)
    }

    pub fn handle_key(&mut self, key: KeyEvent) -> Option<PanelOutcome> {
        let esc = key.code == KeyCode::Esc;
        match &mut self.stage {
            Stage::Loading | Stage::Failed(_) => esc.then_some(PanelOutcome::Close),
            Stage::List { selected } => match key.code {
                KeyCode::Esc | KeyCode::Char('q') => Some(PanelOutcome::Close),
                KeyCode::Up | KeyCode::Char('k') => {
                    *selected = selected.saturating_sub(1);
                    None
                }
                KeyCode::Down | KeyCode::Char('j') => {
                    *selected = (*selected + 1).min(self.tools.len().saturating_sub(1));
                    None
                }
                KeyCode::Enter => {
                    let tool = *selected;
                    let text = self.tools.get(tool).map(prefill).unwrap_or_default();
                    self.stage = Stage::Edit {
                        tool,
                        text,
                        problems: Vec::new(),
                    };
                    None
                }
                _ => None,
            },
            Stage::Edit {
                tool,
                text,
                problems,
            } => {
                let tool = *tool;
                match key.code {
                    KeyCode::Esc => self.stage = Stage::List { selected: tool },
                    KeyCode::Enter => return self.submit(tool),
                    KeyCode::Backspace => {
                        text.pop();
                        problems.clear();
                    }
                    KeyCode::Char('u') if key.modifiers.contains(KeyModifiers::CONTROL) => {
                        text.clear();
                    }
                    KeyCode::Char(c) if !key.modifiers.contains(KeyModifiers::CONTROL) => {
                        text.push(c);
                        problems.clear();
                    }
                    _ => {}
                }
                None
            }
            Stage::Running {
                progress, cancel, ..
            } => {
                if esc && !cancel.is_cancelled() {
                    cancel.cancel();
                    *progress = Some("cancelling…".into());
                }
                None
            }
            Stage::Done { .. } => {
                if esc || key.code == KeyCode::Enter {
                    self.stage = Stage::List { selected: 0 };
                }
                None
            }
        }
    }

    /// Parses and checks the arguments here, so a typo never reaches the engine.
    fn submit(&mut self, index: usize) -> Option<PanelOutcome> {
        let Stage::Edit { text, problems, .. } = &mut self.stage else {
            return None;
        };
        let tool = self.tools.get(index)?;
        let arguments = match serde_json::from_str::<Value>(text) {
            Ok(Value::Object(map)) => map,
            Ok(_) => {
                *problems = vec!["the arguments must be a JSON object".into()];
                return None;
            }
            Err(e) => {
                *problems = vec![format!("not valid JSON: {e}")];
                return None;
            }
        };
        let schema = Value::Object((*tool.input_schema).clone());
        if let Checked::Invalid(v) = check(&schema, &Value::Object(arguments.clone())) {
            *problems = v.iter().map(ToString::to_string).collect();
            return None;
        }
        let cancel = CancellationToken::new();
        let name = tool.name.to_string();
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
        }))
    }

    pub fn on_event(&mut self, event: &Event) {
        match event {
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
                    let amount = total.map_or_else(|| p.to_string(), |t| format!("{p}/{t}"));
                    let message = message.as_deref().unwrap_or_default();
                    *progress = Some(format!("{amount} {message}").trim().to_string());
                }
            }
            Event::ToolResult { key, tool, result } if *key == self.key => {
                self.stage = match result {
                    Ok(o) => Stage::Done {
                        text: render_result(tool, &o.result, o.latency_ms),
                        failed: o.is_tool_error(),
                    },
                    Err(e) => Stage::Done {
                        text: format!("{tool}: {e}"),
                        failed: true,
                    },
                };
            }
            _ => {}
        }
    }
}

/// A JSON object with every property of the schema at a neutral value of its type: a template
/// to edit rather than a blank to remember.
pub fn prefill(tool: &Tool) -> String {
    let schema = &tool.input_schema;
    let Some(Value::Object(props)) = schema.get("properties") else {
        return "{}".into();
    };
    let mut out = Map::new();
    for (name, p) in props {
        let kind = match p.get("type") {
            Some(Value::String(t)) => t.as_str(),
            Some(Value::Array(ts)) => ts.iter().find_map(Value::as_str).unwrap_or("null"),
            _ => "null",
        };
        let value = match kind {
            "string" => Value::String(String::new()),
            "number" | "integer" => Value::from(0),
            "boolean" => Value::Bool(false),
            "array" => Value::Array(Vec::new()),
            "object" => Value::Object(Map::new()),
            _ => Value::Null,
        };
        out.insert(name.clone(), value);
    }
    Value::Object(out).to_string()
}
