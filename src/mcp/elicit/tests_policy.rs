//! The policies, and the handler through rmcp.

use rmcp::model::{ClientResult, ElicitRequest, JsonObject, ServerRequest};
use rmcp::{ServerHandler, ServiceExt};
use serde_json::json;

use super::*;
use crate::toolkit::elicit::tests_form::sep1034;

/// An operator that records what it is told and answers every prompt with `answer`, noting
/// whether the elicitor's prompt clock was running while it was asked.
#[derive(Default)]
struct Scripted {
    answer: Option<Answer>,
    notices: Mutex<Vec<String>>,
    asked: Mutex<Vec<String>>,
    clock: Mutex<Option<PromptClock>>,
}

impl Scripted {
    fn answering(answer: Answer) -> Arc<Self> {
        Arc::new(Self {
            answer: Some(answer),
            ..Self::default()
        })
    }

    fn notices(&self) -> Vec<String> {
        self.notices.lock().map(|n| n.clone()).unwrap_or_default()
    }

    fn asked(&self) -> Vec<String> {
        self.asked.lock().map(|n| n.clone()).unwrap_or_default()
    }
}

impl Operator for Scripted {
    fn notice(&self, line: &str) {
        if let Ok(mut n) = self.notices.lock() {
            n.push(line.to_string());
        }
    }

    fn ask(&self, ask: OperatorAsk) -> BoxFuture<'static, Answer> {
        let open = self
            .clock
            .lock()
            .ok()
            .and_then(|c| c.as_ref().map(PromptClock::is_open));
        let what = match ask {
            OperatorAsk::Form { server, form, .. } => {
                format!("{server} form {} clock {open:?}", form.fields.len())
            }
            OperatorAsk::Url { server, url, .. } => format!("{server} url {url} clock {open:?}"),
        };
        if let Ok(mut a) = self.asked.lock() {
            a.push(what);
        }
        let answer = self.answer.clone().unwrap_or(Answer::Cancel);
        Box::pin(async move { answer })
    }
}

fn operator() -> Arc<dyn Operator> {
    Arc::new(Scripted::default())
}

#[tokio::test]
async fn policies_answer_without_a_terminal() {
    let form_request = ElicitRequestParams::FormElicitationParams {
        meta: None,
        message: "defaults please".into(),
        requested_schema: sep1034(),
    };
    let url_request = ElicitRequestParams::UrlElicitationParams {
        meta: None,
        message: "open this".into(),
        url: "https://example.com/x".into(),
        elicitation_id: "e1".into(),
    };
    let defaults = Elicitor::for_command(ElicitPolicy::Defaults, operator());
    let answer = defaults.answer("lab", form_request.clone()).await;
    assert_eq!(answer.action, ElicitationAction::Accept);
    assert_eq!(
        answer.content.as_ref().and_then(|c| c.get("age")),
        Some(&json!(30))
    );
    let answer = defaults.answer("lab", url_request).await;
    assert_eq!(answer.action, ElicitationAction::Decline);
    let answer = Elicitor::default().answer("lab", form_request).await;
    assert_eq!(
        (answer.action, answer.content),
        (ElicitationAction::Decline, None)
    );
}

#[test]
fn only_answering_policies_advertise_the_capability() {
    assert_eq!(Elicitor::default().capability(), None);
    assert_eq!(
        Elicitor::for_command(ElicitPolicy::Decline, operator()).capability(),
        None
    );
    let defaults = Elicitor::for_command(ElicitPolicy::Defaults, operator())
        .capability()
        .unwrap();
    assert!(defaults.form.is_some() && defaults.url.is_none());
    let ask = Elicitor::for_command(ElicitPolicy::Ask, operator())
        .capability()
        .unwrap();
    assert!(ask.form.is_some() && ask.url.is_some());
}

#[test]
fn the_prompt_clock_counts_only_open_prompts() {
    let clock = PromptClock::default();
    assert_eq!(clock.spent(), Duration::ZERO);
    let guard = clock.start();
    std::thread::sleep(Duration::from_millis(20));
    assert!(clock.is_open() && clock.spent() >= Duration::from_millis(20));
    drop(guard);
    let spent = clock.spent();
    std::thread::sleep(Duration::from_millis(20));
    assert!(!clock.is_open());
    assert_eq!(clock.spent(), spent);
}

#[derive(Clone)]
struct BareServer;
impl ServerHandler for BareServer {}

