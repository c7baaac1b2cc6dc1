//! The scripted browser's one skill beyond following redirects: a consent page that asks a
//! person to approve (the lab's `/authorize` in the demo) is answered by submitting its form
//! with the Approve button, the same POST a person's click sends.

use crate::domain::{ErrorClass, Failure};

/// A consent page's form: where it posts, its hidden fields, and the approving button.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsentForm {
    pub action: String,
    pub fields: Vec<(String, String)>,
}

/// Consent pages are small; anything bigger is not one.
const PAGE_CAP: usize = 256 * 1024;

/// Finds a POST form with a button whose value is `approve`, as the lab's consent page has.
pub fn consent_form(html: &str) -> Option<ConsentForm> {
    let start = html.find("<form method=\"post\"")?;
    let end = html[start..]
        .find("</form>")
        .map_or(html.len(), |e| start + e);
    let form = &html[start..end];
    let action = attr(form, "action")?;
    let mut fields = Vec::new();
    let mut approve = None;
    for tag in form.split('<').skip(1) {
        let is_hidden = tag.starts_with("input") && attr(tag, "type").as_deref() == Some("hidden");
        let is_button = tag.starts_with("button");
        let (Some(name), Some(value)) = (attr(tag, "name"), attr(tag, "value")) else {
            continue;
        };
        if is_hidden {
            fields.push((name, value));
        } else if is_button && value == "approve" {
            approve = Some((name, value));
        }
    }
    fields.push(approve?);
    Some(ConsentForm { action, fields })
}

/// `name="value"` inside one tag, unescaped.
fn attr(tag: &str, name: &str) -> Option<String> {
    let tag = tag.split('>').next().unwrap_or(tag);
    let needle = format!(" {name}=\"");
    let start = tag.find(&needle)? + needle.len();
    let len = tag[start..].find('"')?;
    Some(unescape(&tag[start..start + len]))
}

fn unescape(s: &str) -> String {
    s.replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

/// Opens `url` as a browser would; when the answer is a consent page, approves it. The form is
/// posted only to the page's own origin.
pub async fn open_and_approve(client: &reqwest::Client, url: &str) -> Result<(), Failure> {
    let failed = |m: String| Failure::new(ErrorClass::Connection, m);
    let response = client
        .get(url)
        .send()
        .await
        .map_err(|e| failed(format!("the scripted browser could not open the page: {e}")))?;
    let page_url = response.url().clone();
    let html = response
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/html"));
    if !response.status().is_success() || !html {
        return Ok(());
    }
    let body = super::read_capped(response, PAGE_CAP, "the authorization page").await?;
    let Some(form) = consent_form(&String::from_utf8_lossy(&body)) else {
        return Ok(());
    };
    let action = page_url
        .join(&form.action)
        .map_err(|e| failed(format!("the consent form's action is not a URL: {e}")))?;
    if action.origin() != page_url.origin() {
        return Err(failed(format!(
            "the consent form posts to another origin ({}); not submitted",
            action.origin().ascii_serialization()
        )));
    }
    client
        .post(action)
        .form(&form.fields)
        .send()
        .await
        .map_err(|e| failed(format!("the scripted browser could not approve: {e}")))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_hidden_fields_and_the_approve_button() {
        let page = "<h1>x</h1><form method=\"post\" action=\"/authorize\">\
            <input type=\"hidden\" name=\"scope\" value=\"a b\">\
            <input type=\"hidden\" name=\"state\" value=\"x&amp;y\">\
            <button name=\"decision\" value=\"approve\">Approve</button>\
            <button name=\"decision\" value=\"deny\">Deny</button></form>";
        let form = consent_form(page).expect("a consent form");
        assert_eq!(form.action, "/authorize");
        assert_eq!(
            form.fields,
            [
                ("scope".to_owned(), "a b".to_owned()),
                ("state".to_owned(), "x&y".to_owned()),
                ("decision".to_owned(), "approve".to_owned()),
            ]
        );
    }

    #[test]
    fn a_page_without_an_approve_button_is_not_a_consent_page() {
        assert!(consent_form("<p>You may close this page.</p>").is_none());
        let page = "<form method=\"post\" action=\"/x\"><button name=\"a\" value=\"deny\"></button></form>";
        assert!(consent_form(page).is_none());
    }
}
