//! The panel's other tabs: resources (read one; a template's parameters filled in the form),
//! prompts (get one with its arguments) and protocol (the connection's MCP transcript, followed
//! live while the panel is open). Keys and engine events in, state and commands out.

use std::collections::VecDeque;
use std::sync::Arc;

use serde_json::Value;

use super::tab_keys;
use super::{PanelOutcome, ToolPanel};
use crate::engine::{Command, Event, LOG_LEVELS};
use crate::toolkit::Catalogue;
use crate::toolkit::browse::{
    expand_template, prompt_schema, render_prompt, render_resource, template_params,
    template_schema,
};
use crate::toolkit::form::Form;
use crate::toolkit::transcript::{Entry, RING_ENTRIES};
use crate::tui::form::FormState;
use crate::tui::keymap::Binding;
use crate::tui::panel_keys::PanelIntent;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Tab {
    #[default]
    Tools,
    Resources,
    Prompts,
    /// The server's log messages (`notifications/message`) and its level.
    Log,
    Protocol,
}

impl Tab {
    pub const ALL: [Tab; 5] = [
        Tab::Tools,
        Tab::Resources,
        Tab::Prompts,
        Tab::Log,
        Tab::Protocol,
    ];

    pub fn title(self) -> &'static str {
        match self {
            Tab::Tools => "tools",
            Tab::Resources => "resources",
            Tab::Prompts => "prompts",
            Tab::Log => "log",
            Tab::Protocol => "protocol",
        }
    }

    fn step(self, forward: bool) -> Tab {
        let i = Tab::ALL.iter().position(|t| *t == self).unwrap_or(0);
        let n = Tab::ALL.len();
        Tab::ALL[if forward {
            (i + 1) % n
        } else {
            (i + n - 1) % n
        }]
    }
}

/// A resources or prompts tab.
#[derive(Debug, Default)]
pub enum Browse {
    #[default]
    List,
    /// A template's parameters or a prompt's arguments.
    Fill {
        /// What is being filled: the template's URI or the prompt's name.
        subject: String,
        form: FormState,
    },
    Waiting(String),
    Shown {
        title: String,
        text: String,
        failed: bool,
        scroll: usize,
    },
}

#[derive(Debug, Default)]
pub struct Tabs {
    pub tab: Tab,
    pub catalogue: Arc<Catalogue>,
    pub resources: Browse,
    pub resource_selected: usize,
    pub prompts: Browse,
    pub prompt_selected: usize,
    pub protocol: Protocol,
}

#[derive(Debug, Default)]
pub struct Protocol {
    pub entries: VecDeque<Entry>,
    pub selected: usize,
    /// The selection stays on the newest message as messages arrive.
    pub following: bool,
    pub expanded: bool,
    /// The engine sends this connection's messages (asked when the tab first opened).
    pub followed: bool,
    /// The level last asked of the server (`LOG_LEVELS` index); none until the operator sets
    /// one, since the server's own starting level is not announced.
    pub log_level: Option<usize>,
    /// Log lines scrolled back from the newest.
    pub log_back: usize,
}

impl Tabs {
    /// Rows of the resources tab: resources first, then templates.
    pub fn resource_rows(&self) -> usize {
        self.catalogue.resources.len() + self.catalogue.resource_templates.len()
    }

    pub fn keys(&self) -> &'static [Binding<PanelIntent>] {
        let browse = match self.tab {
            Tab::Protocol => return tab_keys::PROTOCOL,
            Tab::Log => return tab_keys::LOG,
            Tab::Resources => &self.resources,
            Tab::Prompts => &self.prompts,
            Tab::Tools => return tab_keys::BROWSE,
        };
        match browse {
            Browse::List => tab_keys::BROWSE,
            Browse::Fill { .. } => tab_keys::FILL,
            Browse::Waiting(_) | Browse::Shown { .. } => tab_keys::SHOWN,
        }
    }
}

impl ToolPanel {
    /// Tab: the next tab; the protocol tab asks for the transcript the first time.
    pub(super) fn switch_tab(&mut self, forward: bool) -> Option<PanelOutcome> {
        self.tabs.tab = self.tabs.tab.step(forward);
        let reads_transcript = matches!(self.tabs.tab, Tab::Protocol | Tab::Log);
        if reads_transcript && !self.tabs.protocol.followed {
            self.tabs.protocol.followed = true;
            self.tabs.protocol.following = true;
            return Some(PanelOutcome::Send(Command::Transcript {
                key: self.key.clone(),
                follow: true,
            }));
        }
        None
    }

