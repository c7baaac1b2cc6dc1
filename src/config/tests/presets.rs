//! Provider presets and their merge under explicit keys.

use super::super::{AuthConfig, AuthType, preset, preset_names};
use super::{REST, parse};

#[test]
fn every_documented_provider_has_a_usable_preset() {
    let names: Vec<_> = preset_names().collect();
    assert_eq!(
        names,
        [
            "atlassian",
            "google",
            "microsoft",
            "slack",
            "github",
            "notion",
            "zoom",
            "discord",
            "paypal",
            "cloudflare",
            "monday",
            "loom"
        ]
    );
    for name in names {
        let p = preset(name).unwrap();
        for url in [
            Some(p.authorize_url),
            Some(p.token_url),
            p.revoke_url,
            p.device_url,
        ]
        .into_iter()
        .flatten()
        {
            assert!(url.starts_with("https://"), "{name}: {url}");
            assert!(url::Url::parse(url).is_ok(), "{name}: {url}");
        }
    }
    assert!(preset("nope").is_none());
}

#[test]
fn preset_fills_what_is_not_explicit() {
    let auth = AuthConfig {
        kind: AuthType::Oauth2,
        provider: Some("google".into()),
        client_id: Some("cid".into()),
        ..AuthConfig::default()
    };
    let r = auth.resolved();
    assert_eq!(
        r.authorize_url.as_deref(),
        Some("https://accounts.google.com/o/oauth2/v2/auth")
    );
    assert_eq!(
        r.token_url.as_deref(),
        Some("https://oauth2.googleapis.com/token")
    );
    assert_eq!(
        r.revoke_url.as_deref(),
        Some("https://oauth2.googleapis.com/revoke")
    );
    assert_eq!(r.scopes, ["openid", "email"]);
    assert_eq!(r.extra_params["access_type"], "offline");
    assert!(r.pkce);
    assert!(!r.rotates_refresh_tokens);
    assert_eq!(r.client_id.as_deref(), Some("cid"));
}

#[test]
fn explicit_keys_win_over_the_preset() {
    let text = format!(
        "{REST}[connectors.auth]\ntype = \"oauth2\"\nprovider = \"atlassian\"\nclient_id = \"c\"\n\
         token_url = \"https://proxy.example/token\"\nscopes = [\"read:me\"]\n\
         extra_params = {{ prompt = \"none\", foo = \"bar\" }}\npkce = false\nrotates_refresh_tokens = false\n"
    );
    let r = parse(&text).connectors[0].auth.resolved();
    assert_eq!(r.token_url.as_deref(), Some("https://proxy.example/token"));
    assert_eq!(
        r.authorize_url.as_deref(),
        Some("https://auth.atlassian.com/authorize")
    );
    assert_eq!(r.scopes, ["read:me"]);
    assert_eq!(r.extra_params["prompt"], "none");
    assert_eq!(r.extra_params["audience"], "api.atlassian.com");
    assert_eq!(r.extra_params["foo"], "bar");
    assert!(!r.pkce);
    assert!(!r.rotates_refresh_tokens);
}

#[test]
fn without_a_preset_defaults_are_safe() {
    let r = AuthConfig::default().resolved();
    assert_eq!(r.kind, AuthType::None);
    assert!(r.authorize_url.is_none() && r.scopes.is_empty() && r.extra_params.is_empty());
    assert!(r.pkce, "PKCE on by default");
    assert!(!r.rotates_refresh_tokens);
}

#[test]
fn every_preset_states_its_wire_format() {
    use super::super::TokenAuthMethod::{ClientSecretBasic, ClientSecretPost, None as Public};
    let expected = [
        ("atlassian", ClientSecretPost, " "),
        ("google", ClientSecretPost, " "),
        ("microsoft", ClientSecretPost, " "),
        ("slack", ClientSecretPost, ","),
        ("github", ClientSecretPost, " "),
        ("notion", ClientSecretBasic, " "),
        ("zoom", ClientSecretBasic, " "),
        ("discord", ClientSecretBasic, " "),
        ("paypal", ClientSecretBasic, " "),
        ("cloudflare", Public, " "),
        ("monday", ClientSecretPost, " "),
        ("loom", ClientSecretPost, " "),
    ];
    for (name, method, sep) in expected {
        let p = preset(name).unwrap();
        assert_eq!(
            (p.token_auth_method, p.scope_separator),
            (method, sep),
            "{name}"
        );
        let r = AuthConfig {
            kind: AuthType::Oauth2,
            provider: Some(name.into()),
            ..AuthConfig::default()
        }
        .resolved();
        assert_eq!(r.token_auth_method, Some(method), "{name}");
        assert_eq!(r.scope_separator, sep, "{name}");
    }
    assert!(preset("paypal").unwrap().token_url.contains("sandbox"));
}

#[test]
fn wire_format_keys_override_the_preset() {
    let text = format!(
        "{REST}[connectors.auth]\ntype = \"oauth2\"\nprovider = \"slack\"\nclient_id = \"c\"\n\
         token_auth_method = \"client_secret_basic\"\nscope_separator = \" \"\n"
    );
    let r = parse(&text).connectors[0].auth.resolved();
    use super::super::TokenAuthMethod;
    assert_eq!(
        r.token_auth_method,
        Some(TokenAuthMethod::ClientSecretBasic)
    );
    assert_eq!(r.scope_separator, " ");
    // No preset and no key: discovery decides the method; scopes join with a space.
    let r = AuthConfig::default().resolved();
    assert_eq!(
        (r.token_auth_method, r.scope_separator.as_str()),
        (None, " ")
    );
}

#[test]
fn a_configured_secret_outranks_a_public_preset() {
    let auth = AuthConfig {
        kind: AuthType::Oauth2,
        provider: Some("cloudflare".into()),
        client_id: Some("c".into()),
        client_secret: Some("s".into()),
        ..AuthConfig::default()
    };
    assert_eq!(auth.resolved().token_auth_method, None);
}

#[test]
fn wire_format_keys_are_validated() {
    use super::{assert_error, error};
    let bad_sep = format!(
        "{REST}[connectors.auth]\ntype = \"oauth2\"\nprovider = \"slack\"\nclient_id = \"c\"\nscope_separator = \";\"\n"
    );
    let e = error(&bad_sep);
    assert_error(
        &e,
        10,
        19,
        "connectors[0].auth.scope_separator",
        &["expected \" \" (RFC 6749) or \",\""],
    );
    let bad_method = format!(
        "{REST}[connectors.auth]\ntype = \"oauth2\"\nprovider = \"slack\"\nclient_id = \"c\"\ntoken_auth_method = \"client_secret_jwt\"\n"
    );
    let e = error(&bad_method);
    assert!(
        e.message
            .contains("`client_secret_basic`, `client_secret_post`, `none`"),
        "{e}"
    );
    let none_with_secret = format!(
        "{REST}[connectors.auth]\ntype = \"oauth2\"\nprovider = \"slack\"\nclient_id = \"c\"\nclient_secret = \"s\"\ntoken_auth_method = \"none\"\n"
    );
    let e = error(&none_with_secret);
    assert!(e.message.contains("remove client_secret"), "{e}");
}
