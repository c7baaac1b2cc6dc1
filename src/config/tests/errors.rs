//! Every error a user can make gives one line with line, column, key path and what to do.

use super::{REST, assert_error, error};

#[test]
fn typo_in_key_suggests_the_closest() {
    let text = format!(
        "{REST}[connectors.auth]\ntype = \"oauth2\"\ntoken_url = \"https://x.example/t\"\nclinet_id = \"abc\"\n"
    );
    let e = error(&text);
    assert_error(
        &e,
        9,
        1,
        "connectors[0].auth.clinet_id",
        &[
            "unknown field `clinet_id`",
            "`client_id`,",
            "did you mean `client_id`?",
        ],
    );
    assert!(
        e.to_string()
            .starts_with("config.toml:9:1: connectors[0].auth.clinet_id: unknown field")
    );
}

#[test]
fn typo_in_top_level_table() {
    let e = error("[consle]\ntheme = \"x\"\n");
    assert_error(
        &e,
        1,
        2,
        "consle",
        &["unknown field `consle`", "did you mean `console`?"],
    );
}

#[test]
fn unknown_variant_suggests_and_lists() {
    let text = format!("{REST}[connectors.auth]\ntype = \"oauth\"\n");
    let e = error(&text);
    assert_error(
        &e,
        7,
        8,
        "connectors[0].auth.type",
        &[
            "unknown variant `oauth`",
            "`none`, `bearer`, `oauth2`, `client-credentials`, `mcp`",
            "did you mean `oauth2`?",
        ],
    );
}

#[test]
fn wrong_type_says_what_is_expected() {
    let text = format!("{REST}[connectors.schedule]\nprobe = 30\n");
    let e = error(&text);
    assert_error(
        &e,
        7,
        9,
        "connectors[0].schedule.probe",
        &[
            "invalid type: integer `30`",
            "expected a duration like \"30s\"",
        ],
    );
    let e = error("[console]\ntheme = true\n");
    assert_error(&e, 2, 9, "console.theme", &["expected a string"]);
}

#[test]
fn bad_duration_points_at_the_value() {
    let text = format!("{REST}[connectors.schedule]\nprobe = \"30 parsecs\"\n");
    let e = error(&text);
    assert_error(
        &e,
        7,
        9,
        "connectors[0].schedule.probe",
        &[
            "\"30 parsecs\"",
            "unknown unit `parsecs`",
            "6-field cron expression like \"0 */5 * * * *\"",
        ],
    );
    let text = format!("{REST}[connectors.schedule]\nrefresh_lead = \"soon\"\n");
    let e = error(&text);
    assert_error(
        &e,
        7,
        16,
        "connectors[0].schedule.refresh_lead",
        &["\"soon\"", "\"5m\""],
    );
}

#[test]
fn invalid_id() {
    let e = error(&REST.replace("id = \"a\"", "id = \"jira prod\""));
    assert_error(
        &e,
        2,
        6,
        "connectors[0].id",
        &["\"jira prod\"", "letters, digits, '-' and '_'"],
    );
    let e = error(&REST.replace("id = \"a\"", "id = \"\""));
    assert_error(&e, 2, 6, "connectors[0].id", &["letters, digits"]);
}

#[test]
fn duplicate_id_points_at_the_second() {
    let e = error(&format!("{REST}\n{REST}"));
    assert_error(
        &e,
        8,
        6,
        "connectors[1].id",
        &["duplicate connector id `a`", "connectors[0] at line 2"],
    );
}

#[test]
fn missing_required_key_points_at_its_table() {
    let e = error("[[connectors]]\nkind = \"rest\"\n");
    assert_error(&e, 1, 1, "connectors[0]", &["missing field `id`"]);
    let e = error(
        "[[connectors]]\nid = \"a\"\nkind = \"mcp\"\n[connectors.mcp]\nurl = \"https://x.example\"\n",
    );
    assert_error(
        &e,
        4,
        1,
        "connectors[0].mcp",
        &["missing field `transport`"],
    );
}

#[test]
fn mcp_kind_needs_mcp_table() {
    let e = error("[[connectors]]\nid = \"a\"\nkind = \"mcp\"\n");
    assert_error(
        &e,
        3,
        8,
        "connectors[0].mcp",
        &["kind = \"mcp\" needs a [connectors.mcp] table"],
    );
}

#[test]
fn rest_kind_needs_rest_table() {
    let e = error("[[connectors]]\nid = \"a\"\nkind = \"rest\"\n");
    assert_error(
        &e,
        3,
        8,
        "connectors[0].rest",
        &["needs a [connectors.rest] table"],
    );
}

#[test]
fn http_transport_needs_url() {
    let e = error(
        "[[connectors]]\nid = \"a\"\nkind = \"mcp\"\nmcp = { transport = \"streamable-http\" }\n",
    );
    assert_error(
        &e,
        4,
        21,
        "connectors[0].mcp.url",
        &["transport \"streamable-http\" needs url"],
    );
    let e = error(
        "[[connectors]]\nid = \"a\"\nkind = \"mcp\"\n[connectors.mcp]\ntransport = \"sse\"\n",
    );
    assert_error(&e, 5, 13, "connectors[0].mcp.url", &["\"sse\" needs url"]);
}

