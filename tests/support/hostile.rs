//! A scriptable, misbehaving HTTP peer on loopback: raw TCP, so a test can send what no
//! well-behaved framework would (an endless body, CR-only lines, garbage, a stall after the
//! headers, a redirect to another origin). Each test gives it a script: request in, reply out.
//! Every request is recorded, so a test can assert what switchboard sent (and to whom).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// One request as the peer read it.
#[derive(Debug, Clone)]
pub struct Request {
    pub method: String,
    /// Path and query, as sent.
    pub target: String,
    /// Header names lower-cased.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Request {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == &name.to_ascii_lowercase())
            .map(|(_, v)| v.as_str())
    }

    pub fn path(&self) -> &str {
        self.target.split('?').next().unwrap_or("")
    }

    pub fn body_str(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// A form field of an `application/x-www-form-urlencoded` body.
    pub fn form(&self, name: &str) -> Option<String> {
        url::form_urlencoded::parse(&self.body)
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
    }
}

/// What the peer does with one request.
#[derive(Debug, Clone)]
pub enum Reply {
    /// A complete response with `Content-Length`.
    Http {
        status: u16,
        headers: Vec<(String, String)>,
        body: Vec<u8>,
    },
    /// These bytes as they are, then close.
    Raw(Vec<u8>),
    /// A status line and headers, then `chunk` over and over until the client goes away.
    Endless {
        status: u16,
        headers: Vec<(String, String)>,
        chunk: Vec<u8>,
    },
    /// Read the request and never answer (the socket stays open until the test ends).
    Stall,
    /// Wait, then reply.
    After(Duration, Box<Reply>),
    /// Hold the reply until the test adds a permit to the gate: the request has arrived (it is
    /// recorded) and the test acts on the client before the answer is written.
    Gated(Arc<tokio::sync::Semaphore>, Box<Reply>),
}

impl Reply {
    pub fn json(status: u16, body: serde_json::Value) -> Reply {
        Reply::Http {
            status,
            headers: vec![("content-type".into(), "application/json".into())],
            body: body.to_string().into_bytes(),
        }
    }

    pub fn text(status: u16, content_type: &str, body: impl Into<Vec<u8>>) -> Reply {
        Reply::Http {
            status,
            headers: vec![("content-type".into(), content_type.into())],
            body: body.into(),
        }
    }

    pub fn redirect(status: u16, location: &str) -> Reply {
        Reply::Http {
            status,
            headers: vec![("location".into(), location.into())],
            body: Vec::new(),
        }
    }

    pub fn with_header(mut self, name: &str, value: &str) -> Reply {
        match &mut self {
            Reply::Http { headers, .. } | Reply::Endless { headers, .. } => {
                headers.push((name.into(), value.into()))
            }
            _ => {}
        }
        self
    }
}

/// A minimal MCP server's answer to one streamable-HTTP POST, once the caller has checked its
/// credentials: `initialize` at `protocol`, one tool named `tool`, 202 for a notification, `{}`
/// for any other request.
pub fn mcp_answer(req: &Request, protocol: &str, tool: &str) -> Reply {
    let msg: serde_json::Value = serde_json::from_slice(&req.body).unwrap_or_default();
    let id = &msg["id"];
    let result = match msg["method"].as_str().unwrap_or_default() {
        "initialize" => serde_json::json!({
            "protocolVersion": protocol,
            "capabilities": {"tools": {}},
            "serverInfo": {"name": tool, "version": "0"}
        }),
        "tools/list" => {
            serde_json::json!({"tools": [{"name": tool, "inputSchema": {"type": "object"}}]})
        }
        _ if id.is_null() => return Reply::text(202, "text/plain", ""),
        _ => serde_json::json!({}),
    };
    Reply::json(
        200,
        serde_json::json!({"jsonrpc": "2.0", "id": id, "result": result}),
    )
}

type Script = dyn Fn(&Request) -> Reply + Send + Sync;

