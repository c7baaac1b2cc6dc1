//! The demo fleet on loopback: OAuth AS, MCP servers, flaky REST endpoint.
