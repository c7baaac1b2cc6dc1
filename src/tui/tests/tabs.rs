//! The MCP panel's resources, prompts and protocol tabs: their keys, the commands they send,
//! the engine events they show, and how each looks at 120×40 and 80×24.

use std::sync::Arc;

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use rmcp::model::{
    GetPromptResult, Prompt, PromptArgument, ReadResourceResult, Resource, ResourceTemplate,
};
use serde_json::json;

use super::fixtures::{NOW, fleet, key, snapshot};
use super::tools::{add_tool, press, typed};
use crate::domain::{ErrorClass, Failure};
use crate::engine::{Command, Event};
use crate::toolkit::Catalogue;
use crate::toolkit::transcript::{Direction, Entry};
use crate::tui::app::{Action, App};
use crate::tui::panel_keys::PanelIntent;
use crate::tui::theme::Theme;
use crate::tui::tools_panel::{Browse, Tab, ToolPanel, tab_keys};
use crate::tui::view;

fn from<T: serde::de::DeserializeOwned>(value: serde_json::Value) -> T {
    serde_json::from_value(value).expect("a valid MCP value")
}

fn catalogue() -> Catalogue {
    let resource: Resource = from(json!({
        "uri": "demo://resource/static/document/architecture.md", "name": "architecture.md"
    }));
    let template: ResourceTemplate = from(json!({
        "uriTemplate": "demo://resource/dynamic/text/{resourceId}",
        "name": "Dynamic Text Resource"
    }));
    let mut city = PromptArgument::new("city");
    city.description = Some("Name of the city".into());
    city.required = Some(true);
    let state = PromptArgument::new("state");
    let prompts = vec![
        Prompt::new("simple-prompt", Some("A prompt with no arguments"), None),
        Prompt::new(
            "args-prompt",
            Some("A prompt with two arguments"),
            Some(vec![city, state]),
        ),
    ];
    Catalogue {
        tools: vec![add_tool()],
        resources: vec![resource],
        resource_templates: vec![template],
        prompts,
        ..Catalogue::default()
    }
}

/// The panel open with the catalogue listed, on `tab`.
fn on_tab(tab: Tab) -> App {
    let mut app = App::new(snapshot(fleet()));
    press(&mut app, KeyCode::Char('t'));
    app.on_event(
        &Event::ToolsListed {
            key: key("github", "alice"),
            result: Ok(Arc::new(catalogue())),
        },
        NOW,
    );
    while panel(&app).tabs.tab != tab {
        press(&mut app, KeyCode::Tab);
    }
    app
}

fn panel(app: &App) -> &ToolPanel {
    app.tool_panel().expect("panel open")
}

fn sent(action: Option<Action>) -> Command {
    match action {
        Some(Action::Send(c)) => c,
        other => panic!("expected a command, got {other:?}"),
    }
}

fn resource_read(uri: &str, text: &str) -> Event {
    Event::ResourceRead {
        key: key("github", "alice"),
        uri: uri.into(),
        result: Ok(Arc::new(from::<ReadResourceResult>(json!({
            "contents": [{"uri": uri, "text": text}]
        })))),
    }
}

