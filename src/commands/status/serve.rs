//! The daemon's side of `status`: a Unix socket in the data directory where a one-shot
//! `status` asks for the fleet the daemon already holds, instead of parsing the config and
//! replaying the store itself (at 10,000 connections that was 0.2–0.3 s of CPU on a machine
//! the daemon shares; the daemon's answer is one render of the snapshot it keeps anyway).
//!
//! The socket is as private as the data directory (0700, and the socket 0600): the answer
//! holds what `status` prints, never a secret. One request line, one answer line, the body:
//!
//! ```text
//! → {"v":1,"version":"0.1.0","config":"<fingerprint>","format":"json","check":false}
//! ← {"ok":true,"code":0,"check":"","body":9123456}
//! ← <body bytes>
//! ```
//!
//! The daemon answers only a client of its own version whose config and environment
//! fingerprint (`config::fingerprint`) is its own; anything else is refused with why, and the
//! client reads the store itself.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};
use tokio::task::JoinHandle;

use crate::engine::EngineHandle;
use crate::engine::open::Workspace;

pub(super) const PROTOCOL: u32 = 1;
/// The socket's name in the data directory.
pub const SOCKET: &str = "status.sock";
/// A request is one short line; anything longer is not a client of ours.
const REQUEST_CAP: u64 = 4 * 1024;
/// How long a client may take to send its request, and to read the answer.
const REQUEST_WAIT: Duration = Duration::from_secs(2);
const ANSWER_WAIT: Duration = Duration::from_secs(30);
/// Renders at once; more clients than this are told to read the store themselves.
const AT_ONCE: usize = 4;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub(super) enum Format {
    Table,
    Json,
    JsonPretty,
}

#[derive(Debug, Serialize, Deserialize)]
pub(super) struct Request {
    pub v: u32,
    pub version: String,
    pub config: String,
    pub format: Format,
    pub check: bool,
}

#[derive(Debug, Default, Serialize, Deserialize)]
pub(super) struct Answer {
    pub ok: bool,
    /// Why the daemon did not answer (`ok` false).
    #[serde(default)]
    pub refused: Option<String>,
    /// `--check`'s exit code and the connections that decided it.
    #[serde(default)]
    pub code: i32,
    #[serde(default)]
    pub check: String,
    /// The body's length in bytes, which follows the answer line.
    #[serde(default)]
    pub body: u64,
}

/// The socket while the daemon answers on it; dropping it stops answering and removes the
/// socket file.
pub struct Answering {
    path: PathBuf,
    /// The socket file's device and inode as bound, so that only ours is removed.
    bound: Option<(u64, u64)>,
    task: JoinHandle<()>,
}

fn identity(path: &Path) -> Option<(u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    std::fs::symlink_metadata(path)
        .ok()
        .map(|m| (m.dev(), m.ino()))
}