    /// What the engine must hear when the panel closes: stop sending this transcript.
    pub fn closing(&self) -> Option<Command> {
        self.tabs.protocol.followed.then(|| Command::Transcript {
            key: self.key.clone(),
            follow: false,
        })
    }

    pub(super) fn tab_act(&mut self, intent: PanelIntent) -> Option<PanelOutcome> {
        match self.tabs.tab {
            Tab::Protocol => {
                self.protocol_act(intent);
                None
            }
            Tab::Resources | Tab::Prompts => self.browse_act(intent),
            Tab::Log => self.log_act(intent),
            Tab::Tools => None,
        }
    }

    /// ↑/↓ scroll the log; ←/→ ask the server for a lower or higher level.
    fn log_act(&mut self, intent: PanelIntent) -> Option<PanelOutcome> {
        let p = &mut self.tabs.protocol;
        let last = LOG_LEVELS.len() - 1;
        let level = match intent {
            PanelIntent::Up => {
                p.log_back += 1;
                return None;
            }
            PanelIntent::Down => {
                p.log_back = p.log_back.saturating_sub(1);
                return None;
            }
            // From "not set", the first step is info: the usual default of a server.
            PanelIntent::Previous => p.log_level.map_or(1, |l| l.saturating_sub(1)),
            PanelIntent::Next => p.log_level.map_or(1, |l| (l + 1).min(last)),
            _ => return None,
        };
        p.log_level = Some(level);
        Some(PanelOutcome::Send(Command::SetLogLevel {
            key: self.key.clone(),
            level: LOG_LEVELS[level].to_string(),
        }))
    }

    fn protocol_act(&mut self, intent: PanelIntent) {
        let p = &mut self.tabs.protocol;
        let last = p.entries.len().saturating_sub(1);
        match intent {
            PanelIntent::Up => {
                p.selected = p.selected.saturating_sub(1);
                p.following = false;
            }
            PanelIntent::Down => {
                p.selected = (p.selected + 1).min(last);
                p.following = p.selected == last;
            }
            PanelIntent::Expand => p.expanded = !p.expanded,
            _ => {}
        }
    }

    fn browse_act(&mut self, intent: PanelIntent) -> Option<PanelOutcome> {
        let resources = self.tabs.tab == Tab::Resources;
        let rows = if resources {
            self.tabs.resource_rows()
        } else {
            self.tabs.catalogue.prompts.len()
        };
        let (browse, selected) = if resources {
            (&mut self.tabs.resources, &mut self.tabs.resource_selected)
        } else {
            (&mut self.tabs.prompts, &mut self.tabs.prompt_selected)
        };
        match (intent, browse) {
            (PanelIntent::Up, Browse::List) => *selected = selected.saturating_sub(1),
            (PanelIntent::Down, Browse::List) => {
                *selected = (*selected + 1).min(rows.saturating_sub(1))
            }
            (PanelIntent::Up, Browse::Fill { form, .. }) => form.up(),
            (PanelIntent::Down, Browse::Fill { form, .. }) => form.down(),
            (PanelIntent::Up, Browse::Shown { scroll, .. }) => *scroll = scroll.saturating_sub(1),
            (PanelIntent::Down, Browse::Shown { scroll, .. }) => *scroll += 1,
            (PanelIntent::Back, b) => *b = Browse::List,
            (PanelIntent::Arguments, Browse::List) => {
                let index = *selected;
                return if resources {
                    self.open_resource(index)
                } else {
                    self.open_prompt(index)
                };
            }
            (PanelIntent::Call, Browse::Fill { subject, form }) => {
                if !form.problems().is_empty() {
                    return None;
                }
                let values = form.value().as_object().cloned().unwrap_or_default();
                let subject = subject.clone();
                return if resources {
                    Some(self.read(expand_template(&subject, &values)))
                } else {
                    Some(self.get_prompt(subject, values))
                };
            }
            _ => {}
        }
        None
    }

