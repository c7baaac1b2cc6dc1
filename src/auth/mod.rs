//! Every token lives here. `Broker` is the one path to an access token and the only code that
//! refreshes; `flows` runs the human-driven authorizations whose results the broker installs.

pub mod adhoc_auth;
mod as_metadata;
pub mod broker;
pub mod client_assertion;
pub mod critical;
pub mod cross_app;
pub mod device;
pub mod flows;
pub mod form;
pub mod legacy_discovery;
mod loopback;
pub mod mcp_auth;
pub mod mcp_client;
mod mcp_stored;
pub mod oauth;
mod oauth_http;
pub mod recipe;
pub mod revoke;
pub mod source;
pub mod spec;
pub mod step_up;
pub mod token_response;

pub use broker::{Broker, BrokerNotice, Credential, LEASE_TTL, Need, REFRESHES_PER_ENDPOINT};
pub use spec::{AuthSpec, McpServer, OAuthEndpoints, OAuthSpec, TokenAuth};