#[test]
fn a_resource_is_read_and_a_template_is_filled_in_first() {
    let mut app = on_tab(Tab::Resources);
    let uri = "demo://resource/static/document/architecture.md";
    match sent(press(&mut app, KeyCode::Enter)) {
        Command::ReadResource { uri: u, key: k, .. } => {
            assert_eq!((u.as_str(), k), (uri, key("github", "alice")))
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(&panel(&app).tabs.resources, Browse::Waiting(u) if u == uri));
    // Another connection's answer, or another URI's, is not this one.
    app.on_event(&resource_read("demo://other", "no"), NOW);
    assert!(matches!(&panel(&app).tabs.resources, Browse::Waiting(_)));
    app.on_event(&resource_read(uri, "# Architecture"), NOW);
    match &panel(&app).tabs.resources {
        Browse::Shown { text, failed, .. } => {
            assert!(!failed);
            assert!(text.contains("# Architecture"), "{text}");
        }
        other => panic!("{other:?}"),
    }
    press(&mut app, KeyCode::Esc);
    assert!(matches!(panel(&app).tabs.resources, Browse::List));

    press(&mut app, KeyCode::Down);
    assert!(press(&mut app, KeyCode::Enter).is_none());
    assert!(matches!(panel(&app).tabs.resources, Browse::Fill { .. }));
    // A required parameter left empty is not sent; a value with a slash cannot add a segment.
    typed(&mut app, "7/8");
    match sent(press(&mut app, KeyCode::Enter)) {
        Command::ReadResource { uri, .. } => {
            assert_eq!(uri, "demo://resource/dynamic/text/7%2F8")
        }
        other => panic!("{other:?}"),
    }
    let failed = Event::ResourceRead {
        key: key("github", "alice"),
        uri: "demo://resource/dynamic/text/7%2F8".into(),
        result: Err(Failure::new(ErrorClass::Protocol, "Resource not found")),
    };
    app.on_event(&failed, NOW);
    assert!(matches!(
        &panel(&app).tabs.resources,
        Browse::Shown { failed: true, .. }
    ));
}

#[test]
fn a_prompt_without_arguments_is_got_at_once_and_one_with_them_after_the_form() {
    let mut app = on_tab(Tab::Prompts);
    match sent(press(&mut app, KeyCode::Enter)) {
        Command::GetPrompt {
            name, arguments, ..
        } => assert_eq!((name.as_str(), arguments), ("simple-prompt", None)),
        other => panic!("{other:?}"),
    }
    press(&mut app, KeyCode::Esc);
    press(&mut app, KeyCode::Down);
    press(&mut app, KeyCode::Enter);
    // The required city is empty: Enter does not send until it is filled.
    assert!(press(&mut app, KeyCode::Enter).is_none());
    typed(&mut app, "Paris");
    match sent(press(&mut app, KeyCode::Enter)) {
        Command::GetPrompt {
            name, arguments, ..
        } => {
            assert_eq!(name, "args-prompt");
            // The optional state, left empty, is left out.
            assert_eq!(arguments, json!({"city": "Paris"}).as_object().cloned());
        }
        other => panic!("{other:?}"),
    }
    let got: GetPromptResult = from(json!({"messages": [
        {"role": "user", "content": {"type": "text", "text": "What's weather in Paris?"}}
    ]}));
    app.on_event(
        &Event::PromptGot {
            key: key("github", "alice"),
            name: "args-prompt".into(),
            result: Ok(Arc::new(got)),
        },
        NOW,
    );
    match &panel(&app).tabs.prompts {
        Browse::Shown { text, .. } => assert_eq!(text, "user: What's weather in Paris?\n"),
        other => panic!("{other:?}"),
    }
}

fn entry(seq: u64, direction: Direction, message: serde_json::Value) -> Entry {
    Entry::new(seq, NOW + seq as i64 * 7, direction, &message)
}

fn transcript() -> Vec<Entry> {
    vec![
        entry(
            1,
            Direction::Sent,
            json!({"jsonrpc": "2.0", "id": 0, "method": "initialize",
            "params": {"protocolVersion": "2025-11-25", "capabilities": {},
                       "clientInfo": {"name": "switchboard", "version": "0.1.0"}}}),
        ),
        entry(
            2,
            Direction::Received,
            json!({"jsonrpc": "2.0", "id": 0, "result": {
            "protocolVersion": "2025-11-25", "capabilities": {"tools": {}},
            "serverInfo": {"name": "everything", "version": "1"}}}),
        ),
        entry(
            3,
            Direction::Sent,
            json!({"jsonrpc": "2.0", "method": "notifications/initialized"}),
        ),
    ]
}

#[test]
fn the_protocol_tab_loads_follows_and_stops_following_on_close() {
    let mut app = on_tab(Tab::Prompts);
    // The log tab reads the transcript too: the first of them asks for it, once.
    let action = press(&mut app, KeyCode::Tab);
    assert_eq!(panel(&app).tabs.tab, Tab::Log);
    assert!(matches!(
        sent(action),
        Command::Transcript { follow: true, .. }
    ));
    assert!(press(&mut app, KeyCode::Tab).is_none());
    assert_eq!(panel(&app).tabs.tab, Tab::Protocol);
    app.on_event(
        &Event::Transcript {
            key: key("github", "alice"),
            entries: Arc::new(transcript()),
        },
        NOW,
    );
    let p = &panel(&app).tabs.protocol;
    assert_eq!((p.entries.len(), p.selected), (3, 2));
    // Live messages follow; one the transcript already had is not shown twice.
    let live = |seq| Event::Protocol {
        key: key("github", "alice"),
        entry: entry(
            seq,
            Direction::Sent,
            json!({"jsonrpc": "2.0", "id": seq, "method": "ping"}),
        ),
    };
    app.on_event(&live(3), NOW);
    app.on_event(&live(4), NOW);
    assert_eq!(panel(&app).tabs.protocol.entries.len(), 4);
    assert_eq!(panel(&app).tabs.protocol.selected, 3);
    // Looking back stops following; the next message does not move the selection.
    press(&mut app, KeyCode::Up);
    app.on_event(&live(5), NOW);
    assert_eq!(panel(&app).tabs.protocol.selected, 2);
    press(&mut app, KeyCode::Enter);
    assert!(panel(&app).tabs.protocol.expanded);
    // Tab back round to tools does not ask again; closing tells the engine to stop.
    press(&mut app, KeyCode::Tab);
    assert_eq!(panel(&app).tabs.tab, Tab::Tools);
    assert!(matches!(
        sent(press(&mut app, KeyCode::Esc)),
        Command::Transcript { follow: false, .. }
    ));
    assert!(app.tool_panel().is_none());
}

#[test]
fn every_key_of_the_tab_tables_does_what_they_say() {
    for table in [tab_keys::BROWSE, tab_keys::PROTOCOL] {
        for binding in table {
            for &(code, m) in binding.keys {
                let tab = if std::ptr::eq(table, tab_keys::BROWSE) {
                    Tab::Prompts
                } else {
                    Tab::Protocol
                };
                let mut app = on_tab(tab);
                app.on_event(
                    &Event::Transcript {
                        key: key("github", "alice"),
                        entries: Arc::new(transcript()),
                    },
                    NOW,
                );
                press(&mut app, KeyCode::Up);
                let action = app.handle_key(KeyEvent::new(code, m), NOW);
                let what = format!("{tab:?}: {} should {:?}", binding.label, binding.intent);
                let Some(p) = app.tool_panel() else {
                    assert_eq!(binding.intent, PanelIntent::Close, "{what}");
                    continue;
                };
                match (binding.intent, tab) {
                    (PanelIntent::Up, Tab::Prompts) => {
                        assert_eq!(p.tabs.prompt_selected, 0, "{what}")
                    }
                    (PanelIntent::Down, Tab::Prompts) => {
                        assert_eq!(p.tabs.prompt_selected, 1, "{what}")
                    }
                    (PanelIntent::Up, _) => assert_eq!(p.tabs.protocol.selected, 0, "{what}"),
                    (PanelIntent::Down, _) => assert_eq!(p.tabs.protocol.selected, 2, "{what}"),
                    (PanelIntent::Arguments, _) => assert!(
                        matches!(action, Some(Action::Send(Command::GetPrompt { .. }))),
                        "{what}"
                    ),
                    (PanelIntent::Expand, _) => assert!(p.tabs.protocol.expanded, "{what}"),
                    (PanelIntent::NextTab, _) => assert_ne!(p.tabs.tab, tab, "{what}"),
                    (PanelIntent::PrevTab, _) => assert_ne!(p.tabs.tab, tab, "{what}"),
                    (PanelIntent::Help, _) => assert!(p.help_visible(), "{what}"),
                    (other, _) => panic!("{what}: unchecked {other:?}"),
                }
            }
        }
    }
    for binding in tab_keys::FILL.iter().chain(tab_keys::SHOWN) {
        for &(code, m) in binding.keys {
            let mut app = on_tab(Tab::Prompts);
            press(&mut app, KeyCode::Down);
            press(&mut app, KeyCode::Enter);
            typed(&mut app, "Paris");
            let shown = std::ptr::eq(binding, &tab_keys::SHOWN[0])
                || tab_keys::SHOWN.iter().any(|b| std::ptr::eq(b, binding));
            if shown {
                press(&mut app, KeyCode::Enter);
            }
            let action = app.handle_key(KeyEvent::new(code, m), NOW);
            let what = format!("{} should {:?}", binding.label, binding.intent);
            let p = &panel(&app).tabs.prompts;
            match (binding.intent, p) {
                (PanelIntent::Call, Browse::Waiting(_)) => {
                    assert!(
                        matches!(action, Some(Action::Send(Command::GetPrompt { .. }))),
                        "{what}"
                    )
                }
                (PanelIntent::Up | PanelIntent::Down, Browse::Fill { .. } | Browse::Waiting(_)) => {
                }
                (PanelIntent::Back, Browse::List) => {}
                (intent, stage) => panic!("{what}: {intent:?} left {stage:?}"),
            }
        }
    }
}

fn draw(app: &App, width: u16, height: u16) -> Terminal<TestBackend> {
    let mut terminal = Terminal::new(TestBackend::new(width, height)).expect("backend");
    let theme = Theme::builtin_default();
    terminal
        .draw(|f| view::render(f, app, &theme, NOW))
        .expect("draw");
    terminal
}

#[test]
fn each_tab_at_120x40_and_80x24() {
    let resources = on_tab(Tab::Resources);
    insta::assert_snapshot!("resources_120x40", draw(&resources, 120, 40).backend());
    insta::assert_snapshot!("resources_80x24", draw(&resources, 80, 24).backend());

    let mut read = on_tab(Tab::Resources);
    press(&mut read, KeyCode::Enter);
    read.on_event(
        &resource_read(
            "demo://resource/static/document/architecture.md",
            "# Architecture\n\nThe engine is the one door.\u{1b}[31m",
        ),
        NOW,
    );
    insta::assert_snapshot!("resource_read_80x24", draw(&read, 80, 24).backend());

    let mut prompts = on_tab(Tab::Prompts);
    press(&mut prompts, KeyCode::Down);
    insta::assert_snapshot!("prompts_120x40", draw(&prompts, 120, 40).backend());
    press(&mut prompts, KeyCode::Enter);
    typed(&mut prompts, "Paris");
    insta::assert_snapshot!("prompt_arguments_80x24", draw(&prompts, 80, 24).backend());

    let mut protocol = on_tab(Tab::Protocol);
    protocol.on_event(
        &Event::Transcript {
            key: key("github", "alice"),
            entries: Arc::new(transcript()),
        },
        NOW,
    );
    press(&mut protocol, KeyCode::Up);
    insta::assert_snapshot!("protocol_120x40", draw(&protocol, 120, 40).backend());
    insta::assert_snapshot!("protocol_80x24", draw(&protocol, 80, 24).backend());
    let _ = KeyModifiers::NONE;
}

#[test]
fn the_log_tab_shows_the_servers_messages_and_sets_its_level() {
    let mut app = on_tab(Tab::Log);
    let log = |seq, level: &str, data: &str| Event::Protocol {
        key: key("github", "alice"),
        entry: entry(
            seq,
            Direction::Received,
            json!({"jsonrpc": "2.0", "method": "notifications/message",
                   "params": {"level": level, "logger": "db", "data": data}}),
        ),
    };
    app.on_event(
        &Event::Transcript {
            key: key("github", "alice"),
            entries: Arc::new(transcript()),
        },
        NOW,
    );
    app.on_event(&log(4, "info", "connected"), NOW);
    app.on_event(&log(5, "error", "query failed: Bearer abc123"), NOW);
    // → from "not set" asks for info, then warning; ← goes back down.
    let level = |action: Option<Action>| match sent(action) {
        Command::SetLogLevel { level, key: k } => {
            assert_eq!(k, key("github", "alice"));
            level
        }
        other => panic!("{other:?}"),
    };
    assert_eq!(level(press(&mut app, KeyCode::Right)), "info");
    assert_eq!(level(press(&mut app, KeyCode::Right)), "notice");
    assert_eq!(level(press(&mut app, KeyCode::Left)), "info");
    let screen = draw(&app, 80, 24);
    insta::assert_snapshot!("log_80x24", screen.backend());
    let text: String = screen
        .backend()
        .buffer()
        .content
        .iter()
        .map(|c| c.symbol())
        .collect();
    assert!(
        text.contains("db: query failed: Bearer ‹redacted›"),
        "{text}"
    );
    assert!(!text.contains("abc123"), "{text}");
}
