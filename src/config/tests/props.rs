//! Property tests for config loading: whatever the file holds, loading answers with a config or
//! one located line, never a panic; and a value that came from `${VAR}` never shows in that
//! line.

use std::path::Path;

use proptest::prelude::*;

use super::super::{ConfigError, parse_str};

/// Every key the schema knows, with the table it lives in.
const KEYS: &[(&str, &str)] = &[
    ("console", "theme"),
    ("connectors", "id"),
    ("connectors", "name"),
    ("connectors", "kind"),
    ("connectors.rest", "base_url"),
    ("connectors.rest", "health_path"),
    ("connectors.rest", "expect_status"),
    ("connectors.mcp", "transport"),
    ("connectors.mcp", "url"),
    ("connectors.mcp", "command"),
    ("connectors.mcp", "args"),
    ("connectors.mcp", "env"),
    ("connectors.auth", "type"),
    ("connectors.auth", "provider"),
    ("connectors.auth", "issuer"),
    ("connectors.auth", "authorize_url"),
    ("connectors.auth", "token_url"),
    ("connectors.auth", "revoke_url"),
    ("connectors.auth", "device_url"),
    ("connectors.auth", "client_id"),
    ("connectors.auth", "client_secret"),
    ("connectors.auth", "scopes"),
    ("connectors.auth", "token"),
    ("connectors.auth", "redirect_port"),
    ("connectors.auth", "extra_params"),
    ("connectors.auth", "pkce"),
    ("connectors.auth", "rotates_refresh_tokens"),
    ("connectors.auth", "token_auth_method"),
    ("connectors.auth", "scope_separator"),
    ("connectors.auth", "client_metadata_url"),
    ("connectors.schedule", "probe"),
    ("connectors.schedule", "refresh_lead"),
    ("connectors.schedule", "refresh_share"),
    ("connectors.schedule", "refresh_attempts"),
    ("connectors.schedule", "refresh_idle"),
    ("connectors.health", "down_after"),
    ("connectors.health", "up_after"),
    ("connectors.health", "max_backoff"),
    ("store", "raw_retention"),
    ("store", "rollup_retention"),
    ("store", "refresh_lease"),
];

/// A config that loads, with `key` in `table` set to `value` (replacing any default line).
fn with_value(table: &str, key: &str, value: &str) -> String {
    let base: [(&str, &[(&str, &str)]); 5] = [
        ("console", &[("theme", "\"default\"")]),
        (
            "connectors",
            &[("id", "\"a\""), ("kind", "\"rest\""), ("name", "\"A\"")],
        ),
        ("connectors.rest", &[("base_url", "\"https://x.example\"")]),
        (
            "connectors.auth",
            &[
                ("type", "\"oauth2\""),
                ("client_id", "\"cid\""),
                ("token_url", "\"https://as.example/token\""),
            ],
        ),
        ("connectors.schedule", &[("probe", "\"30s\"")]),
    ];
    let mut out = String::new();
    let mut placed = false;
    for (t, lines) in base {
        out.push_str(&match t {
            "console" => "[console]\n".to_owned(),
            "connectors" => "[[connectors]]\n".to_owned(),
            other => format!("[{other}]\n"),
        });
        for (k, v) in lines {
            if t == table && *k == key {
                continue;
            }
            out.push_str(&format!("{k} = {v}\n"));
        }
        if t == table || (table == "connectors.mcp" && t == "connectors") {
            if table == "connectors.mcp" {
                out.push_str("[connectors.mcp]\n");
            }
            out.push_str(&format!("{key} = {value}\n"));
            placed = true;
        }
    }
    if !placed {
        // Tables the base does not have come last: `[connectors.health]` then belongs to the
        // one connector, `[store]` is top level.
        out.push_str(&format!("[{table}]\n{key} = {value}\n"));
    }
    out
}

/// A TOML literal of any type, including strings of any characters.
fn toml_value() -> impl Strategy<Value = String> {
    let leaf = prop_oneof![
        any::<String>().prop_map(|s| toml_string(&s)),
        "[a-z0-9:/._ -]{0,24}".prop_map(|s| toml_string(&s)),
        any::<i64>().prop_map(|i| i.to_string()),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(|f| format!("{f:?}")),
        any::<bool>().prop_map(|b| b.to_string()),
        Just("1979-05-27T07:32:00Z".to_owned()),
    ];
    leaf.prop_recursive(2, 8, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(|v| format!("[{}]", v.join(", "))),
            prop::collection::vec(("[a-z_]{1,8}", inner), 0..3).prop_map(|kv| {
                let body: Vec<String> = kv.iter().map(|(k, v)| format!("{k} = {v}")).collect();
                format!("{{ {} }}", body.join(", "))
            }),
        ]
    })
}