/// Through rmcp both ways: the handler advertises what its policy answers, and a server's
/// `elicitation/create` gets the policy's answer.
#[tokio::test]
async fn sessions_advertise_and_answer_as_their_policy_says() -> anyhow::Result<()> {
    for (handler, advertised) in [
        (super::super::SessionHandler::new(None), false),
        (
            super::super::SessionHandler::for_command(Elicitor::for_command(
                ElicitPolicy::Defaults,
                operator(),
            )),
            true,
        ),
    ] {
        let (server_io, client_io) = tokio::io::duplex(64 * 1024);
        let server = tokio::spawn(async move { BareServer.serve(server_io).await });
        let client = handler.serve(client_io).await?;
        let server = server.await??;
        let caps = server.peer().peer_info().map(|i| i.capabilities.clone());
        assert_eq!(caps.and_then(|c| c.elicitation).is_some(), advertised);
        let request = ServerRequest::ElicitRequest(ElicitRequest::new(
            ElicitRequestParams::FormElicitationParams {
                meta: None,
                message: "defaults please".into(),
                requested_schema: sep1034(),
            },
        ));
        let ClientResult::ElicitResult(answer) = server.peer().send_request(request).await? else {
            anyhow::bail!("not an elicitation result");
        };
        let expected = if advertised {
            ElicitationAction::Accept
        } else {
            ElicitationAction::Decline
        };
        assert_eq!(answer.action, expected);
        client.cancel().await?;
        server.cancel().await?;
    }
    Ok(())
}

/// `Ask` hands each request to the front-end's operator, with the prompt clock running, and
/// sends the server what the operator answered.
#[tokio::test]
async fn ask_hands_requests_to_the_operator_and_sends_its_answer() {
    let mut typed = JsonObject::new();
    typed.insert("name".into(), json!("Alice"));
    let scripted = Scripted::answering(Answer::Accept(typed));
    let elicitor = Elicitor::for_command(ElicitPolicy::Ask, scripted.clone());
    if let Ok(mut c) = scripted.clock.lock() {
        *c = Some(elicitor.clock().clone());
    }
    let form_request = ElicitRequestParams::FormElicitationParams {
        meta: None,
        message: "who?".into(),
        requested_schema: sep1034(),
    };
    let answer = elicitor.answer("lab", form_request).await;
    assert_eq!(answer.action, ElicitationAction::Accept);
    assert_eq!(answer.content, Some(json!({"name": "Alice"})));
    let url_request = ElicitRequestParams::UrlElicitationParams {
        meta: None,
        message: "open this".into(),
        url: "https://example.com/x".into(),
        elicitation_id: "e1".into(),
    };
    elicitor.answer("lab", url_request).await;
    assert_eq!(
        scripted.asked(),
        vec![
            "lab form 5 clock Some(true)".to_string(),
            "lab url https://example.com/x clock Some(true)".to_string(),
        ]
    );
    assert!(!elicitor.clock().is_open());

    let declining = Scripted::answering(Answer::Decline);
    let elicitor = Elicitor::for_command(ElicitPolicy::Ask, declining);
    let answer = elicitor
        .answer(
            "lab",
            ElicitRequestParams::FormElicitationParams {
                meta: None,
                message: "who?".into(),
                requested_schema: sep1034(),
            },
        )
        .await;
    assert_eq!(
        (answer.action, answer.content),
        (ElicitationAction::Decline, None)
    );
}

/// Why a request was declined reaches a command's operator (through the front-end, not
/// stderr from here); engine sessions have no operator and tell nobody but the log.
#[tokio::test]
async fn declines_are_told_to_the_operator() {
    let scripted = Arc::new(Scripted::default());
    let elicitor = Elicitor::for_command(ElicitPolicy::Defaults, scripted.clone());
    let url_request = ElicitRequestParams::UrlElicitationParams {
        meta: None,
        message: "open \u{1b}[2Jthis".into(),
        url: "https://example.com/x".into(),
        elicitation_id: "e1".into(),
    };
    let answer = elicitor.answer("lab", url_request).await;
    assert_eq!(answer.action, ElicitationAction::Decline);
    let notices = scripted.notices();
    assert_eq!(notices.len(), 1, "{notices:?}");
    assert!(
        notices[0].starts_with("elicitation from lab: \"open "),
        "{notices:?}"
    );
    assert!(
        notices[0].ends_with(
            "asks to open https://example.com/x: declined (--elicit defaults never opens URLs; --elicit ask asks)"
        ),
        "{notices:?}"
    );
    assert!(!notices[0].contains('\u{1b}'), "{notices:?}");
    assert!(scripted.asked().is_empty());

    let scripted = Arc::new(Scripted::default());
    let elicitor = Elicitor::for_command(ElicitPolicy::Decline, scripted.clone());
    let form_request = ElicitRequestParams::FormElicitationParams {
        meta: None,
        message: "who?".into(),
        requested_schema: sep1034(),
    };
    elicitor.answer("lab", form_request).await;
    assert_eq!(
        scripted.notices(),
        vec!["elicitation from lab: \"who?\": declined (--elicit decline, the default without a terminal; --elicit ask answers at a terminal, --elicit defaults takes the schema's defaults)".to_string()]
    );
}
