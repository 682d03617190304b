//! The HTTP/1.0 text the monitoring client sends and reads.
//!
//! Pure functions over bytes: building a GET request and splitting a
//! response into status and body. No socket is touched here (see
//! `monitor.rs` for the I/O). Only what nats-server's monitoring endpoint
//! produces for an HTTP/1.0 request is supported: no chunked encoding, no
//! keep-alive, no redirects.

/// A parsed response: the status code and the raw body.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Response<'a> {
    pub(crate) status: u16,
    pub(crate) body: &'a [u8],
}

/// Builds a `GET` request for `path` on `127.0.0.1:port`.
///
/// Refuses paths that do not start with `/` or that contain whitespace or
/// control characters, which would otherwise split or corrupt the request.
pub(crate) fn build_get(port: u16, path: &str) -> Result<String, String> {
    if !path.starts_with('/') {
        return Err(format!("path {path:?} must start with '/'"));
    }
    if path.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(format!(
            "path {path:?} must not contain whitespace or control characters"
        ));
    }
    Ok(format!(
        "GET {path} HTTP/1.0\r\nHost: 127.0.0.1:{port}\r\nAccept: application/json\r\nConnection: close\r\n\r\n"
    ))
}

/// Splits a complete response into status code and body.
pub(crate) fn parse_response(raw: &[u8]) -> Result<Response<'_>, String> {
    let split = find(raw, b"\r\n\r\n")
        .ok_or_else(|| "response has no end of headers (\\r\\n\\r\\n)".to_string())?;
    let head = std::str::from_utf8(&raw[..split])
        .map_err(|_| "response headers are not UTF-8".to_string())?;
    let status_line = head.lines().next().unwrap_or_default();
    let mut parts = status_line.split_whitespace();
    let version = parts.next().unwrap_or_default();
    if !version.starts_with("HTTP/1.") {
        return Err(format!("unexpected status line {status_line:?}"));
    }
    let status = parts
        .next()
        .and_then(|s| s.parse::<u16>().ok())
        .ok_or_else(|| format!("no status code in status line {status_line:?}"))?;
    Ok(Response {
        status,
        body: &raw[split + 4..],
    })
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builds_a_plain_get() {
        let req = build_get(8222, "/varz").expect("valid");
        assert!(req.starts_with("GET /varz HTTP/1.0\r\n"));
        assert!(req.contains("Host: 127.0.0.1:8222\r\n"));
        assert!(req.ends_with("\r\n\r\n"));
    }

    #[test]
    fn refuses_paths_that_would_split_the_request() {
        assert!(build_get(1, "varz").is_err());
        assert!(build_get(1, "/varz HTTP/1.1\r\nX: y").is_err());
        assert!(build_get(1, "/a b").is_err());
        assert!(build_get(1, "/leafz?subs=1").is_ok());
    }

    #[test]
    fn parses_status_and_body() {
        let raw = b"HTTP/1.0 200 OK\r\nContent-Type: application/json\r\n\r\n{\"a\":1}";
        let resp = parse_response(raw).expect("parses");
        assert_eq!(resp.status, 200);
        assert_eq!(resp.body, b"{\"a\":1}");
    }

    #[test]
    fn parses_error_status_with_body() {
        let raw = b"HTTP/1.1 503 Service Unavailable\r\n\r\n{\"status\":\"unavailable\"}";
        let resp = parse_response(raw).expect("parses");
        assert_eq!(resp.status, 503);
        assert_eq!(resp.body, b"{\"status\":\"unavailable\"}");
    }

    #[test]
    fn rejects_truncated_or_foreign_responses() {
        assert!(parse_response(b"HTTP/1.0 200 OK\r\nX: y").is_err());
        assert!(parse_response(b"").is_err());
        assert!(parse_response(b"SSH-2.0-OpenSSH\r\n\r\n").is_err());
        assert!(parse_response(b"HTTP/1.0 abc\r\n\r\n").is_err());
    }
}
