//! `${VAR}` interpolation.

use super::super::interp::expand;
use super::{REST, assert_error, error, parse, parse_with};

fn env(name: &str) -> Option<String> {
    match name {
        "HOST" => Some("api.example".into()),
        "TOKEN" => Some("s3cret".into()),
        _ => None,
    }
}

fn run(s: &str) -> (Result<Option<String>, String>, Vec<String>) {
    let mut missing = Vec::new();
    (expand(s, &env, &mut missing), missing)
}

#[test]
fn expands_escapes_and_leaves_plain_strings_alone() {
    assert_eq!(run("plain"), (Ok(None), vec![]));
    assert_eq!(
        run("https://${HOST}/v1"),
        (Ok(Some("https://api.example/v1".into())), vec![])
    );
    assert_eq!(
        run("$${HOST} costs $5"),
        (Ok(Some("${HOST} costs $5".into())), vec![])
    );
    assert_eq!(
        run("${HOST}${TOKEN}"),
        (Ok(Some("api.examples3cret".into())), vec![])
    );
}

#[test]
fn unset_variables_are_collected_once_and_left_in_place() {
    let (out, missing) = run("${A}-${B}-${A}-${HOST}");
    assert_eq!(out, Ok(Some("${A}-${B}-${A}-api.example".into())));
    assert_eq!(missing, vec!["A".to_owned(), "B".to_owned()]);
}

#[test]
fn malformed_references_are_errors() {
    assert!(run("${HOST").0.unwrap_err().contains("unterminated `${`"));
    assert!(run("${}").0.unwrap_err().contains("empty variable name"));
    assert!(
        run("${A B}")
            .0
            .unwrap_err()
            .contains("invalid variable name `A B`")
    );
    assert!(
        run("${1A}")
            .0
            .unwrap_err()
            .contains("invalid variable name")
    );
}

#[test]
fn malformed_reference_is_located() {
    let e = error(&format!(
        "{REST}[connectors.auth]\ntype = \"bearer\"\ntoken = \"${{TOKEN\"\n"
    ));
    assert_error(&e, 8, 9, "connectors[0].auth.token", &["unterminated `${`"]);
    let e = error(&format!(
        "{REST}[connectors.mcp]\ntransport = \"stdio\"\ncommand = \"x\"\nargs = [\"ok\", \"${{}}\"]\n"
    ));
    assert_error(
        &e,
        9,
        15,
        "connectors[0].mcp.args[1]",
        &["empty variable name"],
    );
}

#[test]
fn every_string_in_a_connector_is_interpolated() {
    let text = r#"
[[connectors]]
id = "a"
name = "${NAME}"
kind = "mcp"
[connectors.mcp]
transport = "stdio"
command = "${CMD}"
args = ["--token", "${TOKEN}"]
env = { KEY = "${TOKEN}" }
[connectors.auth]
type = "bearer"
token = "${TOKEN}"
"#;
    let c = parse_with(
        text,
        &[("NAME", "Alpha"), ("CMD", "server"), ("TOKEN", "t0k")],
    )
    .unwrap();
    let a = &c.connectors[0];
    assert!(a.missing_env.is_empty());
    assert_eq!(a.display_name(), "Alpha");
    let mcp = a.mcp.as_ref().unwrap();
    assert_eq!(mcp.command.as_deref(), Some("server"));
    assert_eq!(mcp.args, ["--token", "t0k"]);
    assert_eq!(mcp.env["KEY"], "t0k");
    assert_eq!(a.auth.token.as_ref().map(|t| t.expose()), Some("t0k"));
}

#[test]
fn unset_variable_disables_only_its_connector() {
    let second = REST.replace("id = \"a\"", "id = \"b\"");
    let text = format!(
        "{REST}[connectors.auth]\ntype = \"bearer\"\ntoken = \"${{TOKEN_A}}\"\n\n{second}\
         [connectors.auth]\ntype = \"oauth2\"\ntoken_url = \"https://${{HOST_B}}/token\"\n\
         client_id = \"${{ID_B}}\"\nclient_secret = \"${{HOST_B}}\"\n"
    );
    let c = parse_with(&text, &[("TOKEN_A", "t")]).unwrap();
    assert!(c.connectors[0].is_configured());
    assert_eq!(c.connectors[0].not_configured(), None);
    assert_eq!(
        c.connectors[1].not_configured().as_deref(),
        Some("not configured: set HOST_B, ID_B")
    );
    assert_eq!(c.connectors[1].missing_env, ["HOST_B", "ID_B"]);
    assert_eq!(c.connectors[1].auth.client_id.as_deref(), Some("${ID_B}"));
}

#[test]
fn console_variables_must_be_set() {
    let e = error("[console]\ntheme = \"${THEME}\"\n");
    assert_error(
        &e,
        2,
        9,
        "console.theme",
        &["environment variable `THEME` is not set"],
    );
    let c = parse_with("[console]\ntheme = \"${THEME}\"\n", &[("THEME", "dark")]).unwrap();
    assert_eq!(c.console.theme, "dark");
    assert_eq!(parse("").console.theme, "default");
}
