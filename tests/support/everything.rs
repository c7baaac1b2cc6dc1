//! Where `tests/run` installs `@modelcontextprotocol/server-everything` (pinned in
//! tests/peers/everything), for the tests that run it as a real third-party MCP peer.

use std::path::PathBuf;
use std::process::Command;

/// The installed server's entry point, or a failure telling the reader how to install it.
pub fn entry() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/peers/everything");
    let entry = dir.join("node_modules/@modelcontextprotocol/server-everything/dist/index.js");
    assert!(
        entry.is_file(),
        "{} is missing: run tests/run (it runs `npm ci --prefix tests/peers/everything`)",
        entry.display()
    );
    let node = Command::new("node").arg("--version").output();
    assert!(
        node.is_ok_and(|o| o.status.success()),
        "node is not installed: install Node.js 18+ and run tests/run"
    );
    entry
}

/// A config with one connector, `everything`: the server over stdio, no auth.
pub fn stdio_config() -> String {
    let entry = entry();
    let entry = entry
        .to_string_lossy()
        .replace('\\', "\\\\")
        .replace('"', "\\\"");
    format!(
        "[[connectors]]\nid = \"everything\"\nkind = \"mcp\"\n[connectors.mcp]\n\
         transport = \"stdio\"\ncommand = \"node\"\nargs = [\"{entry}\", \"stdio\"]\n"
    )
}
