//! The one-shot's side of `status`: ask a daemon on the same data directory (`serve.rs`) and
//! print its answer, or say nothing and let `status` read the store itself.

use std::path::Path;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::UnixStream;

use super::serve::{Answer, Format, PROTOCOL, Request};

/// The answer line holds `--check`'s list of connections: at 30,000 all down, about a megabyte.
const ANSWER_CAP: u64 = 8 * 1024 * 1024;
/// The body: 30,000 connections in indented JSON are about 75 MB.
const BODY_CAP: u64 = 1024 * 1024 * 1024;
/// A daemon renders 10,000 connections in tens of milliseconds; one that takes longer than this
/// to start answering is stuck or starved, and the store is read instead.
const ANSWER_WAIT: Duration = Duration::from_secs(3);
const BODY_WAIT: Duration = Duration::from_secs(30);

/// What the daemon printed for us: `--check`'s code and reason, and the body.
pub(super) struct Answered {
    pub code: i32,
    pub check: String,
    pub body: Vec<u8>,
}

/// The daemon's answer, or `None` when there is no daemon on `data_dir` or it will not answer
/// for the config at `config` (said on stderr when a daemon is there but refused or failed: the operator
/// learns why `status` took the slow way, e.g. that the daemon runs an older config).
pub(super) async fn ask(
    data_dir: &Path,
    config: &Path,
    format: Format,
    check: bool,
) -> Option<Answered> {
    let path = super::serve::socket_path(data_dir);
    // With no daemon the config is read once, by the store's path, not here as well.
    if !path.exists() {
        return None;
    }
    // An unreadable config is for the store's path to report, with its usual words.
    let text = std::fs::read_to_string(config).ok()?;
    let fingerprint = crate::config::fingerprint(&text, &|name| std::env::var(name).ok())?;
    // A socket nobody listens on (a daemon killed with -9) refuses at once.
    let stream = UnixStream::connect(&path).await.ok()?;
    let request = Request {
        v: PROTOCOL,
        version: env!("CARGO_PKG_VERSION").to_owned(),
        config: fingerprint,
        format,
        check,
    };
    match exchange(stream, &request).await {
        Ok(answered) => Some(answered),
        Err(why) => {
            eprintln!(
                "switchboard status: the daemon at {} did not answer ({why}); reading the store instead",
                path.display()
            );
            None
        }
    }
}

async fn exchange(stream: UnixStream, request: &Request) -> Result<Answered, String> {
    let (read, mut write) = stream.into_split();
    let mut line = serde_json::to_vec(request).map_err(|e| e.to_string())?;
    line.push(b'\n');
    let mut reader = BufReader::new(read);
    let answer = async {
        write.write_all(&line).await?;
        let mut head = Vec::new();
        (&mut reader)
            .take(ANSWER_CAP)
            .read_until(b'\n', &mut head)
            .await?;
        Ok::<_, std::io::Error>(head)
    };
    let head = tokio::time::timeout(ANSWER_WAIT, answer)
        .await
        .map_err(|_| format!("nothing in {} s", ANSWER_WAIT.as_secs()))?
        .map_err(|e| e.to_string())?;
    if head.last() != Some(&b'\n') {
        return Err("its answer was cut short or too long".into());
    }
    let answer: Answer =
        serde_json::from_slice(&head).map_err(|e| format!("not an answer: {e}"))?;
    if !answer.ok {
        return Err(answer
            .refused
            .map(|why| crate::text::printable(&why, false))
            .unwrap_or_else(|| "refused without a reason".into()));
    }
    if answer.body > BODY_CAP {
        return Err(format!("it offered {} bytes", answer.body));
    }
    let mut body = Vec::with_capacity(usize::try_from(answer.body).unwrap_or(0));
    let mut limited = (&mut reader).take(answer.body);
    tokio::time::timeout(BODY_WAIT, limited.read_to_end(&mut body))
        .await
        .map_err(|_| format!("its answer took over {} s", BODY_WAIT.as_secs()))?
        .map_err(|e| e.to_string())?;
    if body.len() as u64 != answer.body {
        return Err(format!(
            "it stopped after {} of {} bytes",
            body.len(),
            answer.body
        ));
    }
    Ok(Answered {
        code: answer.code,
        check: crate::text::printable(&answer.check, false),
        body,
    })
}

#[cfg(test)]
mod tests {
    //! `status` against daemons that misbehave: whatever the socket says, `ask` either returns
    //! the whole promised body or `None` (and `status` reads the store), within its bounds.

