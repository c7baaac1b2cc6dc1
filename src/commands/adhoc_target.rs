//! The target of an ad hoc `tools`/`call` (`--url`, `--stdio`) from its flags: transport,
//! headers, MCP authorization on a 401, and how the server's requests for input are answered.

use std::io::IsTerminal;

use super::Exit;
use crate::cli::{EXIT_USAGE, ElicitArg, GrantArg, TargetArgs, TransportArg};
use crate::engine::adhoc::{AdHocSpec, IdP, Login, split_command};
use crate::engine::{ElicitPolicy, McpTarget as Target, Opener};
use crate::secret::Secret;

/// Whether a browser login can happen from here: a browser to open, or a person at a terminal
/// to use the printed URL.
pub(super) fn can_log_in() -> bool {
    std::env::var("BROWSER").is_ok_and(|b| !b.trim().is_empty()) || std::io::stderr().is_terminal()
}

pub(super) fn usage(message: impl Into<String>) -> Exit {
    Exit::new(EXIT_USAGE, message)
}

pub(super) fn adhoc_target(t: &TargetArgs) -> Result<Option<AdHocSpec>, Exit> {
    let target = match (&t.url, &t.stdio, t.transport) {
        (None, None, None) => return Ok(None),
        (None, None, Some(_)) => {
            return Err(usage(
                "--transport applies to an ad hoc --url or --stdio target",
            ));
        }
        (Some(url), None, None | Some(TransportArg::StreamableHttp)) => {
            Target::StreamableHttp { url: url.clone() }
        }
        (Some(url), None, Some(TransportArg::Sse)) => Target::Sse { url: url.clone() },
        (Some(_), None, Some(TransportArg::Stdio)) => {
            return Err(usage(
                "--transport stdio takes --stdio \"COMMAND ARGS\", not --url",
            ));
        }
        (None, Some(line), None | Some(TransportArg::Stdio)) => {
            let mut words = split_command(line).map_err(usage)?;
            let command = words.remove(0);
            Target::Stdio {
                command,
                args: words,
                env: Vec::new(),
            }
        }
        (None, Some(_), Some(_)) => {
            return Err(usage(
                "--stdio runs a local command; drop --transport or use --url",
            ));
        }
        (Some(_), Some(_), _) => return Err(usage("give either --url or --stdio, not both")),
    };
    if matches!(target, Target::Stdio { .. }) && (!t.headers.is_empty() || t.bearer.is_some()) {
        return Err(usage(
            "--header and --bearer apply to an HTTP --url target, not --stdio",
        ));
    }
    if let Target::StreamableHttp { url } | Target::Sse { url } = &target
        && url::Url::parse(url).is_err()
    {
        return Err(usage(format!("--url `{url}` is not a valid URL")));
    }
    let mut adhoc = AdHocSpec {
        target,
        headers: t
            .headers
            .iter()
            .map(|h| (h.0.clone(), h.1.clone()))
            .collect(),
        bearer: t.bearer.clone(),
        login: None,
        elicit: super::elicit_prompt::elicitor(elicit_policy(t)),
        protocol: t.protocol_version.clone(),
    };
    let wants_auth = t.client_id.is_some() || t.client_metadata_url.is_some() || t.grant.is_some();
    // The operator brought credentials: a 401 is theirs to fix, nothing to log in to.
    let brings_credentials = adhoc.bearer.is_some()
        || adhoc
            .headers
            .iter()
            .any(|(name, _)| name.eq_ignore_ascii_case("authorization"));
    if let Target::StreamableHttp { .. } | Target::Sse { .. } = &adhoc.target {
        if !brings_credentials {
            adhoc.login = login(t)?;
        } else if wants_auth {
            return Err(usage(
                "--client-id/--client-metadata-url/--grant authorize a server that answers 401; with --bearer or an Authorization header there is nothing to authorize",
            ));
        }
    } else if wants_auth {
        return Err(usage(
            "--client-id/--client-metadata-url/--grant apply to an HTTP --url target",
        ));
    }
    Ok(Some(adhoc))
}

