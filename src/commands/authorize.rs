//! `auth` (authorization code + PKCE, or the device grant) and `revoke`: the commands a human
//! runs to give switchboard a grant or take it back. Prompts go to stderr; stdout carries only
//! the one-line result, so scripts can read it.

use std::io::{IsTerminal, Write};
use std::time::Duration;

use super::{Exit, Outcome, init_file_logging, load_config, open_store, qr};
use crate::auth::device::{self, DeviceProgress, DevicePrompt};
use crate::auth::flows::{self, Opener};
use crate::auth::revoke::{self, Revoked};
use crate::auth::{AuthSpec, Broker, mcp_auth};
use crate::cli::{EXIT_FAILED, EXIT_OK, EXIT_USAGE, Global};
use crate::domain::{Actor, ConnectionKey, format_duration_ms, format_expires_in, now_ms};
use crate::engine::fleet::ConnectorSpec;
use crate::store::{Store, resolve_data_dir};
use crate::text::printable;

/// The connector's resolved spec and an open store: what both commands start from.
fn setup(global: &Global, connector: &str) -> Result<(ConnectorSpec, Store), Exit> {
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
    if let Some(why) = c.not_configured() {
        return Err(Exit::new(
            EXIT_USAGE,
            format!("connector {connector} is {why}"),
        ));
    }
    let spec = crate::engine::fleet::from_config(&config)
        .into_iter()
        .find(|s| s.id == connector)
        .ok_or_else(|| Exit::new(EXIT_USAGE, format!("no connector `{connector}`")))?;
    if let Some(p) = &spec.problem {
        return Err(Exit::new(EXIT_USAGE, format!("connector {connector}: {p}")));
    }
    let data_dir = resolve_data_dir(global.data_dir.as_deref());
    crate::store::ensure_private_dir(&data_dir)
        .map_err(|e| Exit::new(EXIT_FAILED, e.to_string()))?;
    init_file_logging(&data_dir);
    let store = open_store(&data_dir)?;
    Ok((spec, store))
}

