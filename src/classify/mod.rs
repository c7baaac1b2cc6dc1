//! The one place failures are classified: an HTTP status, a request that got no answer
//! (reqwest), and MCP errors (rmcp's), each as a `Failure` with a class the operator can act on
//! and one readable line. `probe`, `mcp`, `auth` and `net` all import it; it imports only
//! `domain` and external crates, so none of them has to import another to share a rule.

pub mod challenge;
pub mod http;
pub mod mcp;
pub mod retry_after;

pub use http::{classify_reqwest, classify_status, insufficient_scope};
pub use retry_after::{MAX_RETRY_AFTER, MAX_RETRY_AFTER_MS, retry_after_ms, retry_after_ms_capped};
