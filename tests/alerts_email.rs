//! Email alerts through the real binary to a local SMTP sink (aiosmtpd from PyPI, pinned in
//! tests/peers/smtp/requirements.txt and installed by tests/run): `alerts test` and the daemon
//! deliver to it; with STARTTLS required (the default) a server that does not offer it gets
//! nothing, the password least of all.

#[path = "support/alerts.rs"]
mod alerts;
#[path = "support/cli.rs"]
mod cli;
mod support;

use std::time::Duration;

use alerts::{free_port, until};
use cli::{KillOnDrop, Session};

const GUARD: Duration = Duration::from_secs(60);

/// A connector that is down at once: nothing listens where it points.
fn dead_connector() -> String {
    format!(
        "[[connectors]]\nid = \"dead\"\nkind = \"rest\"\n[connectors.rest]\nbase_url = \"http://127.0.0.1:{}\"\n[connectors.schedule]\nprobe = \"1s\"\n[connectors.health]\ndown_after = 1\n",
        free_port()
    )
}

fn blocking<T>(f: impl FnOnce() -> T) -> T {
    tokio::task::block_in_place(f)
}

/// `python -m aiosmtpd` writing every message into a maildir.
struct Sink {
    _child: KillOnDrop,
    port: u16,
    maildir: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

fn smtp_sink() -> Sink {
    let python =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/peers/smtp/.venv/bin/python");
    assert!(
        python.exists(),
        "{} is missing: run tests/run, which installs aiosmtpd (tests/peers/smtp/requirements.txt) there",
        python.display()
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let maildir = dir.path().join("mail");
    let port = free_port();
    let child = std::process::Command::new(python)
        .args([
            "-m",
            "aiosmtpd",
            "-n",
            "-l",
            &format!("127.0.0.1:{port}"),
            "-c",
            "aiosmtpd.handlers.Mailbox",
        ])
        .arg(&maildir)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("start aiosmtpd");
    let child = KillOnDrop(child);
    let start = std::time::Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "aiosmtpd did not listen"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    Sink {
        _child: child,
        port,
        maildir,
        _dir: dir,
    }
}

fn mails(maildir: &std::path::Path) -> Vec<String> {
    std::fs::read_dir(maildir.join("new"))
        .map(|d| {
            d.filter_map(Result::ok)
                .filter_map(|e| std::fs::read_to_string(e.path()).ok())
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn email_reaches_a_local_smtp_sink_from_alerts_test_and_from_the_daemon() {
    let sink = blocking(smtp_sink);
    let config = format!(
        "{}
[[alerts]]
name = \"mail\"
kind = \"email\"
smtp_host = \"127.0.0.1\"
smtp_port = {}
smtp_tls = \"none\"
from = \"switchboard <switchboard@example.com>\"
to = [\"oncall@example.com\"]
min_duration = \"0s\"
retry_initial = \"200ms\"
retry_max = \"1s\"
",
        dead_connector(),
        sink.port
    );
    let mut s = Session::new(&config);
    let out = blocking(|| s.expect(&["alerts", "test", "mail"], 0)).stdout;
    assert!(
        out.contains("delivered") && out.contains("(status 250)"),
        "{out}"
    );
    let got = mails(&sink.maildir);
    assert_eq!(got.len(), 1);
    assert!(
        got[0].contains("Subject: [switchboard] switchboard test alert"),
        "{}",
        got[0]
    );
    assert!(got[0].contains("To: oncall@example.com"), "{}", got[0]);

    let (mut cmd, _, _) = s.command(&["daemon"]);
    let _d = KillOnDrop(cmd.spawn().expect("daemon"));
    until("the daemon's email about the dead connector", GUARD, || {
        mails(&sink.maildir)
            .iter()
            .any(|m| m.contains("dead is down since"))
    })
    .await;
    let mail = mails(&sink.maildir)
        .into_iter()
        .find(|m| m.contains("dead is down"))
        .unwrap_or_default();
    assert!(mail.contains("fix: switchboard probe dead"), "{mail}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn starttls_required_sends_nothing_to_a_server_without_it() {
    let sink = blocking(smtp_sink);
    let password = "smtp-pa55word-never-in-clear";
    let config = format!(
        "[[alerts]]
name = \"mail\"
kind = \"email\"
smtp_host = \"127.0.0.1\"
smtp_port = {}
username = \"switchboard\"
password = \"${{SMTP_PASSWORD}}\"
from = \"switchboard@example.com\"
to = [\"oncall@example.com\"]
",
        sink.port
    );
    let mut s = Session::new(&config);
    s.env.push(("SMTP_PASSWORD".into(), password.into()));
    let run = blocking(|| s.expect(&["alerts", "test", "mail"], 1));
    assert!(run.stdout.contains("NOT delivered"), "{run}");
    assert!(
        run.stdout
            .contains("check smtp_host, smtp_port and smtp_tls"),
        "{run}"
    );
    assert!(
        !run.stdout.contains(password) && !run.stderr.contains(password),
        "{run}"
    );
    assert!(mails(&sink.maildir).is_empty());
}