pub async fn auth(
    global: &Global,
    connector: &str,
    account: &str,
    no_browser: bool,
    device: bool,
) -> Outcome {
    let (spec, store) = setup(global, connector)?;
    let http = crate::engine::http_client().map_err(|f| Exit::failed(&f))?;
    let broker = Broker::new(store, http.clone());
    let key = ConnectionKey::new(connector, account);
    broker
        .register(key.clone(), spec.auth.clone(), false)
        .await
        .map_err(|f| Exit::failed(&f))?;
    // Auth type "mcp": discover the authorization server and a client first; what follows is
    // the ordinary flow with the discovered endpoints and the RFC 8707 resource.
    let discovered;
    let auth = match &spec.auth {
        AuthSpec::OAuth(oauth) if oauth.mcp.is_some() => {
            eprintln!("Discovering how {connector}'s MCP server is authorized…");
            let concrete = mcp_auth::prepare(&http, broker.store(), connector, oauth)
                .await
                .map_err(|f| Exit::new(EXIT_FAILED, format!("{key}: {f}")))?;
            eprintln!(
                "Authorization server {}; client {}.",
                concrete
                    .endpoints
                    .as_ref()
                    .and_then(|e| e.authorize.as_deref())
                    .unwrap_or("(no authorization endpoint)"),
                concrete.client_id
            );
            discovered = AuthSpec::OAuth(concrete);
            &discovered
        }
        other => other,
    };
    let meta = match auth {
        AuthSpec::OAuth(oauth) if device => {
            eprintln!("Authorizing {key} with a device code (Ctrl-C to give up).");
            let progress = Progress::new();
            let result = device::device_authorization(&http, oauth, &|p| progress.show(&p)).await;
            progress.finish();
            let token = result.map_err(|f| Exit::new(EXIT_FAILED, format!("{key}: {f}")))?;
            broker
                .install(&key, token, Actor::Cli)
                .await
                .map_err(|f| Exit::failed(&f))?
        }
        AuthSpec::OAuth(oauth) => {
            let opener = if no_browser {
                Opener::PrintOnly
            } else {
                Opener::System
            };
            eprintln!(
                "Authorizing {key}. Waiting for the browser (15 minutes at most; Ctrl-C to give up)."
            );
            let show = |url: &str| eprintln!("If no browser opened, visit:\n\n  {url}\n");
            let outcome = flows::authorization_code(&http, oauth, opener, &show)
                .await
                .map_err(|f| Exit::failed(&f))?;
            broker
                .install(&key, outcome.token, Actor::Cli)
                .await
                .map_err(|f| Exit::failed(&f))?
        }
        AuthSpec::ClientCredentials(_) if device => {
            return Err(Exit::new(
                EXIT_USAGE,
                format!(
                    "{key} uses client credentials: there is no user to approve a device code; run `switchboard auth {connector}` without --device"
                ),
            ));
        }
        AuthSpec::ClientCredentials(_) => broker
            .refresh_now(&key, Actor::Cli)
            .await
            .map_err(|f| Exit::new(EXIT_FAILED, format!("{key}: {f}")))?,
        AuthSpec::None | AuthSpec::Bearer(_) => {
            println!(
                "{key} uses auth type {}; nothing to authorize",
                spec.auth.label()
            );
            return Ok(EXIT_OK);
        }
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

/// The device prompt on stderr, and a waiting line that rewrites itself when stderr is a
/// terminal (a log file or a pipe gets no carriage-return noise).
struct Progress {
    tty: bool,
}

impl Progress {
    fn new() -> Self {
        Progress {
            tty: std::io::stderr().is_terminal(),
        }
    }

    fn show(&self, p: &DeviceProgress<'_>) {
        match p {
            DeviceProgress::Prompt(prompt) => eprint!("{}", prompt_text(prompt)),
            DeviceProgress::Waiting {
                elapsed, remaining, ..
            } if self.tty => {
                let mut err = std::io::stderr().lock();
                let _ = write!(
                    err,
                    "\r\x1b[2KWaiting for approval… {} elapsed, code expires in {}",
                    format_duration_ms(elapsed.as_millis() as u64),
                    format_duration_ms(round_secs(*remaining).as_millis() as u64),
                );
                let _ = err.flush();
            }
            DeviceProgress::Waiting { .. } => {}
        }
    }

    fn finish(&self) {
        if self.tty {
            eprint!("\r\x1b[2K");
        }
    }
}

fn round_secs(d: Duration) -> Duration {
    Duration::from_secs(d.as_secs())
}

/// What the operator reads: the code, where to enter it, and a QR code of the complete URI.
pub fn prompt_text(p: &DevicePrompt) -> String {
    // The AS wrote all of these: shown, never obeyed by the terminal.
    let mut out = format!(
        "\nOn any device, open\n\n  {}\n\nand enter the code\n\n  {}\n\n",
        printable(&p.verification_uri, false),
        printable(&p.user_code, false)
    );
    if let Some(complete) = &p.verification_uri_complete {
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
        format_duration_ms(p.expires_in.as_millis() as u64)
    ));
    out
}

pub async fn revoke(global: &Global, connector: &str, account: &str) -> Outcome {
    if load_config(global)?.connector(connector).is_none() {
        return revoke_removed(global, connector, account).await;
    }
    let (spec, store) = setup(global, connector)?;
    let key = ConnectionKey::new(connector, account);
    let Some(oauth) = spec.auth.oauth() else {
        println!(
            "{key} uses auth type {}; switchboard holds no grant to revoke",
            spec.auth.label()
        );
        return Ok(EXIT_OK);
    };
    let http = crate::engine::http_client().map_err(|f| Exit::failed(&f))?;
    let outcome = revoke::revoke_connection(&store, &http, oauth, &key, Actor::Cli)
        .await
        .map_err(|f| Exit::new(EXIT_FAILED, format!("{key}: {f}")))?;
    report_revoked(&key, outcome);
    Ok(EXIT_OK)
}

/// A connector no longer in the config: its grant is revoked with what was kept when it was
/// authorized (`auth::recipe`), if anything was.
async fn revoke_removed(global: &Global, connector: &str, account: &str) -> Outcome {
    let config = load_config(global)?;
    let data_dir = resolve_data_dir(global.data_dir.as_deref());
    let key = ConnectionKey::new(connector, account);
    let unknown = || {
        let ids: Vec<&str> = config.connectors.iter().map(|c| c.id.as_str()).collect();
        Exit::new(
            EXIT_USAGE,
            format!(
                "no connector `{connector}` in the config, and no grant of a removed `{key}` in {}; known: {}",
                data_dir.display(),
                ids.join(", ")
            ),
        )
    };
    if !data_dir.join("switchboard.db").exists() {
        return Err(unknown());
    }
    init_file_logging(&data_dir);
    let store = open_store(&data_dir)?;
    let spec = crate::auth::recipe::load(&store, &key)
        .await
        .map_err(|f| Exit::failed(&f))?
        .ok_or_else(unknown)?;
    let http = crate::engine::http_client().map_err(|f| Exit::failed(&f))?;
    let outcome = revoke::revoke_connection(&store, &http, &spec, &key, Actor::Cli)
        .await
        .map_err(|f| Exit::new(EXIT_FAILED, format!("{key}: {f}")))?;
    report_revoked(&key, outcome);
    Ok(EXIT_OK)
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
