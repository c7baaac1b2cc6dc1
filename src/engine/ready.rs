//! The one "is this connection ready to use" check, and its one wording. Refresh, probe, tool
//! calls and the one-shot commands all ask here, so an operator reads the same sentence (and
//! the same `switchboard auth` hint) whichever way they found the problem.

use super::core::Engine;
use super::fleet::ConnectorSpec;
use crate::auth::AuthSpec;
use crate::domain::{ConnectionKey, ErrorClass, Failure, Reason, auth_command};

/// Why a connection cannot be used now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NotReady {
    /// The config entry could not be turned into a connector (a bad URL, a missing setting).
    Misconfigured(String),
    /// The config names environment variables that are not set.
    NotConfigured(Vec<String>),
    /// The grant is gone: only a human can give a new one.
    NeedsReauth,
    /// An OAuth connection that was never authorized.
    NotAuthorized,
    /// Tools were asked of a connector that has no MCP server.
    NoTools,
    /// Neither the config nor the store knows the connection.
    Unknown,
    /// An operator paused it; resuming is a deliberate act, not something a call should do.
    Paused,
}

impl NotReady {
    /// Only a human at `switchboard auth` fixes it (exit 3 in one-shot commands).
    pub fn needs_human(&self) -> bool {
        matches!(self, NotReady::NeedsReauth | NotReady::NotAuthorized)
    }

    pub fn message(&self, key: &ConnectionKey) -> String {
        match self {
            NotReady::Misconfigured(p) => {
                format!("connector {} is misconfigured: {p}", key.connector)
            }
            NotReady::NotConfigured(vars) => format!(
                "connector {} is not configured: set {}",
                key.connector,
                vars.join(", ")
            ),
            NotReady::NeedsReauth => {
                format!("{key} needs re-auth: run `{}`", auth_command(key))
            }
            NotReady::NotAuthorized => {
                format!("{key} is not authorized yet: run `{}`", auth_command(key))
            }
            NotReady::NoTools => {
                format!("{key} is a REST connector; tools and call need an MCP connector")
            }
            NotReady::Unknown => format!("no connection `{key}`"),
            NotReady::Paused => format!(
                "{key} is paused: run `switchboard resume {}{}` first",
                key.connector,
                crate::domain::account_flag(key)
            ),
        }
    }

    pub fn failure(&self, key: &ConnectionKey) -> Failure {
        let failure = |class| Failure::new(class, self.message(key));
        match self {
            NotReady::NeedsReauth => failure(ErrorClass::Auth).with_reason(Reason::NeedsReauth),
            NotReady::NotAuthorized => failure(ErrorClass::Auth).with_reason(Reason::NotAuthorized),
            _ => failure(ErrorClass::Config),
        }
    }
}

/// What the config alone says against using the connector.
pub fn config_not_ready(spec: &ConnectorSpec) -> Option<NotReady> {
    if let Some(p) = &spec.problem {
        return Some(NotReady::Misconfigured(p.clone()));
    }
    (!spec.missing_env.is_empty()).then(|| NotReady::NotConfigured(spec.missing_env.clone()))
}

/// `config_not_ready` as the failure a command answers with.
pub(crate) fn config_problem(spec: &ConnectorSpec) -> Option<Failure> {
    let key = ConnectionKey::new(spec.id.clone(), crate::domain::DEFAULT_ACCOUNT);
    config_not_ready(spec).map(|n| n.failure(&key))
}

/// Whether tools are wanted as well as a usable grant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    Grant,
    Tools,
}

impl Engine {
    /// The one check: configured, holding a usable grant, and (for `Need::Tools`) an MCP
    /// connector. An unknown connection is a failure of its own (`unknown`).
    pub fn readiness(&self, key: &ConnectionKey, need: Need) -> Result<(), NotReady> {
        let Some(spec) = self.spec(key) else {
            return Err(NotReady::Unknown);
        };
        if let Some(n) = config_not_ready(spec) {
            return Err(n);
        }
        if self.is_paused(key) {
            return Err(NotReady::Paused);
        }
        if need == Need::Tools && spec.plan.route.mcp().is_none() {
            return Err(NotReady::NoTools);
        }
        if self.broker.needs_reauth(key) {
            return Err(NotReady::NeedsReauth);
        }
        if matches!(spec.auth, AuthSpec::OAuth(_)) && self.broker.meta(key).is_none() {
            return Err(NotReady::NotAuthorized);
        }
        Ok(())
    }

    /// `readiness` as a failure, naming the known connectors when the key is unknown.
    pub(crate) fn ready(&self, key: &ConnectionKey, need: Need) -> Result<(), Failure> {
        if self.spec(key).is_none() {
            return Err(self.unknown(key));
        }
        self.readiness(key, need).map_err(|n| n.failure(key))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_wording_with_the_account_hint() {
        let default = ConnectionKey::new("jira", crate::domain::DEFAULT_ACCOUNT);
        let ops = ConnectionKey::new("jira", "ops");
        assert_eq!(
            NotReady::NeedsReauth.message(&ops),
            "jira/ops needs re-auth: run `switchboard auth jira --account ops`"
        );
        assert_eq!(
            NotReady::NotAuthorized.message(&default),
            "jira is not authorized yet: run `switchboard auth jira`"
        );
        assert_eq!(
            NotReady::NotConfigured(vec!["A".into(), "B".into()]).message(&ops),
            "connector jira is not configured: set A, B"
        );
        assert!(NotReady::NeedsReauth.needs_human());
        assert_eq!(NotReady::NeedsReauth.failure(&ops).class, ErrorClass::Auth);
        assert!(!NotReady::NoTools.needs_human());
        assert_eq!(NotReady::NoTools.failure(&ops).class, ErrorClass::Config);
    }
}
