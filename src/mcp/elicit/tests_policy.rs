//! The policies, and the handler through rmcp.

use rmcp::model::{ClientResult, ElicitRequest, ServerRequest};
use rmcp::{ServerHandler, ServiceExt};
use serde_json::json;

use super::*;
use crate::toolkit::elicit::tests_form::sep1034;

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
    let defaults = Elicitor::for_command(ElicitPolicy::Defaults);
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
        Elicitor::for_command(ElicitPolicy::Decline).capability(),
        None
    );
    let defaults = Elicitor::for_command(ElicitPolicy::Defaults)
        .capability()
        .unwrap();
    assert!(defaults.form.is_some() && defaults.url.is_none());
    let ask = Elicitor::for_command(ElicitPolicy::Ask)
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
