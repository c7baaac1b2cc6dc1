//! A server's sampling request (`sampling/createMessage`) shown to the operator, who types the
//! reply or declines, as the MCP Inspector does. It travels the elicitation path: the request
//! becomes a one-field form ("your reply") with the conversation as its message, so every
//! front-end that answers elicitation (the console's panel, the command line's prompt) answers
//! sampling too, with the same waits and the same decline when nobody is there.
//!
//! rmcp marks sampling deprecated (SEP-2577); the revisions switchboard speaks still define it.
#![allow(deprecated)]

use rmcp::model::{
    CreateMessageRequestParams, CreateMessageResult, ElicitRequestParams, ErrorData,
};
use serde_json::{Value, json};

use super::elicit::{ElicitPolicy, Elicitor};

/// The model name a reply typed by the operator carries.
pub const OPERATOR_MODEL: &str = "switchboard-operator";
/// Characters of the conversation shown in the question; the rest is in the protocol tab.
const SHOWN: usize = 2_000;

/// Whether sessions announce sampling: only when a person can answer.
pub fn offered(elicit: &Elicitor) -> bool {
    matches!(elicit.policy(), ElicitPolicy::Ask | ElicitPolicy::FrontEnd)
}

/// The conversation the server sent, as the question's text.
pub fn question(params: &CreateMessageRequestParams) -> String {
    let value = serde_json::to_value(params).unwrap_or_default();
    let mut lines = vec![format!(
        "sampling/createMessage (up to {} tokens): the server asks for a model's reply",
        value["maxTokens"]
    )];
    if let Some(system) = value["systemPrompt"].as_str() {
        lines.push(format!("system: {system}"));
    }
    for m in value["messages"].as_array().into_iter().flatten() {
        let role = m["role"].as_str().unwrap_or("?");
        let contents = match &m["content"] {
            Value::Array(items) => items.clone(),
            one => vec![one.clone()],
        };
        for c in contents {
            let text = match c["type"].as_str() {
                Some("text") => c["text"].as_str().unwrap_or_default().to_string(),
                Some(kind) => format!("[{kind}]"),
                None => "[?]".into(),
            };
            lines.push(format!("{role}: {text}"));
        }
    }
    let text = lines.join("\n");
    if text.chars().count() <= SHOWN {
        return text;
    }
    let cut: String = text.chars().take(SHOWN).collect();
    format!("{cut}…")
}

/// Asks the operator through the elicitor; their text becomes the assistant's message.
pub async fn answer(
    elicit: &Elicitor,
    server: &str,
    params: &CreateMessageRequestParams,
) -> Result<CreateMessageResult, ErrorData> {
    let form = json!({
        "mode": "form",
        "message": question(params),
        "requestedSchema": {
            "type": "object",
            "properties": {"reply": {"type": "string", "title": "reply",
                "description": "what the model would answer"}},
            "required": ["reply"]
        }
    });
    let request: ElicitRequestParams = serde_json::from_value(form)
        .map_err(|e| ErrorData::internal_error(format!("cannot ask the operator: {e}"), None))?;
    let answered = elicit.answer(server, request).await;
    let answered = serde_json::to_value(&answered).unwrap_or_default();
    let reply = match answered["action"].as_str() {
        Some("accept") => answered["content"]["reply"].as_str().map(str::to_string),
        _ => None,
    };
    // The spec's code for a request the user rejected.
    let Some(reply) = reply else {
        return Err(ErrorData::new(
            rmcp::model::ErrorCode(-1),
            "the operator declined the sampling request",
            None,
        ));
    };
    let result = json!({
        "role": "assistant",
        "content": {"type": "text", "text": reply},
        "model": OPERATOR_MODEL,
        "stopReason": "endTurn"
    });
    serde_json::from_value(result)
        .map_err(|e| ErrorData::internal_error(format!("cannot build the reply: {e}"), None))
}
