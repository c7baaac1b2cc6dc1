//! `auth` (authorization code + PKCE, or the device grant) and `revoke`: the commands a human
//! runs to give switchboard a grant or take it back, as `Command::Reauth`/`Command::Revoke`
//! to the engine. Prompts go to stderr; stdout carries only the one-line result, so scripts
//! can read it.

use std::io::{IsTerminal, Write};
use std::time::Duration;

use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;

use super::{Exit, Outcome, load_config, oneshot_engine, qr};
use crate::cli::{EXIT_FAILED, EXIT_OK, EXIT_USAGE, Global};
use crate::domain::{Actor, ConnectionKey, format_duration_ms, format_expires_in, now_ms};
use crate::engine::authorize::machine_grant;
use crate::engine::ready::config_not_ready;
use crate::engine::{
    ConnectorSpec, EngineHandle, Event, Opener, ReauthMethod, ReauthOutcome, ReauthProgress,
    RevokeOutcome, Revoked,
};
use crate::text::printable;

/// The connector's config entry, checked before anything is opened: a typo or an unset
/// variable is a usage error, not a failed login.
fn check_connector(global: &Global, connector: &str) -> Result<ConnectorSpec, Exit> {
    let config = load_config(global)?;
    let Some(c) = config.connector(connector) else {
        let ids: Vec<&str> = config.connectors.iter().map(|c| c.id.as_str()).collect();
        return Err(Exit::new(
            EXIT_USAGE,
            format!(
                "no connector `{connector}` in the config; known: {}",
                ids.join(", ")
            ),
        ));
    };
    let spec = crate::engine::fleet::from_config(&config)
        .into_iter()
        .find(|s| s.id == c.id)
        .ok_or_else(|| Exit::new(EXIT_USAGE, format!("no connector `{connector}`")))?;
    if let Some(why) = config_not_ready(&spec) {
        let key = ConnectionKey::new(connector, crate::domain::DEFAULT_ACCOUNT);
        return Err(Exit::new(EXIT_USAGE, why.message(&key)));
    }
    Ok(spec)
}

pub async fn auth(
    global: &Global,
    connector: &str,
    account: &str,
    no_browser: bool,
    device: bool,
) -> Outcome {
    let spec = check_connector(global, connector)?;
    let key = ConnectionKey::new(connector, account);
    if device && machine_grant(&spec) {
        return Err(Exit::new(
            EXIT_USAGE,
            format!(
                "{key} uses client credentials: there is no user to approve a device code; run `switchboard auth {connector}` without --device"
            ),
        ));
    }
    let (running, _workspace) = oneshot_engine(global, Default::default()).await?;
    let opener = if no_browser {
        Opener::PrintOnly
    } else {
        Opener::System
    };
    let result = authorize_on(&running.handle, &key, opener, device).await;
    running.shutdown().await;
    result
}

/// `auth` on an engine already running (the step-up of `call` uses its own).
pub(crate) async fn authorize_on(
    handle: &EngineHandle,
    key: &ConnectionKey,
    opener: Opener,
    device: bool,
) -> Outcome {
    let method = if device {
        ReauthMethod::DeviceCode
    } else {
        ReauthMethod::Browser { opener }
    };
    let mut events = handle.subscribe();
    let progress = Progress::new(key.clone(), device);
    let asked = handle.reauth(key.clone(), method, Actor::Cli, CancellationToken::new());
    tokio::pin!(asked);
    let result = loop {
        tokio::select! {
            result = &mut asked => break result,
            event = events.recv() => match event {
                Ok(e) => progress.on(&e),
                Err(broadcast::error::RecvError::Lagged(_)) => {}
                Err(broadcast::error::RecvError::Closed) => {}
            },
        }
    };
    // Every step was sent before the reply: show what is still queued.
    while let Ok(e) = events.try_recv() {
        progress.on(&e);
    }
    progress.finish();
    let meta = match result {
        Ok(ReauthOutcome::Authorized(meta)) => meta,
        Ok(ReauthOutcome::NothingToAuthorize { auth }) => {
            println!("{key} uses auth type {auth}; nothing to authorize");
            return Ok(EXIT_OK);
        }
        Err(f) => return Err(Exit::new(EXIT_FAILED, format!("{key}: {f}"))),
    };
    let expiry = meta
        .expires_at
        .map(|e| format!("token expires in {}", format_expires_in(e, now_ms())))
        .unwrap_or_else(|| "token does not expire".into());
    let refresh = if meta.has_refresh_token {
        "with a refresh token"
    } else {
        "without a refresh token"
    };
    println!("authorized {key}: {expiry}, {refresh}");
    Ok(EXIT_OK)
}

/// The engine's `Event::Reauth` steps on stderr, worded as they always were; the device
/// grant's waiting line rewrites itself when stderr is a terminal (a log file or a pipe gets
/// no carriage-return noise).
struct Progress {
    key: ConnectionKey,
    device: bool,
    tty: bool,
}

impl Progress {
    fn new(key: ConnectionKey, device: bool) -> Self {
        Progress {
            key,
            device,
            tty: std::io::stderr().is_terminal(),
        }
    }

