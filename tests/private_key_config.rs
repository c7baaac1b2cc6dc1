//! `token_auth_method = "private_key_jwt"` keys in the config, through `switchboard config
//! check`: a missing, unreadable or malformed key, a wrong or unsupported `private_key_alg`, a
//! missing key and a secret beside a key are each one located error that never shows the key.

#[path = "support/cli.rs"]
mod cli;
#[path = "support/jwt.rs"]
mod jwt;
mod support;

use cli::{Run, Session};

/// `config check` on a config whose okta connector has `auth_lines`.
fn check(auth_lines: &str, files: &[(&str, &str)]) -> Run {
    let text = format!(
        r#"[[connectors]]
id = "okta"
kind = "rest"
[connectors.rest]
base_url = "https://api.example.com"
[connectors.auth]
type = "client-credentials"
token_url = "https://login.example.com/token"
client_id = "cid"
token_auth_method = "private_key_jwt"
{auth_lines}
"#
    );
    let mut s = Session::new(&text);
    for (name, body) in files {
        std::fs::write(s.dir.path().join(name), body).expect("write");
    }
    s.run(&["config", "check"])
}

const JUNK: &str =
    "-----BEGIN PRIVATE KEY-----\nbm90LWEta2V5LUZpeHR1cmUtOWQ0Mg==\n-----END PRIVATE KEY-----\n";

#[test]
fn a_bad_key_is_a_located_config_error_that_never_shows_the_key() {
    let (es_pem, _) = jwt::es256();
    // The key lines, files beside the config, the key path the error is located at, and why.
    type Case<'a> = (String, Vec<(&'a str, &'a str)>, &'a str, &'a str);
    let cases: Vec<Case> = vec![
        (
            "private_key_file = \"missing.pem\"".into(),
            vec![],
            "connectors[0].auth.private_key_file",
            "cannot read private_key_file",
        ),
        (
            "private_key_file = \"junk.pem\"".into(),
            vec![("junk.pem", JUNK)],
            "connectors[0].auth.private_key_file",
            "not a usable private key",
        ),
        (
            format!("private_key = \"\"\"{JUNK}\"\"\""),
            vec![],
            "connectors[0].auth.private_key",
            "not a usable private key",
        ),
        (
            "private_key_file = \"es.pem\"\nprivate_key_alg = \"RS256\"".into(),
            vec![("es.pem", es_pem.as_str())],
            "connectors[0].auth.private_key_alg",
            "the key is a ES256 key",
        ),
        (
            "private_key_file = \"es.pem\"\nprivate_key_alg = \"HS256\"".into(),
            vec![("es.pem", es_pem.as_str())],
            "connectors[0].auth.private_key_alg",
            "ES256",
        ),
        (String::new(), vec![], "connectors[0].auth", "needs the key"),
        (
            "private_key_file = \"es.pem\"\nclient_secret = \"s\"".into(),
            vec![("es.pem", es_pem.as_str())],
            "connectors[0].auth.client_secret",
            "sends no secret",
        ),
    ];
    for (lines, files, key, why) in cases {
        let run = check(&lines, &files);
        // `config check` exits 2 for a config it refuses, as its --help says.
        assert_eq!(run.code, 2, "{lines}\n{run}");
        assert!(
            run.stderr.contains("config.toml:") && run.stderr.contains(key),
            "not located at {key}:\n{run}"
        );
        assert!(run.stderr.contains(why), "no {why:?}:\n{run}");
        assert!(
            !run.stderr.contains("bm90LWEta2V5"),
            "the key leaked:\n{run}"
        );
        let es_body: String = es_pem.lines().filter(|l| !l.starts_with("-----")).collect();
        assert!(
            !run.stderr.contains(&es_body[..40]),
            "the key leaked:\n{run}"
        );
    }
    // A good key passes, and the key itself is nowhere in the answer.
    let run = check(
        "private_key_file = \"es.pem\"\nprivate_key_alg = \"ES256\"",
        &[("es.pem", &es_pem)],
    );
    assert_eq!(run.code, 0, "{run}");
}