#[test]
fn stdio_needs_command() {
    let e = error(
        "[[connectors]]\nid = \"a\"\nkind = \"mcp\"\n[connectors.mcp]\ntransport = \"stdio\"\nargs = [\"x\"]\n",
    );
    assert_error(
        &e,
        5,
        13,
        "connectors[0].mcp.command",
        &["\"stdio\" needs command"],
    );
}

#[test]
fn bearer_needs_token() {
    let e = error(&format!("{REST}[connectors.auth]\ntype = \"bearer\"\n"));
    assert_error(&e, 7, 8, "connectors[0].auth.token", &["needs token"]);
}

#[test]
fn oauth2_needs_an_endpoint_and_a_client_id() {
    let e = error(&format!(
        "{REST}[connectors.auth]\ntype = \"oauth2\"\nclient_id = \"c\"\n"
    ));
    assert_error(
        &e,
        7,
        8,
        "connectors[0].auth.token_url",
        &["token_url, issuer or provider"],
    );
    let e = error(&format!(
        "{REST}[connectors.auth]\ntype = \"oauth2\"\nissuer = \"https://id.example\"\n"
    ));
    assert_error(
        &e,
        7,
        8,
        "connectors[0].auth.client_id",
        &["needs client_id"],
    );
    let e = error(&format!(
        "{REST}[connectors.auth]\ntype = \"client-credentials\"\nprovider = \"paypal\"\nclient_id = \"c\"\n"
    ));
    assert_error(
        &e,
        7,
        8,
        "connectors[0].auth.client_secret",
        &["needs client_secret"],
    );
}

#[test]
fn unknown_provider_lists_known_ones() {
    let e = error(&format!(
        "{REST}[connectors.auth]\ntype = \"oauth2\"\nprovider = \"gogle\"\nclient_id = \"c\"\n"
    ));
    assert_error(
        &e,
        8,
        12,
        "connectors[0].auth.provider",
        &[
            "unknown provider `gogle`",
            "`atlassian`, `google`",
            "`loom`",
            "did you mean `google`?",
        ],
    );
}

#[test]
fn bad_url() {
    let e = error(&REST.replace("https://x.example", "x.example/api"));
    assert_error(
        &e,
        5,
        12,
        "connectors[0].rest.base_url",
        &["not an http(s) URL"],
    );
}

#[test]
fn errors_name_the_right_connector() {
    let second = REST.replace("id = \"a\"", "id = \"b\"");
    let e = error(&format!(
        "{REST}\n{second}[connectors.auth]\ntype = \"bearer\"\n"
    ));
    assert_error(&e, 13, 8, "connectors[1].auth.token", &["needs token"]);
}

#[test]
fn syntax_errors_are_located() {
    let e = error("[console]\ntheme = \"default\n");
    assert_eq!(e.line, Some(2), "{e}");
    assert!(e.message.contains("invalid basic string"), "{e}");

    let e = error("[[connectors]]\nid = \"a\"\nid = \"b\"\n");
    assert_eq!((e.line, e.column), (Some(3), Some(1)), "{e}");
    assert_eq!(e.key.as_deref(), Some("connectors[0].id"), "{e}");
    assert!(e.message.contains("duplicate key"), "{e}");

    let e = error("[[connectors]\n");
    assert_eq!(e.line, Some(1), "{e}");
}

#[test]
fn unreadable_file_names_the_file() {
    let path = std::path::Path::new("/nonexistent/switchboard/config.toml");
    let Err(e) = super::super::load(path) else {
        panic!("loaded a file that does not exist");
    };
    assert_eq!(e.file.as_deref(), Some(path));
    assert_eq!(e.line, None);
    let shown = e.to_string();
    assert!(
        shown.starts_with("/nonexistent/switchboard/config.toml: cannot read config file:"),
        "{shown}"
    );
}

#[test]
fn duplicate_table_is_located() {
    let e = error("[console]\ntheme = \"a\"\n[console]\n");
    assert_eq!(e.line, Some(3), "{e}");
    assert!(e.message.contains("duplicate"), "{e}");
}

#[test]
fn mcp_auth_needs_an_http_transport() {
    let e = error(
        "[[connectors]]\nid = \"a\"\nkind = \"mcp\"\n[connectors.mcp]\ntransport = \"stdio\"\ncommand = \"x\"\n[connectors.auth]\ntype = \"mcp\"\n",
    );
    assert_error(
        &e,
        8,
        8,
        "connectors[0].auth.type",
        &["needs an HTTP transport"],
    );
}

#[test]
fn a_root_that_is_not_a_uri_is_located() {
    let text = "[[connectors]]\nid = \"fs\"\nkind = \"mcp\"\n[connectors.mcp]\ntransport = \"stdio\"\ncommand = \"srv\"\nroots = [\"file:///ok\", \"../relative\"]\n";
    let e = error(text);
    let shown = e.to_string();
    assert!(shown.contains("connectors[0].mcp.roots"), "{shown}");
    assert!(shown.contains("`../relative` is not a URI"), "{shown}");
    assert!(shown.contains("file:///path/to/dir"), "{shown}");
    assert!(shown.starts_with("config.toml:7:"), "{shown}");
}
