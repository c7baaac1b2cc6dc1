//! Drives `switchboard demo` (or `console`) in a private tmux server and reads the screen back.

use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_switchboard");
/// How long a screen change the console has been asked for may take to show.
const SHOWS_WITHIN: Duration = Duration::from_secs(20);

pub struct Tmux {
    socket: String,
}

impl Tmux {
    /// Starts the demo on its own tmux server (named after `tag`, so tests can run at once)
    /// in a `width` × `height` window.
    pub fn demo(tag: &str, data: &Path, width: u16, height: u16) -> Tmux {
        // The key stays in the data directory, not in the keyring of whoever runs the tests.
        let command = format!(
            "env SWITCHBOARD_KEYRING=off {BIN} --data-dir {} demo",
            data.display()
        );
        Tmux::start(tag, &command, width, height)
    }

    /// The demo with more environment (`$BROWSER`, say) and demo arguments.
    // Only some of the test binaries that include this file use it.
    #[allow(dead_code)]
    pub fn demo_with(
        tag: &str,
        data: &Path,
        (width, height): (u16, u16),
        env: &[(&str, &str)],
        args: &[&str],
    ) -> Tmux {
        let env: String = env.iter().map(|(k, v)| format!("{k}='{v}' ")).collect();
        let command = format!(
            "env SWITCHBOARD_KEYRING=off {env}{BIN} --data-dir {} demo {}",
            data.display(),
            args.join(" ")
        );
        Tmux::start(tag, &command, width, height)
    }

    /// Starts the demo in its own temporary directory, made under `tmp` (its `TMPDIR`).
    pub fn demo_in(tag: &str, tmp: &Path, width: u16, height: u16) -> Tmux {
        let command = format!(
            "env SWITCHBOARD_KEYRING=off TMPDIR={} {BIN} demo",
            tmp.display()
        );
        Tmux::start(tag, &command, width, height)
    }

    /// The pid of the program in the pane: the pane's own process, or its child when a shell
    /// runs it.
    pub fn program_pid(&self) -> Option<u32> {
        let out = self.cmd(&["display-message", "-p", "-t", "demo", "#{pane_pid}"]);
        let pane: u32 = String::from_utf8_lossy(&out.stdout).trim().parse().ok()?;
        let comm = std::fs::read_to_string(format!("/proc/{pane}/comm")).unwrap_or_default();
        if comm.trim() == "switchboard" {
            return Some(pane);
        }
        let children =
            std::fs::read_to_string(format!("/proc/{pane}/task/{pane}/children")).ok()?;
        children.split_whitespace().next()?.parse().ok()
    }

    /// Starts the console (no command) on `config`, like `demo`.
    pub fn console(tag: &str, config: &Path, data: &Path, width: u16, height: u16) -> Tmux {
        let command = format!(
            "env SWITCHBOARD_KEYRING=off {BIN} --config {} --data-dir {}",
            config.display(),
            data.display()
        );
        Tmux::start(tag, &command, width, height)
    }

    /// `console` with more environment (a shared database's URL and key, say).
    #[allow(dead_code)]
    pub fn console_with(
        tag: &str,
        config: &Path,
        data: &Path,
        (width, height): (u16, u16),
        env: &[(&str, &str)],
    ) -> Tmux {
        let env: String = env.iter().map(|(k, v)| format!("{k}='{v}' ")).collect();
        let command = format!(
            "env SWITCHBOARD_KEYRING=off {env}{BIN} --config {} --data-dir {}",
            config.display(),
            data.display()
        );
        Tmux::start(tag, &command, width, height)
    }

    fn start(tag: &str, command: &str, width: u16, height: u16) -> Tmux {
        assert!(
            Command::new("tmux")
                .arg("-V")
                .output()
                .is_ok_and(|o| o.status.success()),
            "tmux is required for the end-to-end test; `tests/run` installs it"
        );
        let tmux = Tmux {
            socket: format!("switchboard-e2e-{}-{tag}", std::process::id()),
        };
        let (width, height) = (width.to_string(), height.to_string());
        let started = tmux.cmd(&[
            "new-session",
            "-d",
            "-s",
            "demo",
            "-x",
            &width,
            "-y",
            &height,
            command,
        ]);
        assert!(
            started.status.success(),
            "tmux new-session: {}",
            String::from_utf8_lossy(&started.stderr)
        );
        tmux
    }

    pub fn cmd(&self, args: &[&str]) -> Output {
        Command::new("tmux")
            .arg("-L")
            .arg(&self.socket)
            .args(args)
            .output()
            .expect("tmux runs (tests/run installs it)")
    }

    pub fn screen(&self) -> String {
        String::from_utf8_lossy(&self.cmd(&["capture-pane", "-p", "-t", "demo"]).stdout)
            .into_owned()
    }

    pub fn alive(&self) -> bool {
        self.cmd(&["has-session", "-t", "demo"]).status.success()
    }

    /// Named keys (`Enter`, `C-Right`, `M-Enter`) or single characters.
    pub fn keys(&self, keys: &[&str]) {
        let mut args = vec!["send-keys", "-t", "demo"];
        args.extend_from_slice(keys);
        self.cmd(&args);
    }

    /// Text typed as it is, key by key.
    pub fn type_text(&self, text: &str) {
        self.cmd(&["send-keys", "-t", "demo", "-l", text]);
    }

    /// A paste as a terminal does it: bracketed when the application asked for that.
    pub fn paste(&self, text: &str) {
        self.cmd(&["set-buffer", "-b", "e2e", text]);
        self.cmd(&["paste-buffer", "-p", "-d", "-b", "e2e", "-t", "demo"]);
    }

    /// The terminal cursor, in cells from the top left.
    pub fn cursor(&self) -> (usize, usize) {
        let out = self.cmd(&[
            "display-message",
            "-p",
            "-t",
            "demo",
            "#{cursor_x} #{cursor_y}",
        ]);
        let out = String::from_utf8_lossy(&out.stdout);
        let mut parts = out
            .split_whitespace()
            .map(|n| n.parse().unwrap_or(usize::MAX));
        (
            parts.next().unwrap_or(usize::MAX),
            parts.next().unwrap_or(usize::MAX),
        )
    }

    /// Waits for `needle` on screen and returns that screen.
    pub fn wait_for(&self, needle: &str) -> String {
        self.wait_until(needle, |screen| screen.contains(needle))
    }

    pub fn wait_until(&self, what: &str, done: impl Fn(&str) -> bool) -> String {
        let since = Instant::now();
        let mut screen = String::new();
        while since.elapsed() < SHOWS_WITHIN {
            screen = self.screen();
            if done(&screen) {
                return screen;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("{what} never showed:\n{screen}");
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.cmd(&["kill-server"]);
    }
}