impl Drop for Answering {
    fn drop(&mut self) {
        self.task.abort();
        // Another daemon takes the name only once ours stops answering (a stall long enough
        // to look dead, say): its socket is not ours to remove.
        if self.bound.is_some() && identity(&self.path) == self.bound {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// Starts answering `status` on the data directory's socket. `None` (logged) when the daemon
/// cannot: no fingerprint, a path too long for a socket, or another live daemon answering
/// there already. `status` then reads the store itself, as it does with no daemon.
pub async fn answer(
    workspace: Arc<Workspace>,
    handle: EngineHandle,
    fingerprint: Option<String>,
) -> Option<Answering> {
    let Some(fingerprint) = fingerprint else {
        tracing::info!(
            "status is not answered by this daemon: its config spells a character with an escape, so a client cannot tell it loaded the same config"
        );
        return None;
    };
    let path = socket_path(workspace.data_dir());
    if path.exists() {
        if UnixStream::connect(&path).await.is_ok() {
            tracing::info!(
                "another daemon answers status at {}; this one does not",
                path.display()
            );
            return None;
        }
        use std::os::unix::fs::FileTypeExt;
        let is_socket = std::fs::symlink_metadata(&path).is_ok_and(|m| m.file_type().is_socket());
        if !is_socket {
            tracing::warn!(
                "{} is not a socket; status is not answered by this daemon until it is moved away",
                path.display()
            );
            return None;
        }
        // Left by a daemon that did not stop cleanly.
        let _ = std::fs::remove_file(&path);
    }
    let listener = match UnixListener::bind(&path) {
        Ok(l) => l,
        Err(e) => {
            tracing::warn!(
                "cannot answer status at {}: {e}; `status` reads the store itself (slower at scale)",
                path.display()
            );
            return None;
        }
    };
    {
        use std::os::unix::fs::PermissionsExt;
        if let Err(e) = std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)) {
            tracing::warn!("cannot make {} private: {e}", path.display());
        }
    }
    tracing::debug!("answering status at {}", path.display());
    let bound = identity(&path);
    let shared = Arc::new(Shared {
        workspace,
        handle,
        fingerprint,
        at_once: tokio::sync::Semaphore::new(AT_ONCE),
    });
    let task = tokio::spawn(async move {
        loop {
            let stream = match listener.accept().await {
                Ok((stream, _)) => stream,
                Err(e) => {
                    tracing::debug!("accepting a status client: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            };
            let shared = shared.clone();
            tokio::spawn(async move {
                if let Err(e) = one(stream, &shared).await {
                    tracing::debug!("a status client: {e}");
                }
            });
        }
    });
    Some(Answering { path, bound, task })
}

struct Shared {
    workspace: Arc<Workspace>,
    handle: EngineHandle,
    fingerprint: String,
    at_once: tokio::sync::Semaphore,
}

async fn one(stream: UnixStream, shared: &Shared) -> std::io::Result<()> {
    let (read, mut write) = stream.into_split();
    let mut line = String::new();
    let mut reader = BufReader::new(read.take(REQUEST_CAP));
    tokio::time::timeout(REQUEST_WAIT, reader.read_line(&mut line))
        .await
        .map_err(|_| std::io::Error::other("no request in time"))??;
    let (answer, body) = match serde_json::from_str::<Request>(line.trim_end()) {
        Err(e) => (refuse(format!("not a status request: {e}")), Vec::new()),
        Ok(request) => respond(request, shared).await,
    };
    let mut head = serde_json::to_vec(&answer).map_err(std::io::Error::other)?;
    head.push(b'\n');
    let send = async {
        write.write_all(&head).await?;
        write.write_all(&body).await?;
        write.shutdown().await
    };
    tokio::time::timeout(ANSWER_WAIT, send)
        .await
        .map_err(|_| std::io::Error::other("the client did not read the answer in time"))?
}

fn refuse(why: String) -> Answer {
    Answer {
        refused: Some(why),
        ..Answer::default()
    }
}

async fn respond(request: Request, shared: &Shared) -> (Answer, Vec<u8>) {
    let version = env!("CARGO_PKG_VERSION");
    if request.v != PROTOCOL || request.version != version {
        return (
            refuse(format!(
                "the daemon is switchboard {version}, this status is {}",
                request.version
            )),
            Vec::new(),
        );
    }
    if request.config != shared.fingerprint {
        return (
            refuse(
                "the daemon runs another config (edited since it started, or other values in its environment); restart it to apply the file"
                    .into(),
            ),
            Vec::new(),
        );
    }
    let Ok(_turn) = shared.at_once.try_acquire() else {
        return (
            refuse("the daemon is answering other status requests".into()),
            Vec::new(),
        );
    };
    let snapshot = shared.handle.snapshot();
    let connections = snapshot.connections.len();
    let (vault, sharing, alerts) = if request.format == Format::Table {
        (
            shared.workspace.vault_source(),
            shared.workspace.sharing().await,
            crate::commands::alerts::status_lines(&shared.handle).await,
        )
    } else {
        (String::new(), None, Vec::new())
    };
    let format = request.format;
    let began = std::time::Instant::now();
    // One core's render, off the engine's workers: the daemon's probes come first.
    let rendered = tokio::task::spawn_blocking(move || {
        let mut body = Vec::with_capacity(snapshot.connections.len() * 1024);
        match format {
            Format::Table => body.extend_from_slice(
                super::table_screen(&snapshot, &vault, sharing.as_deref(), &alerts).as_bytes(),
            ),
            Format::Json | Format::JsonPretty => {
                super::json::to_writer(&mut body, &snapshot, format == Format::JsonPretty, 1)?;
            }
        }
        let (code, check) = if request.check {
            super::check(&snapshot)
        } else {
            (crate::cli::EXIT_OK, String::new())
        };
        Ok::<_, std::io::Error>((code, check, body))
    })
    .await
    .map_err(std::io::Error::other)
    .and_then(|rendered| rendered);
    match rendered {
        Ok((code, check, body)) => {
            tracing::debug!(
                "answered status ({format:?}): {connections} connections, {} bytes in {} ms",
                body.len(),
                began.elapsed().as_millis()
            );
            (
                Answer {
                    ok: true,
                    refused: None,
                    code,
                    check,
                    body: body.len() as u64,
                },
                body,
            )
        }
        Err(e) => (refuse(format!("rendering the status: {e}")), Vec::new()),
    }
}

/// Where a daemon on this data directory answers `status`.
pub(super) fn socket_path(data_dir: &Path) -> PathBuf {
    data_dir.join(SOCKET)
}