/// MCP authorization for an ad hoc target, if a login can happen here: a browser to open
/// (`$BROWSER`, or a terminal whose user can use the printed URL), or `--no-browser`. A script
/// with neither gets the 401 at once, not a 15-minute wait for a login nobody can see.
fn login(t: &TargetArgs) -> Result<Option<Login>, Exit> {
    if let Some(m) = &t.client_metadata_url
        && url::Url::parse(m).is_err()
    {
        return Err(usage(format!(
            "--client-metadata-url `{m}` is not a valid URL"
        )));
    }
    if t.client_secret.is_some() && t.client_id.is_none() {
        return Err(usage(
            "a client secret ($SWITCHBOARD_CLIENT_SECRET) needs --client-id",
        ));
    }
    let cross_app = cross_app(t)?;
    let machine = matches!(
        t.grant,
        Some(GrantArg::ClientCredentials | GrantArg::CrossApp)
    );
    let private_key = private_key(t)?;
    if private_key.is_some() && !machine {
        return Err(usage(
            "--private-key authenticates a machine client: add --grant client-credentials",
        ));
    }
    if private_key.is_some() && t.client_secret.is_some() {
        return Err(usage(
            "give the client a secret ($SWITCHBOARD_CLIENT_SECRET) or a --private-key, not both",
        ));
    }
    if cross_app.is_some() && private_key.is_some() {
        return Err(usage(
            "--grant cross-app authenticates at the MCP server's AS with --client-id and its secret, not --private-key",
        ));
    }
    if machine && (t.client_id.is_none() || (t.client_secret.is_none() && private_key.is_none())) {
        return Err(usage(
            "--grant client-credentials needs --client-id and either its secret in $SWITCHBOARD_CLIENT_SECRET (or --client-secret) or --private-key FILE",
        ));
    }
    if machine && t.client_metadata_url.is_some() {
        return Err(usage(
            "--client-metadata-url is for a login in the browser; --grant client-credentials authenticates with --client-id and its secret",
        ));
    }
    let opener = match (&t.opener, t.no_browser) {
        // A machine client opens nothing: any opener will do.
        _ if machine => Opener::PrintOnly,
        (Some(o), _) => o.clone(),
        (None, true) => Opener::PrintOnly,
        (None, false) if can_log_in() => Opener::System,
        (None, false) => return Ok(None),
    };
    Ok(Some(Login {
        client_id: t.client_id.clone(),
        client_secret: t.client_secret.clone(),
        client_metadata_url: t.client_metadata_url.clone(),
        machine,
        private_key,
        cross_app,
        opener,
    }))
}

/// `--private-key FILE` (or the conformance client's PEM), read now; the engine parses it
/// before anything is sent, so a bad key is a usage error. Errors name the file, never its
/// contents.
fn private_key(t: &TargetArgs) -> Result<Option<(Secret, String)>, Exit> {
    match (&t.private_key, &t.private_key_pem) {
        (Some(path), _) => {
            let what = format!("--private-key {}", path.display());
            let pem = std::fs::read_to_string(path)
                .map_err(|e| usage(format!("{what}: cannot read it: {e}")))?;
            Ok(Some((Secret::new(pem), what)))
        }
        (None, Some(pem)) => Ok(Some((
            pem.clone(),
            "the scenario's private key".to_string(),
        ))),
        (None, None) => Ok(None),
    }
}

/// `--grant cross-app`'s identity provider: its issuer, switchboard's client there and the
/// user's ID token (`--id-token-file`, else `$SWITCHBOARD_ID_TOKEN`).
fn cross_app(t: &TargetArgs) -> Result<Option<IdP>, Exit> {
    let wanted = t.grant == Some(GrantArg::CrossApp);
    let given = t.idp_issuer.is_some() || t.idp_client_id.is_some() || t.id_token_file.is_some();
    if !wanted {
        return if given {
            Err(usage(
                "--idp-issuer, --idp-client-id and --id-token-file belong to --grant cross-app",
            ))
        } else {
            Ok(None)
        };
    }
    let env = |name: &str| {
        std::env::var(name)
            .ok()
            .filter(|v| !v.trim().is_empty())
            .map(Secret::new)
    };
    let id_token = match (&t.id_token_file, &t.id_token) {
        (Some(path), _) => {
            let text = std::fs::read_to_string(path).map_err(|e| {
                usage(format!(
                    "--id-token-file {}: cannot read it: {e}",
                    path.display()
                ))
            })?;
            Some(Secret::new(text.trim()))
        }
        (None, Some(token)) => Some(token.clone()),
        (None, None) => env("SWITCHBOARD_ID_TOKEN"),
    };
    let (Some(issuer), Some(client_id), Some(id_token)) =
        (t.idp_issuer.clone(), t.idp_client_id.clone(), id_token)
    else {
        return Err(usage(
            "--grant cross-app needs --idp-issuer URL, --idp-client-id ID and the ID token (--id-token-file FILE or $SWITCHBOARD_ID_TOKEN), plus --client-id and its secret at the MCP server's authorization server",
        ));
    };
    if url::Url::parse(&issuer).is_err() {
        return Err(usage(format!("--idp-issuer `{issuer}` is not a URL")));
    }
    Ok(Some(IdP {
        issuer,
        client_id,
        client_secret: env("SWITCHBOARD_IDP_CLIENT_SECRET"),
        id_token,
    }))
}

/// `--elicit`, else ask when someone is at the terminal to answer (a script, a pipe or the
/// conformance suite's never-written stdin gets declines, not a prompt that waits forever).
pub(crate) fn elicit_policy(t: &TargetArgs) -> ElicitPolicy {
    match t.elicit {
        Some(ElicitArg::Ask) => ElicitPolicy::Ask,
        Some(ElicitArg::Defaults) => ElicitPolicy::Defaults,
        Some(ElicitArg::Decline) => ElicitPolicy::Decline,
        None if std::io::stdin().is_terminal() && std::io::stderr().is_terminal() => {
            ElicitPolicy::Ask
        }
        None => ElicitPolicy::Decline,
    }
}
