//! End to end: the operator console against `switchboard demo` in a real terminal (tmux), read
//! off the screen. Filter, sort, a connection's detail, re-authorizing the revoked connection
//! from the console with a scripted `$BROWSER` that approves the lab's consent page (the row
//! turns up), a device-code re-auth whose user code is on screen, a theme switch, the events
//! view, and the help that says where the demo's config and data live.

// Shared with e2e_tmux, which uses the parts this test does not.
#[allow(dead_code)]
#[path = "support/tmux.rs"]
mod tmux;

use std::path::Path;
use std::time::Duration;

use tmux::Tmux;

const DOOMED_ROW: &str = "Lab (grant revoked)";

/// A browser that approves the lab's consent page the way a click does: the page's form posts
/// the authorization request's own parameters back with `decision=approve`.
fn approving_browser(dir: &Path) -> String {
    let path = dir.join("browser.sh");
    std::fs::write(
        &path,
        "#!/bin/sh\n\
         echo \"$1\" >> \"$(dirname \"$0\")/opened\"\n\
         exec curl -s -L --noproxy '*' --max-time 30 -o /dev/null \
           --data \"${1#*\\?}&decision=approve\" \"${1%%\\?*}\"\n",
    )
    .expect("write browser");
    let mut perms = std::fs::metadata(&path).expect("meta").permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o755);
    std::fs::set_permissions(&path, perms).expect("chmod");
    path.display().to_string()
}

fn row<'a>(screen: &'a str, name: &str) -> Option<&'a str> {
    screen.lines().find(|l| l.contains(name))
}

/// The device code in "enter the code XXXX-XXXX".
fn user_code(screen: &str) -> Option<String> {
    let at = screen.find("enter the code ")? + "enter the code ".len();
    let code: String = screen[at..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '-')
        .collect();
    (code.len() >= 4).then_some(code)
}

#[test]
fn the_operator_fixes_the_revoked_connection_from_the_console() {
    let dir = tempfile::tempdir().unwrap();
    let browser = approving_browser(dir.path());
    let data = dir.path().join("data");
    let tmux = Tmux::demo_with(
        "console",
        &data,
        (120, 40),
        &[("BROWSER", &browser)],
        &["--revoke-after", "1s"],
    );
    tmux.wait_until("the revoked grant", |s| {
        row(s, DOOMED_ROW).is_some_and(|l| l.contains("needs re-auth"))
    });

    // Filter to it by its state; the title says how many of the fleet show.
    tmux.keys(&["/"]);
    tmux.type_text("needs re");
    tmux.keys(&["Enter"]);
    let screen = tmux.wait_until("the filtered fleet", |s| {
        s.contains(" connections (1 of ") && s.contains("filter: needs re")
    });
    assert!(row(&screen, "Lab MCP (HTTP)").is_none(), "{screen}");
    assert!(
        row(&screen, DOOMED_ROW).is_some_and(|l| l.contains("a: re-authorize")),
        "{screen}"
    );

    // Its detail: token, windows, charts, its events.
    tmux.keys(&["Enter"]);
    tmux.wait_for("probe latency, last hour");
    tmux.wait_for("recent events");
    tmux.keys(&["Escape"]);
    tmux.wait_for("filter: needs re");

    // Re-authorize in a browser: the scripted one approves the consent page.
    tmux.keys(&["a"]);
    tmux.wait_for("How will you approve the new grant?");
    tmux.keys(&["b"]);
    let screen = tmux.wait_for("authorized; new token expires in");
    assert!(
        screen.contains("/authorize?"),
        "the URL to copy is shown:\n{screen}"
    );
    let opened = std::fs::read_to_string(dir.path().join("opened")).unwrap_or_default();
    assert!(
        opened.contains("/authorize?"),
        "$BROWSER was given the URL: {opened:?}"
    );
    tmux.keys(&["Escape"]);
    // The filter no longer matches it once it is healthy; clear it and find the row up.
    tmux.keys(&["Escape"]);
    tmux.wait_until("the re-authorized row up", |s| {
        row(s, DOOMED_ROW).is_some_and(|l| l.contains("● up"))
    });

    // Sort by health: the title says so.
    tmux.keys(&["s"]);
    tmux.wait_for("sort: health");

    // A device-code re-auth of another connection: the user code is on screen until Esc.
    tmux.keys(&["/"]);
    tmux.type_text("Lab REST");
    tmux.keys(&["Enter"]);
    tmux.wait_until("one REST row", |s| {
        s.contains(" connections (1 of ") && s.contains("filter: Lab REST")
    });
    tmux.keys(&["a"]);
    tmux.wait_for("How will you approve the new grant?");
    tmux.keys(&["d"]);
    let screen = tmux.wait_until("a user code", |s| user_code(s).is_some());
    let code = user_code(&screen).expect("code");
    assert!(screen.contains("/device"), "{screen}");
    assert!(
        screen.contains("waiting for the code to be entered"),
        "{screen}"
    );
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(
        user_code(&tmux.screen()).as_deref(),
        Some(code.as_str()),
        "the code stays"
    );
    tmux.keys(&["Escape"]);
    tmux.wait_for("re-authorization cancelled");
    tmux.keys(&["Escape"]);

    // Switch theme from command mode, with completion.
    tmux.keys(&[":"]);
    tmux.type_text("theme mo");
    tmux.keys(&["Tab"]);
    tmux.wait_for(":theme mono");
    tmux.keys(&["Enter"]);
    tmux.wait_for("theme mono");

    // The events view follows the log; filtered, it shows the console's re-authorization.
    tmux.keys(&["e"]);
    let screen = tmux.wait_for("events (");
    assert!(screen.contains("following"), "{screen}");
    tmux.keys(&["/"]);
    tmux.type_text("lab-doomed");
    tmux.keys(&["Enter"]);
    tmux.wait_until("the re-authorization in the log", |s| {
        s.lines()
            .any(|l| l.contains("lab-doomed") && l.contains(" auth ") && l.contains("console"))
    });
    // Enter on a line jumps to its connection in the fleet.
    tmux.keys(&["Enter"]);
    tmux.wait_until("the fleet with lab-doomed selected", |s| {
        s.lines().any(|l| l.contains('▶') && l.contains(DOOMED_ROW))
    });

    // Help says where this demo's config and data live, as lines that work when pasted.
    tmux.keys(&["?"]);
    let screen = tmux.wait_for("export SWITCHBOARD_DATA_DIR=");
    assert!(screen.contains("export SWITCHBOARD_CONFIG="), "{screen}");
    tmux.keys(&["Escape"]);
    tmux.keys(&["q"]);
    let quit = std::time::Instant::now();
    while tmux.alive() && quit.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(!tmux.alive(), "the console did not exit on q");
}
