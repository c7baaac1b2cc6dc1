//! switchboard's MCP client through `McpPool`, as the engine runs it: the legacy HTTP+SSE
//! transport against the lab, streamable HTTP session expiry, and real third-party peers
//! (`@modelcontextprotocol/server-everything` over stdio, SSE and streamable HTTP).
//! One test binary, so the shared helpers are built and linked once.

mod support;

#[path = "mcp/everything.rs"]
mod everything;
#[path = "mcp/http_sessions.rs"]
mod http_sessions;
#[path = "mcp/sse.rs"]
mod sse;
#[path = "mcp/stream_settle.rs"]
mod stream_settle;