    use std::path::Path;

    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
    use tokio::net::UnixListener;

    use super::{Answered, Format, ask};

    const CONFIG: &str = "[[connectors]]\nid = \"a\"\n";

    /// The config a test's `status` names, written beside the socket.
    fn config(dir: &Path) -> std::path::PathBuf {
        let path = dir.join("config.toml");
        std::fs::write(&path, CONFIG).expect("config");
        path
    }

    /// A daemon that reads the request line, then answers with `reply`'s bytes.
    async fn daemon(dir: &Path, reply: Vec<u8>) -> tokio::task::JoinHandle<String> {
        let listener = UnixListener::bind(dir.join(super::super::serve::SOCKET)).expect("bind");
        tokio::spawn(async move {
            let (stream, _) = listener.accept().await.expect("accept");
            let (read, mut write) = stream.into_split();
            let mut line = String::new();
            BufReader::new(read)
                .read_line(&mut line)
                .await
                .expect("request");
            let _ = write.write_all(&reply).await;
            let _ = write.shutdown().await;
            line
        })
    }

    async fn asked(reply: Vec<u8>) -> (Option<Answered>, serde_json::Value) {
        let dir = tempfile::tempdir().expect("tempdir");
        let served = daemon(dir.path(), reply).await;
        let answered = ask(dir.path(), &config(dir.path()), Format::Json, true).await;
        let request = served.await.expect("served");
        (
            answered,
            serde_json::from_str(&request).expect("a JSON request"),
        )
    }

    #[tokio::test]
    async fn a_whole_answer_is_taken_with_its_check() {
        let reply =
            b"{\"ok\":true,\"code\":1,\"check\":\"a/default down\",\"body\":3}\n[1]".to_vec();
        let (answered, request) = asked(reply).await;
        let answered = answered.expect("answered");
        assert_eq!(answered.body, b"[1]");
        assert_eq!(
            (answered.code, answered.check.as_str()),
            (1, "a/default down")
        );
        // The request names this config by its fingerprint, never by its text.
        let expected = crate::config::fingerprint(CONFIG, &|n| std::env::var(n).ok());
        assert_eq!(request["config"].as_str(), expected.as_deref());
        assert_eq!(request["format"], "json");
        assert_eq!(request["check"], true);
    }

    #[tokio::test]
    async fn anything_short_of_a_whole_answer_is_none() {
        let replies: [&[u8]; 6] = [
            b"",
            b"garbage\n",
            b"{\"ok\":false,\"refused\":\"the daemon runs another config\"}\n",
            // Fewer bytes than promised: the daemon died mid-answer.
            b"{\"ok\":true,\"body\":100}\n[1,2",
            // A body over the cap is not read at all.
            b"{\"ok\":true,\"body\":99999999999999}\n",
            // An answer line with no end.
            b"{\"ok\":true,",
        ];
        for reply in replies {
            let (answered, _) = asked(reply.to_vec()).await;
            assert!(
                answered.is_none(),
                "{:?} was taken",
                String::from_utf8_lossy(reply)
            );
        }
        // An endless answer line stops at its cap.
        let mut endless = vec![b'x'; (super::ANSWER_CAP + 10) as usize];
        endless.push(b'\n');
        assert!(asked(endless).await.0.is_none());
    }

    #[tokio::test]
    async fn a_daemon_that_never_answers_is_given_up_on() {
        let dir = tempfile::tempdir().expect("tempdir");
        let listener =
            UnixListener::bind(dir.path().join(super::super::serve::SOCKET)).expect("bind");
        // Accepts and holds the connection open without a word.
        let held = tokio::spawn(async move { listener.accept().await.map(|(s, _)| s) });
        assert!(
            ask(dir.path(), &config(dir.path()), Format::Table, false)
                .await
                .is_none()
        );
        drop(held);
    }

    #[tokio::test]
    async fn no_socket_or_a_dead_one_is_none_at_once() {
        let dir = tempfile::tempdir().expect("tempdir");
        assert!(
            ask(dir.path(), &config(dir.path()), Format::Json, false)
                .await
                .is_none()
        );
        // A socket file left by a daemon killed with -9: nobody listens.
        drop(UnixListener::bind(dir.path().join(super::super::serve::SOCKET)).expect("bind"));
        assert!(
            ask(dir.path(), &config(dir.path()), Format::Json, false)
                .await
                .is_none()
        );
    }
}
