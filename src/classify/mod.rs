//! The one place failures are classified: an HTTP status, a request that got no answer
//! (reqwest), and MCP errors (rmcp's), each as a `Failure` with a class the operator can act on
//! and one readable line. `probe`, `mcp`, `auth` and `net` all import it; it imports only
//! `domain` and external crates, so none of them has to import another to share a rule.

pub mod challenge;
pub mod http;
pub mod mcp;

pub use http::{
    MAX_RETRY_AFTER, classify_reqwest, classify_status, insufficient_scope, retry_after_ms_capped,
};
