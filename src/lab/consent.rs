//! The pages a person approves in a real browser: the authorization consent page and the
//! device-code page. Each is a plain HTML form that POSTs back; a scripted browser (the demo's
//! internal one, a test's curl) approves by sending the same POST.

use std::collections::HashMap;

use axum::response::Html;

use crate::text::escape_html as escape;

const STYLE: &str = "<style>body{font-family:system-ui,sans-serif;max-width:32rem;margin:3rem auto;\
padding:0 1rem}button{font-size:1rem;padding:.5rem 1.25rem;margin-right:.5rem}\
code{font-size:1.25rem}</style>";

/// The consent page for an authorization request: who asks, for what, Approve or Deny. The
/// request's parameters ride along as hidden fields, so the POST carries the same request.
pub(crate) fn authorize_page(q: &HashMap<String, String>) -> Html<String> {
    let mut fields: Vec<(&String, &String)> = q.iter().filter(|(k, _)| *k != "decision").collect();
    fields.sort();
    let hidden: String = fields
        .iter()
        .map(|(k, v)| {
            format!(
                "<input type=\"hidden\" name=\"{}\" value=\"{}\">",
                escape(k),
                escape(v)
            )
        })
        .collect();
    let client = q.get("client_id").map_or("", String::as_str);
    let scope = q.get("scope").map_or("(none)", String::as_str);
    Html(format!(
        "<!doctype html><meta charset=\"utf-8\"><title>lab: authorize {client}</title>{STYLE}\
         <h1>Authorize {client}?</h1>\
         <p><b>{client}</b> asks to act as the lab's demo user with the scopes <code>{scope}</code>.</p>\
         <form method=\"post\" action=\"/authorize\">{hidden}\
         <button name=\"decision\" value=\"approve\" autofocus>Approve</button>\
         <button name=\"decision\" value=\"deny\">Deny</button></form>",
        client = escape(client),
        scope = escape(scope),
    ))
}

/// The device page: enter (or confirm) the code, then Approve or Deny.
pub(crate) fn device_page(code: Option<&str>) -> Html<String> {
    let code = escape(code.unwrap_or_default());
    Html(format!(
        "<!doctype html><meta charset=\"utf-8\"><title>lab: device login</title>{STYLE}\
         <h1>Connect a device</h1>\
         <form method=\"post\" action=\"/device\">\
         <p><label>Code shown on the device <input name=\"user_code\" value=\"{code}\" \
         autocomplete=\"off\" required></label></p>\
         <button name=\"action\" value=\"approve\" autofocus>Approve</button>\
         <button name=\"action\" value=\"deny\">Deny</button></form>"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_escaped_in_the_page() {
        let q: HashMap<String, String> = [
            ("client_id".to_owned(), "a\"><script>".to_owned()),
            ("state".to_owned(), "x&y".to_owned()),
        ]
        .into();
        let Html(page) = authorize_page(&q);
        assert!(!page.contains("<script>"), "{page}");
        assert!(page.contains("value=\"x&amp;y\""), "{page}");
        assert!(page.contains("method=\"post\""), "{page}");
    }
}
