//! The forwarder's HTTP client: one POST, one [`Outcome`]. HTTP/1.1 with
//! hyper; TLS (rustls, aws-lc-rs, as the rest of the mesh) when the URL is
//! https, trusting the system's roots, or only `--webhook-ca`'s
//! certificates when it is given (as curl's `--cacert`). Redirects are not
//! followed. What to do with the outcome is [`crate::retry`]'s decision.
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt as _, Full};
use hyper::header::{HeaderValue, CONTENT_TYPE, RETRY_AFTER, USER_AGENT};
use hyper::{Method, Request, Uri};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::{connect::HttpConnector, Client};
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::CertificateDer;

use crate::error::CliError;
use crate::retry::{parse_retry_after, Outcome};

/// The header naming the record a POST carries; the same on every retry
/// and redelivery, so the endpoint can drop duplicates.
pub const IDEMPOTENCY_KEY: &str = "idempotency-key";

/// An endpoint to POST to.
#[derive(Clone)]
pub struct Webhook {
    client: Client<HttpsConnector<HttpConnector>, Full<Bytes>>,
    url: Uri,
    timeout: Duration,
}

impl std::fmt::Debug for Webhook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Webhook").field("url", &self.url).finish()
    }
}

/// Checks `--webhook`: an absolute http or https URL with a host.
pub fn parse_url(url: &str) -> Result<Uri, CliError> {
    let bad = |why: &str| CliError::Usage(format!("--webhook {url:?}: {why}"));
    let uri: Uri = url.parse().map_err(|e| bad(&format!("not a URL ({e})")))?;
    match uri.scheme_str() {
        Some("http" | "https") => {}
        Some(other) => return Err(bad(&format!("scheme {other} is not http or https"))),
        None => return Err(bad("give an absolute http:// or https:// URL")),
    }
    if uri.host().is_none_or(str::is_empty) {
        return Err(bad("no host"));
    }
    Ok(uri)
}

fn roots(ca: Option<&Path>) -> Result<rustls::RootCertStore, CliError> {
    let mut roots = rustls::RootCertStore::empty();
    let certs: Vec<CertificateDer<'static>> = match ca {
        Some(path) => CertificateDer::pem_file_iter(path)
            .and_then(|i| i.collect::<Result<Vec<_>, _>>())
            .map_err(|e| {
                CliError::Usage(format!(
                    "--webhook-ca {}: cannot read PEM certificates: {e}",
                    path.display()
                ))
            })?,
        None => rustls_native_certs::load_native_certs().certs,
    };
    let (added, _) = roots.add_parsable_certificates(certs);
    if added == 0 {
        return Err(CliError::Usage(match ca {
            Some(path) => format!(
                "--webhook-ca {}: no usable certificate in it",
                path.display()
            ),
            None => {
                "no system root certificates found for an https webhook: give --webhook-ca FILE"
                    .into()
            }
        }));
    }
    Ok(roots)
}

impl Webhook {
    /// A client for `url` (checked by [`parse_url`]), each request bounded
    /// by `timeout`. The roots are loaded only for an https URL.
    pub fn new(url: Uri, ca: Option<&Path>, timeout: Duration) -> Result<Self, CliError> {
        let https = url.scheme_str() == Some("https");
        if ca.is_some() && !https {
            return Err(CliError::Usage(
                "--webhook-ca is for an https:// webhook; this one is http://".into(),
            ));
        }
        let roots = if https {
            roots(ca)?
        } else {
            rustls::RootCertStore::empty()
        };
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let tls = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| CliError::Runtime(format!("TLS set-up failed: {e}")))?
            .with_root_certificates(roots)
            .with_no_client_auth();
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http()
            .enable_http1()
            .build();
        let client = Client::builder(hyper_util::rt::TokioExecutor::new()).build(connector);
        Ok(Webhook {
            client,
            url,
            timeout,
        })
    }

    /// POSTs `body` once, waiting at most the request time-out for the
    /// response and its body.
    pub async fn post(&self, content_type: &'static str, key: &str, body: Bytes) -> Outcome {
        let mut request = Request::builder()
            .method(Method::POST)
            .uri(self.url.clone())
            .header(CONTENT_TYPE, content_type)
            .header(
                USER_AGENT,
                concat!("coalition-forward/", env!("CARGO_PKG_VERSION")),
            );
        if let Ok(v) = HeaderValue::from_str(key) {
            request = request.header(IDEMPOTENCY_KEY, v);
        }
        let request = match request.body(Full::new(body)) {
            Ok(r) => r,
            Err(e) => return Outcome::Transport(format!("cannot build the request: {e}")),
        };
        let exchange = async {
            let response = self.client.request(request).await.map_err(|e| {
                let mut msg = e.to_string();
                let mut source = std::error::Error::source(&e);
                while let Some(s) = source {
                    msg.push_str(&format!(": {s}"));
                    source = s.source();
                }
                msg
            })?;
            let code = response.status().as_u16();
            let retry_after = response
                .headers()
                .get(RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(parse_retry_after);
            // Read the body so the connection can be reused.
            let _ = response.into_body().collect().await;
            Ok::<_, String>(Outcome::Status { code, retry_after })
        };
        match tokio::time::timeout(self.timeout, exchange).await {
            Err(_) => Outcome::Timeout,
            Ok(Err(e)) => Outcome::Transport(e),
            Ok(Ok(outcome)) => outcome,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn webhook_urls_are_checked_with_the_flag_named() {
        for ok in [
            "http://127.0.0.1:8080/hook",
            "https://alerts.example/cap?x=1",
        ] {
            assert!(parse_url(ok).is_ok(), "{ok}");
        }
        let table = [
            ("", "not a URL"),
            ("ftp://host/x", "scheme ftp"),
            ("/relative/path", "absolute"),
            ("127.0.0.1:8080", "absolute"),
            ("http://", "not a URL"),
        ];
        for (url, want) in table {
            let msg = parse_url(url).unwrap_err().to_string();
            assert!(
                msg.starts_with("--webhook") && msg.contains(want),
                "{url}: {msg}"
            );
        }
    }

    #[test]
    fn a_private_ca_is_for_https_only_and_must_be_readable() {
        let url = parse_url("http://127.0.0.1:1/").unwrap();
        let e = Webhook::new(url, Some(Path::new("/x.pem")), Duration::from_secs(1)).unwrap_err();
        assert!(e.to_string().contains("--webhook-ca is for an https://"));
        let url = parse_url("https://127.0.0.1:1/").unwrap();
        let e = Webhook::new(
            url,
            Some(Path::new("/nonexistent.pem")),
            Duration::from_secs(1),
        )
        .unwrap_err();
        assert!(
            e.to_string()
                .starts_with("--webhook-ca /nonexistent.pem: cannot read"),
            "{e}"
        );
    }
}