/// `s` as a TOML basic string (escaped so any content survives).
fn toml_string(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 || c == '\u{7f}' => {
                out.push_str(&format!("\\u{:04X}", c as u32))
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Loading answered; an error is one line with the file, a line and a column.
fn assert_one_located_line(result: &Result<crate::config::Config, ConfigError>) {
    if let Err(e) = result {
        let shown = e.to_string();
        assert!(!shown.contains('\n') && !shown.contains('\r'), "{shown:?}");
        assert!(shown.starts_with("config.toml:"), "{shown}");
        assert!(
            e.line.is_some() && e.column.is_some(),
            "not located: {shown}"
        );
    }
}

fn load(
    text: &str,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<crate::config::Config, ConfigError> {
    parse_str(text, Some(Path::new("config.toml")), env)
}

/// Pieces of TOML and of our schema, shuffled: closer to a broken config than random bytes.
fn tomlish() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        Just("[[connectors]]\n".to_owned()),
        Just("[connectors.auth]\n".to_owned()),
        Just("[connectors.rest]\n".to_owned()),
        Just("[console]\n".to_owned()),
        Just("[".to_owned()),
        Just("]]".to_owned()),
        Just(" = ".to_owned()),
        Just("\n".to_owned()),
        Just("\"${".to_owned()),
        Just("}\"".to_owned()),
        prop::sample::select(KEYS).prop_map(|(_, k)| k.to_owned()),
        toml_value(),
        any::<String>(),
    ];
    prop::collection::vec(piece, 0..24).prop_map(|v| v.concat())
}

/// A secret: long enough to be one, from characters that need escaping as well as plain ones.
fn secret() -> impl Strategy<Value = String> {
    prop::collection::vec(
        prop_oneof![
            8 => prop::char::range('a', 'z'),
            4 => prop::char::range('A', 'Z'),
            4 => prop::char::range('0', '9'),
            1 => prop::sample::select(vec!['"', '\\', '`', '\'', '\n', '\t', ' ', '$', '{', '}', 'é', '\u{1b}']),
        ],
        8..40,
    )
    .prop_map(|v| v.into_iter().collect())
    .prop_filter("does not start or end in a blank", |s: &String| s.trim() == s)
}

/// The forms of `secret` a message could carry: as is, as Rust/serde escape it, and each line
/// of it long enough to identify it (messages are folded to one line).
fn forms(secret: &str) -> Vec<String> {
    let debug = format!("{secret:?}");
    let mut out = vec![secret.to_owned(), debug[1..debug.len() - 1].to_owned()];
    out.extend(
        secret
            .lines()
            .map(str::trim)
            .filter(|p| p.chars().count() >= 4)
            .map(str::to_owned),
    );
    out
}

proptest! {
    #[test]
    fn arbitrary_text_never_panics_and_errors_are_one_located_line(text in tomlish()) {
        assert_one_located_line(&load(&text, &|_| None));
    }

    #[test]
    fn arbitrary_values_in_known_keys_are_answered_on_one_line(
        (table, key) in prop::sample::select(KEYS),
        value in toml_value(),
    ) {
        let text = with_value(table, key, &value);
        assert_one_located_line(&load(&text, &|_| None));
    }

    #[test]
    fn a_secret_from_the_environment_never_shows_in_an_error(
        (table, key) in prop::sample::select(KEYS),
        secret in secret(),
        shape in prop::sample::select(vec![
            "\"${S3CRET_VAR}\"",
            "\"prefix-${S3CRET_VAR}\"",
            "[\"${S3CRET_VAR}\"]",
            "{ k = \"${S3CRET_VAR}\" }",
        ]),
    ) {
        let text = with_value(table, key, shape);
        for form in forms(&secret) {
            prop_assume!(!text.contains(&form));
        }
        let env = |name: &str| (name == "S3CRET_VAR").then(|| secret.clone());
        let result = load(&text, &env);
        assert_one_located_line(&result);
        if let Err(e) = &result {
            let shown = e.to_string();
            for form in forms(&secret) {
                prop_assert!(!shown.contains(&form), "{form:?} in {shown}");
            }
        }
    }
}
