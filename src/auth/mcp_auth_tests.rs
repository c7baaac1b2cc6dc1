use super::*;

fn challenge(error: Option<&str>, scope: &[&str]) -> BearerChallenge {
    BearerChallenge {
        error: error.map(str::to_string),
        scope: scope.iter().map(|s| s.to_string()).collect(),
        ..BearerChallenge::default()
    }
}

#[test]
fn the_resource_must_be_this_server() {
    let server = "https://mcp.example.com/v1/mcp";
    assert!(resource_matches(server, "https://mcp.example.com/v1/mcp"));
    assert!(resource_matches(
        server,
        "HTTPS://MCP.example.com:443/v1/mcp/"
    ));
    // The MCP canonical URI may be a parent path, or the origin.
    assert!(resource_matches(server, "https://mcp.example.com/v1"));
    assert!(resource_matches(server, "https://mcp.example.com"));
    assert!(!resource_matches(server, "https://mcp.example.com/v1/mc"));
    assert!(!resource_matches(
        server,
        "https://mcp.example.com/v1/mcp/other"
    ));
    assert!(!resource_matches(server, "https://evil.example.com/v1/mcp"));
    assert!(!resource_matches(server, "http://mcp.example.com/v1/mcp"));
    assert!(!resource_matches(
        server,
        "https://mcp.example.com:8443/v1/mcp"
    ));
    assert!(!resource_matches(
        server,
        "https://mcp.example.com/v1/mcp#x"
    ));
    assert!(!resource_matches(server, "not a url"));
}

#[test]
fn metadata_urls_prefer_the_challenge_then_the_spec_order() {
    let c = BearerChallenge {
        resource_metadata: Some("/meta/prm".into()),
        ..BearerChallenge::default()
    };
    assert_eq!(
        metadata_urls("https://h.example/a/mcp", Some(&c)).unwrap(),
        ["https://h.example/meta/prm"]
    );
    assert_eq!(
        metadata_urls("https://h.example/a/mcp/", None).unwrap(),
        [
            "https://h.example/.well-known/oauth-protected-resource/a/mcp",
            "https://h.example/.well-known/oauth-protected-resource",
        ]
    );
    assert_eq!(
        metadata_urls("https://h.example", None).unwrap(),
        ["https://h.example/.well-known/oauth-protected-resource"]
    );
    let bad = BearerChallenge {
        resource_metadata: Some("file:///etc/passwd".into()),
        ..BearerChallenge::default()
    };
    assert!(metadata_urls("https://h.example/mcp", Some(&bad)).is_err());
}

#[test]
fn step_up_asks_for_the_union_once() {
    let granted = vec!["mcp:tools".to_string()];
    let c = challenge(Some("insufficient_scope"), &["api:read"]);
    assert_eq!(
        step_up_scopes(&granted, &c, 0).unwrap(),
        ["mcp:tools", "api:read"]
    );
    let capped = step_up_scopes(&granted, &c, STEP_UP_RETRIES).unwrap_err();
    assert_eq!(capped.class, ErrorClass::Auth);
    assert!(
        capped
            .message
            .contains("needs re-auth with scopes api:read"),
        "{}",
        capped.message
    );
    // Nothing new to ask for: a human must look.
    assert!(
        step_up_scopes(
            &granted,
            &challenge(Some("insufficient_scope"), &["mcp:tools"]),
            0
        )
        .is_err()
    );
    assert!(step_up_scopes(&granted, &challenge(Some("invalid_token"), &["x"]), 0).is_err());
}

#[test]
fn an_as_without_s256_is_refused_by_name() {
    let meta: AsMetadata = serde_json::from_value(serde_json::json!({
        "token_endpoint": "https://as.example/token",
        "code_challenge_methods_supported": ["plain"],
    }))
    .unwrap();
    let err = require_s256("https://as.example", &meta).unwrap_err();
    assert!(
        err.message.contains("https://as.example"),
        "{}",
        err.message
    );
    assert!(err.message.contains("S256"), "{}", err.message);
    let none: AsMetadata =
        serde_json::from_value(serde_json::json!({"token_endpoint": "https://as.example/token"}))
            .unwrap();
    assert!(require_s256("https://as.example", &none).is_err());
}
