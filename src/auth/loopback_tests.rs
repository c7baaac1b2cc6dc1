//! The listener against real loopback clients: each test drives a hostile or broken callback
//! before the real one and checks the real one still wins (or the refusal ends the flow).

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

use super::wait_for_code;
use crate::domain::{ErrorClass, Failure};

const STATE: &str = "st4te";
/// Only a bound for a test that would otherwise hang when a guard is gone.
const LIVENESS: Duration = Duration::from_secs(30);

async fn listening() -> (std::net::SocketAddr, JoinHandle<Result<String, Failure>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let task = tokio::spawn(async move { wait_for_code(&listener, STATE).await });
    (addr, task)
}

/// A GET of `target`, as a browser would send it; the status and the body of the answer.
async fn get(addr: std::net::SocketAddr, target: &str) -> (u16, String) {
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(format!("GET {target} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let mut answer = String::new();
    tokio::time::timeout(LIVENESS, s.read_to_string(&mut answer))
        .await
        .expect("the listener answers")
        .unwrap();
    let status = answer
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = answer
        .split("\r\n\r\n")
        .nth(1)
        .unwrap_or_default()
        .to_string();
    (status, body)
}

async fn outcome(task: JoinHandle<Result<String, Failure>>) -> Result<String, Failure> {
    tokio::time::timeout(LIVENESS, task)
        .await
        .expect("the flow ends")
        .unwrap()
}

#[tokio::test]
async fn a_silent_connection_does_not_block_the_real_callback() {
    let (addr, task) = listening().await;
    // Connected first, so a one-at-a-time listener would be stuck reading it.
    let silent = TcpStream::connect(addr).await.unwrap();
    let mut half = TcpStream::connect(addr).await.unwrap();
    half.write_all(b"GET /callback?state=").await.unwrap();

    let (status, _) = get(addr, &format!("/callback?state={STATE}&code=C1")).await;
    assert_eq!(status, 200);
    assert_eq!(outcome(task).await.unwrap(), "C1");
    // Served beside the stalled ones, not after the listener gave up on them.
    let mut byte = [0u8; 1];
    for stalled in [&silent, &half] {
        match stalled.try_read(&mut byte) {
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            other => panic!("a stalled client was dropped before the callback: {other:?}"),
        }
    }
}

#[tokio::test]
async fn an_error_callback_ends_the_flow_and_its_page_escapes_the_description() {
    let (addr, task) = listening().await;
    let (status, body) = get(
        addr,
        &format!(
            "/callback?state={STATE}&error=access_denied&error_description=%3Cscript%3Ealert(1)%3C%2Fscript%3E"
        ),
    )
    .await;
    assert_eq!(status, 400);
    assert!(
        body.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
        "{body}"
    );
    assert!(!body.contains("<script>"), "{body}");
    let f = outcome(task).await.unwrap_err();
    assert_eq!(f.class, ErrorClass::Auth);
    assert!(f.message.contains("access_denied"), "{f}");
}

#[tokio::test]
async fn another_path_is_not_the_callback() {
    let (addr, task) = listening().await;
    let (status, _) = get(addr, &format!("/favicon.ico?state={STATE}&code=EVIL")).await;
    assert_eq!(status, 404);
    get(addr, &format!("/callback?state={STATE}&code=GOOD")).await;
    assert_eq!(outcome(task).await.unwrap(), "GOOD");
}

#[tokio::test]
async fn a_callback_without_a_code_is_refused_and_the_flow_goes_on() {
    let (addr, task) = listening().await;
    let (status, body) = get(addr, &format!("/callback?state={STATE}")).await;
    assert_eq!(status, 400);
    assert!(body.contains("No authorization code"), "{body}");
    get(addr, &format!("/callback?state={STATE}&code=GOOD")).await;
    assert_eq!(outcome(task).await.unwrap(), "GOOD");
}

#[tokio::test]
async fn a_wrong_state_neither_completes_nor_aborts_the_flow() {
    let (addr, task) = listening().await;
    let (status, body) = get(addr, "/callback?state=forged&code=EVIL").await;
    assert_eq!(status, 400);
    assert!(body.contains("state mismatch"), "{body}");
    let (status, _) = get(addr, "/callback?state=forged&error=access_denied").await;
    assert_eq!(status, 400);
    get(addr, &format!("/callback?state={STATE}&code=GOOD")).await;
    assert_eq!(outcome(task).await.unwrap(), "GOOD");
}