/// A running hostile peer. Dropping it stops accepting.
pub struct Hostile {
    pub addr: std::net::SocketAddr,
    requests: Arc<Mutex<Vec<Request>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Hostile {
    pub async fn start(script: impl Fn(&Request) -> Reply + Send + Sync + 'static) -> Hostile {
        Self::start_at("127.0.0.1:0", script).await
    }

    /// Like `start`, on a given address: a receiver that comes up where one was down.
    pub async fn start_at(
        addr: &str,
        script: impl Fn(&Request) -> Reply + Send + Sync + 'static,
    ) -> Hostile {
        let listener = TcpListener::bind(addr).await.expect("bind loopback");
        let addr = listener.local_addr().expect("local addr");
        let requests = Arc::new(Mutex::new(Vec::new()));
        let script: Arc<Script> = Arc::new(script);
        let seen = requests.clone();
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let (script, seen) = (script.clone(), seen.clone());
                tokio::spawn(async move {
                    let _ = serve(stream, script, seen).await;
                });
            }
        });
        Hostile {
            addr,
            requests,
            task,
        }
    }

    /// `http://127.0.0.1:PORT` followed by `path`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub fn requests(&self) -> Vec<Request> {
        self.requests.lock().map(|r| r.clone()).unwrap_or_default()
    }

    /// Waits until a request to `path` has arrived; panics after `within` (a hang guard: the
    /// request under test was never sent).
    pub async fn arrived(&self, path: &str, within: Duration) {
        let deadline = tokio::time::Instant::now() + within;
        while self.requests_to(path).is_empty() {
            assert!(
                tokio::time::Instant::now() < deadline,
                "no request to {path} within {within:?}"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// The requests whose path is `path`.
    pub fn requests_to(&self, path: &str) -> Vec<Request> {
        self.requests()
            .into_iter()
            .filter(|r| r.path() == path)
            .collect()
    }
}

impl Drop for Hostile {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn serve(
    mut stream: TcpStream,
    script: Arc<Script>,
    seen: Arc<Mutex<Vec<Request>>>,
) -> std::io::Result<()> {
    // Keep-alive: a client may send several requests on one connection.
    let mut buf = Vec::new();
    loop {
        let Some(request) = read_request(&mut stream, &mut buf).await? else {
            return Ok(());
        };
        if let Ok(mut s) = seen.lock() {
            s.push(request.clone());
        }
        let mut reply = script(&request);
        loop {
            match reply {
                Reply::After(d, next) => {
                    tokio::time::sleep(d).await;
                    reply = *next;
                }
                Reply::Gated(gate, next) => {
                    // Each permit opens the gate for one reply.
                    if let Ok(permit) = gate.acquire().await {
                        permit.forget();
                    }
                    reply = *next;
                }
                Reply::Http {
                    status,
                    headers,
                    body,
                } => {
                    let mut head = status_line(status);
                    for (n, v) in &headers {
                        head.push_str(&format!("{n}: {v}\r\n"));
                    }
                    head.push_str(&format!("content-length: {}\r\n\r\n", body.len()));
                    stream.write_all(head.as_bytes()).await?;
                    stream.write_all(&body).await?;
                    break;
                }
                Reply::Raw(bytes) => {
                    stream.write_all(&bytes).await?;
                    return stream.shutdown().await;
                }
                Reply::Endless {
                    status,
                    headers,
                    chunk,
                } => {
                    let mut head = status_line(status);
                    for (n, v) in &headers {
                        head.push_str(&format!("{n}: {v}\r\n"));
                    }
                    head.push_str("connection: close\r\n\r\n");
                    stream.write_all(head.as_bytes()).await?;
                    loop {
                        stream.write_all(&chunk).await?;
                    }
                }
                Reply::Stall => {
                    // Hold the socket open without answering until the client gives up.
                    let mut sink = [0u8; 1024];
                    while stream.read(&mut sink).await? > 0 {}
                    return Ok(());
                }
            }
        }
    }
}

fn status_line(status: u16) -> String {
    format!("HTTP/1.1 {status} Hostile\r\n")
}

/// Reads one request (headers, then a `Content-Length` body); `None` at a clean end of stream.
async fn read_request(
    stream: &mut TcpStream,
    buf: &mut Vec<u8>,
) -> std::io::Result<Option<Request>> {
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i;
        }
        let mut chunk = [0u8; 4096];
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return Ok(None);
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let mut lines = head.split("\r\n");
    let mut first = lines.next().unwrap_or("").split(' ');
    let method = first.next().unwrap_or("").to_string();
    let target = first.next().unwrap_or("").to_string();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let len = headers
        .iter()
        .find(|(n, _)| n == "content-length")
        .and_then(|(_, v)| v.parse::<usize>().ok())
        .unwrap_or(0);
    let body_start = head_end + 4;
    while buf.len() < body_start + len {
        let mut chunk = [0u8; 4096];
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return Ok(None);
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    let body = buf[body_start..body_start + len].to_vec();
    buf.drain(..body_start + len);
    Ok(Some(Request {
        method,
        target,
        headers,
        body,
    }))
}
