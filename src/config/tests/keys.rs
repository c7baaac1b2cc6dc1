//! private_key_jwt and `grant`: which keys go together, and where an error points.

use super::{REST, error, parse_with};

const MCP: &str = "\
[[connectors]]
id = \"m\"
kind = \"mcp\"
[connectors.mcp]
transport = \"streamable-http\"
url = \"https://mcp.example.com/mcp\"
[connectors.auth]
";

fn key_of(text: &str) -> (Option<String>, String) {
    let e = error(text);
    (e.key.clone(), e.message.clone())
}

#[test]
fn signing_keys_need_private_key_jwt_and_exclude_a_secret() {
    let (key, msg) = key_of(&format!(
        "{REST}[connectors.auth]\ntype = \"oauth2\"\ntoken_url = \"https://x.example/t\"\nclient_id = \"c\"\nprivate_key_file = \"k.pem\"\n"
    ));
    assert_eq!(key.as_deref(), Some("connectors[0].auth.private_key_file"));
    assert!(
        msg.contains("only used with token_auth_method = \"private_key_jwt\""),
        "{msg}"
    );

    let (key, msg) = key_of(&format!(
        "{REST}[connectors.auth]\ntype = \"client-credentials\"\ntoken_url = \"https://x.example/t\"\nclient_id = \"c\"\ntoken_auth_method = \"private_key_jwt\"\nprivate_key = \"a\"\nprivate_key_file = \"k.pem\"\n"
    ));
    assert_eq!(key.as_deref(), Some("connectors[0].auth.private_key_file"));
    assert!(msg.contains("not both"), "{msg}");

    let (key, msg) = key_of(&format!(
        "{REST}[connectors.auth]\ntype = \"bearer\"\ntoken = \"t\"\ntoken_auth_method = \"private_key_jwt\"\nprivate_key_file = \"k.pem\"\n"
    ));
    assert_eq!(key.as_deref(), Some("connectors[0].auth.token_auth_method"));
    assert!(msg.contains("requests no tokens"), "{msg}");
}

#[test]
fn a_key_behind_an_unset_variable_waits_for_it() {
    let text = format!(
        "{REST}[connectors.auth]\ntype = \"client-credentials\"\ntoken_url = \"https://x.example/t\"\nclient_id = \"c\"\ntoken_auth_method = \"private_key_jwt\"\nprivate_key = \"${{KEY}}\"\n"
    );
    let c = parse_with(&text, &[]).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(c.connectors[0].missing_env, ["KEY"]);
    assert!(c.connectors[0].auth.client_key.is_none());
    // Set, but not a key: located, and the value never shown.
    let e = parse_with(&text, &[("KEY", "not-a-key-Fixture-31")]).expect_err("a bad key");
    assert_eq!(e.key.as_deref(), Some("connectors[0].auth.private_key"));
    assert!(!e.to_string().contains("Fixture-31"), "{e}");
}

#[test]
fn grant_belongs_to_type_mcp_and_needs_a_client() {
    let (key, msg) = key_of(&format!(
        "{REST}[connectors.auth]\ntype = \"oauth2\"\ntoken_url = \"https://x.example/t\"\nclient_id = \"c\"\ngrant = \"client-credentials\"\n"
    ));
    assert_eq!(key.as_deref(), Some("connectors[0].auth.grant"));
    assert!(msg.contains("only used with type = \"mcp\""), "{msg}");

    let (key, _) = key_of(&format!(
        "{MCP}type = \"mcp\"\ngrant = \"client-credentials\"\nclient_secret = \"s\"\n"
    ));
    assert_eq!(key.as_deref(), Some("connectors[0].auth.client_id"));

    let (key, msg) = key_of(&format!(
        "{MCP}type = \"mcp\"\ngrant = \"client-credentials\"\nclient_id = \"c\"\n"
    ));
    assert_eq!(key.as_deref(), Some("connectors[0].auth.client_secret"));
    assert!(msg.contains("private_key_jwt"), "{msg}");

    // A client-credentials connector on an MCP server without endpoints is pointed at discovery.
    let (_, msg) = key_of(&format!(
        "{MCP}type = \"client-credentials\"\nclient_id = \"c\"\nclient_secret = \"s\"\n"
    ));
    assert!(msg.contains("grant = \"client-credentials\""), "{msg}");

    let c = parse_with(
        &format!("{MCP}type = \"mcp\"\ngrant = \"client-credentials\"\nclient_id = \"c\"\nclient_secret = \"s\"\n"),
        &[],
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        c.connectors[0].auth.grant,
        Some(super::super::Grant::ClientCredentials)
    );
}
