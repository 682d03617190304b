//! A tiny client for nats-server's HTTP monitoring endpoint, and a bounded
//! poller for conditions read from it.
//!
//! Each request is one HTTP/1.0 GET over a fresh loopback connection,
//! bounded by [`REQUEST_TIMEOUT`]. Only 127.0.0.1 is ever contacted. This
//! module does not retry; callers that wait for a state use
//! [`wait_until`], which polls every [`POLL_INTERVAL`].

use std::future::Future;
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::http::{build_get, parse_response};
use crate::HarnessError;

/// Upper bound on one monitoring request, connect to last byte.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

/// How often [`wait_until`] re-evaluates its predicate.
pub const POLL_INTERVAL: Duration = Duration::from_millis(50);

/// Responses larger than this are refused rather than buffered.
const MAX_RESPONSE_BYTES: u64 = 16 * 1024 * 1024;

/// Characters of a non-200 body quoted in an error.
const MAX_QUOTED_BODY: usize = 2000;

/// `GET http://127.0.0.1:{port}{path}` and parse the body as JSON.
///
/// Any status other than 200 is an error carrying the body; this is how a
/// `503` from `/healthz` (server not ready, with its reason) is reported.
pub async fn get_json(port: u16, path: &str) -> Result<Value, HarnessError> {
    let fail = |detail: String| HarnessError::Monitor {
        port,
        path: path.to_string(),
        detail,
    };
    let request = build_get(port, path).map_err(fail)?;
    let raw = tokio::time::timeout(REQUEST_TIMEOUT, exchange(port, &request))
        .await
        .map_err(|_| fail(format!("no complete response within {REQUEST_TIMEOUT:?}")))?
        .map_err(|e| fail(e.to_string()))?;
    let response = parse_response(&raw).map_err(fail)?;
    if response.status != 200 {
        return Err(fail(format!(
            "HTTP status {}, body: {}",
            response.status,
            quote_body(response.body)
        )));
    }
    serde_json::from_slice(response.body).map_err(|e| {
        fail(format!(
            "body is not JSON ({e}): {}",
            quote_body(response.body)
        ))
    })
}

/// Sends `request` and reads the whole response (the server closes the
/// connection after an HTTP/1.0 response).
async fn exchange(port: u16, request: &str) -> std::io::Result<Vec<u8>> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).await?;
    stream.write_all(request.as_bytes()).await?;
    let mut raw = Vec::new();
    let mut limited = (&mut stream).take(MAX_RESPONSE_BYTES + 1);
    limited.read_to_end(&mut raw).await?;
    if raw.len() as u64 > MAX_RESPONSE_BYTES {
        return Err(std::io::Error::other(format!(
            "response larger than {MAX_RESPONSE_BYTES} bytes"
        )));
    }
    Ok(raw)
}

fn quote_body(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let trimmed = text.trim();
    match trimmed.char_indices().nth(MAX_QUOTED_BODY) {
        Some((cut, _)) => format!("{}…", &trimmed[..cut]),
        None => trimmed.to_string(),
    }
}

/// True when `GET /healthz` answers 200 with `{"status":"ok"}`; false on
/// any error, including a refused connection.
pub async fn healthz_ok(port: u16) -> bool {
    match get_json(port, "/healthz").await {
        Ok(v) => v.get("status").and_then(Value::as_str) == Some("ok"),
        Err(_) => false,
    }
}

/// The number of routes in the server's cluster (`num_routes` of `/routez`).
pub async fn route_count(port: u16) -> Result<usize, HarnessError> {
    let v = get_json(port, "/routez").await?;
    count_field(port, "/routez", &v, "num_routes")
}

/// The number of client connections (`connections` of `/varz`).
pub async fn connection_count(port: u16) -> Result<usize, HarnessError> {
    let v = get_json(port, "/varz").await?;
    count_field(port, "/varz", &v, "connections")
}

/// The local account of every leaf-node connection (`leafs[].account` of
/// `/leafz`), in the server's order. Its length is the number of leaves.
pub async fn leaf_accounts(port: u16) -> Result<Vec<String>, HarnessError> {
    let v = get_json(port, "/leafz").await?;
    let missing = |detail: &str| HarnessError::Monitor {
        port,
        path: "/leafz".to_string(),
        detail: detail.to_string(),
    };
    let leafs = match v.get("leafs") {
        Some(Value::Array(leafs)) => leafs,
        Some(Value::Null) | None => return Ok(Vec::new()),
        Some(_) => return Err(missing("`leafs` is not an array")),
    };
    leafs
        .iter()
        .map(|leaf| {
            leaf.get("account")
                .and_then(Value::as_str)
                .map(str::to_string)
                .ok_or_else(|| missing("a `leafs` entry has no string `account`"))
        })
        .collect()
}

fn count_field(port: u16, path: &str, v: &Value, field: &str) -> Result<usize, HarnessError> {
    v.get(field)
        .and_then(Value::as_u64)
        .and_then(|n| usize::try_from(n).ok())
        .ok_or_else(|| HarnessError::Monitor {
            port,
            path: path.to_string(),
            detail: format!("response has no unsigned integer `{field}`"),
        })
}

/// Polls `f` every [`POLL_INTERVAL`] until it returns true, for at most
/// `timeout` in total (a hanging predicate is cut off too).
///
/// On timeout returns [`HarnessError::Timeout`] naming `what`.
pub async fn wait_until<F, Fut>(what: &str, timeout: Duration, mut f: F) -> Result<(), HarnessError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let poll = async {
        loop {
            if f().await {
                return;
            }
            tokio::time::sleep(POLL_INTERVAL).await;
        }
    };
    tokio::time::timeout(timeout, poll)
        .await
        .map_err(|_| HarnessError::Timeout {
            what: what.to_string(),
            waited: timeout,
        })
}