    fn open_resource(&mut self, index: usize) -> Option<PanelOutcome> {
        let catalogue = self.tabs.catalogue.clone();
        if let Some(r) = catalogue.resources.get(index) {
            return Some(self.read(r.uri.clone()));
        }
        let t = catalogue
            .resource_templates
            .get(index - catalogue.resources.len())?;
        let template = t.uri_template.clone();
        if template_params(&template).is_empty() {
            return Some(self.read(template));
        }
        let schema = template_schema(&template);
        self.tabs.resources = Browse::Fill {
            subject: template,
            form: FormState::new(Form::template(&schema)),
        };
        None
    }

    fn open_prompt(&mut self, index: usize) -> Option<PanelOutcome> {
        let prompt = self.tabs.catalogue.prompts.get(index)?.clone();
        if prompt.arguments.as_ref().is_none_or(Vec::is_empty) {
            return Some(self.get_prompt(prompt.name, serde_json::Map::new()));
        }
        let schema = prompt_schema(&prompt);
        self.tabs.prompts = Browse::Fill {
            subject: prompt.name,
            form: FormState::new(Form::template(&schema)),
        };
        None
    }

    fn read(&mut self, uri: String) -> PanelOutcome {
        self.tabs.resources = Browse::Waiting(uri.clone());
        PanelOutcome::Send(Command::ReadResource {
            key: self.key.clone(),
            uri,
            reply: None,
        })
    }

    fn get_prompt(&mut self, name: String, values: serde_json::Map<String, Value>) -> PanelOutcome {
        // Prompt arguments are strings; a field left empty is left out.
        let arguments: serde_json::Map<String, Value> = values
            .into_iter()
            .filter(|(_, v)| v.as_str().is_none_or(|s| !s.is_empty()))
            .collect();
        self.tabs.prompts = Browse::Waiting(name.clone());
        PanelOutcome::Send(Command::GetPrompt {
            key: self.key.clone(),
            name,
            arguments: (!arguments.is_empty()).then_some(arguments),
            reply: None,
        })
    }

    /// Keys no table claims type into the form of a template or prompt.
    pub(super) fn tab_type(&mut self, key: &crossterm::event::KeyEvent) {
        let browse = match self.tabs.tab {
            Tab::Resources => &mut self.tabs.resources,
            Tab::Prompts => &mut self.tabs.prompts,
            _ => return,
        };
        if let Browse::Fill { form, .. } = browse {
            form.key(key);
        }
    }

    pub(super) fn tab_event(&mut self, event: &Event) {
        let tabs = &mut self.tabs;
        match event {
            Event::ToolsListed { key, result: Ok(c) } if *key == self.key => {
                tabs.catalogue = c.clone()
            }
            Event::ResourceRead { key, uri, result } if *key == self.key => {
                if matches!(&tabs.resources, Browse::Waiting(u) if u == uri) {
                    tabs.resources = shown(uri, result.as_ref().map(|r| render_resource(&json(r))));
                }
            }
            Event::PromptGot { key, name, result } if *key == self.key => {
                if matches!(&tabs.prompts, Browse::Waiting(n) if n == name) {
                    tabs.prompts = shown(name, result.as_ref().map(|r| render_prompt(&json(r))));
                }
            }
            Event::Transcript { key, entries } if *key == self.key => {
                let p = &mut tabs.protocol;
                p.entries = entries.iter().cloned().collect();
                p.selected = p.entries.len().saturating_sub(1);
            }
            Event::Protocol { key, entry } if *key == self.key => {
                let p = &mut tabs.protocol;
                // The transcript may already hold it (sent while the transcript was read).
                if p.entries.back().is_some_and(|last| last.seq >= entry.seq) {
                    return;
                }
                p.entries.push_back(entry.clone());
                if p.entries.len() > RING_ENTRIES {
                    p.entries.pop_front();
                    p.selected = p.selected.saturating_sub(1);
                }
                if p.following {
                    p.selected = p.entries.len() - 1;
                }
            }
            _ => {}
        }
    }
}

fn json<T: serde::Serialize>(value: &T) -> Value {
    serde_json::to_value(value).unwrap_or_default()
}

fn shown(title: &str, result: Result<String, &crate::domain::Failure>) -> Browse {
    match result {
        Ok(text) => Browse::Shown {
            title: title.to_string(),
            text,
            failed: false,
            scroll: 0,
        },
        Err(f) => Browse::Shown {
            title: title.to_string(),
            text: f.to_string(),
            failed: true,
            scroll: 0,
        },
    }
}