    fn on(&self, event: &Event) {
        let Event::Reauth { key, progress } = event else {
            return;
        };
        if key != &self.key {
            return;
        }
        match progress {
            ReauthProgress::Discovering => eprintln!(
                "Discovering how {}'s MCP server is authorized…",
                key.connector
            ),
            ReauthProgress::Discovered {
                authorization_endpoint,
                client_id,
            } => eprintln!(
                "Authorization server {}; client {client_id}.",
                authorization_endpoint
                    .as_deref()
                    .unwrap_or("(no authorization endpoint)"),
            ),
            ReauthProgress::OpenBrowser { url } => {
                eprintln!(
                    "Authorizing {key}. Waiting for the browser (15 minutes at most; Ctrl-C to give up)."
                );
                eprintln!("If no browser opened, visit:\n\n  {url}\n");
            }
            ReauthProgress::DeviceCode {
                verification_uri,
                user_code,
                verification_uri_complete,
                expires_in,
            } => {
                eprintln!("Authorizing {key} with a device code (Ctrl-C to give up).");
                eprint!(
                    "{}",
                    prompt_text(
                        verification_uri,
                        user_code,
                        verification_uri_complete.as_deref(),
                        *expires_in
                    )
                );
            }
            ReauthProgress::Waiting { elapsed, remaining } if self.tty && self.device => {
                let mut err = std::io::stderr().lock();
                let _ = write!(
                    err,
                    "\r\x1b[2KWaiting for approval… {} elapsed, code expires in {}",
                    format_duration_ms(elapsed.as_millis() as u64),
                    format_duration_ms(round_secs(*remaining).as_millis() as u64),
                );
                let _ = err.flush();
            }
            ReauthProgress::Waiting { .. }
            | ReauthProgress::Done(_)
            | ReauthProgress::Failed(_)
            | ReauthProgress::Cancelled => {}
        }
    }

    fn finish(&self) {
        if self.tty && self.device {
            eprint!("\r\x1b[2K");
        }
    }
}

fn round_secs(d: Duration) -> Duration {
    Duration::from_secs(d.as_secs())
}

/// What the operator reads: the code, where to enter it, and a QR code of the complete URI.
pub fn prompt_text(
    verification_uri: &str,
    user_code: &str,
    verification_uri_complete: Option<&str>,
    expires_in: Duration,
) -> String {
    // The AS wrote all of these: shown, never obeyed by the terminal.
    let mut out = format!(
        "\nOn any device, open\n\n  {}\n\nand enter the code\n\n  {}\n\n",
        printable(verification_uri, false),
        printable(user_code, false)
    );
    if let Some(complete) = verification_uri_complete {
        if let Some(lines) = qr::render(complete) {
            out.push_str("or scan this code, which fills it in:\n\n");
            for line in lines {
                out.push_str("  ");
                out.push_str(&line);
                out.push('\n');
            }
            out.push('\n');
        }
        out.push_str(&format!("(direct link: {})\n", printable(complete, false)));
    }
    out.push_str(&format!(
        "The code expires in {}.\n",
        format_duration_ms(expires_in.as_millis() as u64)
    ));
    out
}

pub async fn revoke(global: &Global, connector: &str, account: &str) -> Outcome {
    let config = load_config(global)?;
    let key = ConnectionKey::new(connector, account);
    if config.connector(connector).is_some() {
        check_connector(global, connector)?;
    } else {
        // A connector no longer in the config: only its stored grant can be revoked, and a
        // directory without a store has none (and must not get one from asking).
        let data_dir = crate::engine::open::data_dir(global.data_dir.as_deref());
        if !crate::engine::open::has_store(&data_dir) {
            return Err(unknown_connector(&config, &key, &data_dir));
        }
    }
    let (running, workspace) = oneshot_engine(global, Default::default()).await?;
    let result = running.handle.revoke(key.clone(), Actor::Cli).await;
    running.shutdown().await;
    match result.map_err(|f| Exit::new(EXIT_FAILED, format!("{key}: {f}")))? {
        RevokeOutcome::Revoked(outcome) => report_revoked(&key, outcome),
        RevokeOutcome::NoGrant { auth } => {
            println!("{key} uses auth type {auth}; switchboard holds no grant to revoke")
        }
        RevokeOutcome::Unknown => {
            return Err(unknown_connector(&config, &key, workspace.data_dir()));
        }
    }
    Ok(EXIT_OK)
}

fn unknown_connector(
    config: &crate::config::Config,
    key: &ConnectionKey,
    data_dir: &std::path::Path,
) -> Exit {
    let ids: Vec<&str> = config.connectors.iter().map(|c| c.id.as_str()).collect();
    Exit::new(
        EXIT_USAGE,
        format!(
            "no connector `{}` in the config, and no grant of a removed `{key}` in {}; known: {}",
            key.connector,
            data_dir.display(),
            ids.join(", ")
        ),
    )
}

fn report_revoked(key: &ConnectionKey, outcome: Revoked) {
    match outcome {
        Revoked::AtServer {
            endpoint,
            access_too,
        } => {
            let caveat = if access_too {
                ""
            } else {
                " (the server does not revoke access tokens: the last one works until it expires)"
            };
            println!("revoked {key} at {endpoint}; the token is forgotten{caveat}");
        }
        Revoked::LocalOnly => {
            println!(
                "forgot {key}'s token; the authorization server has no revocation endpoint, so the grant lives until it expires or you revoke it in the provider's console"
            );
        }
        Revoked::Unreadable => println!(
            "forgot {key}'s token, which could not be decrypted, so it was not revoked at the authorization server; if the grant may still be live, revoke it in the provider's console"
        ),
        Revoked::NothingStored => println!("{key} holds no token; nothing to revoke"),
    }
}
