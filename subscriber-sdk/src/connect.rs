//! Connecting to a nation's NATS servers: over mutual TLS when the client
//! has TLS files (a generated mesh requires it, and takes the user from the
//! certificate), or with a user and password on a plain server.
use coalition_tls::ClientTls;

use crate::SdkError;

/// Where and as whom to connect.
#[derive(Clone)]
pub(crate) struct ConnectSpec {
    pub servers: Vec<String>,
    pub credentials: Option<(String, String)>,
    pub tls: Option<ClientTls>,
    pub name: String,
}

impl std::fmt::Debug for ConnectSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConnectSpec")
            .field("servers", &self.servers)
            .field("user", &self.credentials.as_ref().map(|(u, _)| u))
            .field("tls", &self.tls.as_ref().map(|t| &t.certificate))
            .finish_non_exhaustive()
    }
}

impl ConnectSpec {
    pub(crate) fn new<S: AsRef<str>>(servers: impl IntoIterator<Item = S>, name: &str) -> Self {
        ConnectSpec {
            servers: servers
                .into_iter()
                .map(|s| s.as_ref().to_string())
                .collect(),
            credentials: None,
            tls: None,
            name: name.to_string(),
        }
    }

    pub(crate) async fn connect(&self) -> Result<async_nats::Client, SdkError> {
        let (user, password) = match &self.credentials {
            Some((u, p)) => (u.clone(), p.clone()),
            None => (String::new(), String::new()),
        };
        // With TLS files, a mesh's server takes the user from the
        // certificate; a user and password are sent only if given.
        let options = match (&self.tls, &self.credentials) {
            (Some(tls), Some(_)) => {
                coalition_tls::connect_options(tls)?.user_and_password(user, password)
            }
            (Some(tls), None) => coalition_tls::connect_options(tls)?,
            (None, Some(_)) => async_nats::ConnectOptions::with_user_and_password(user, password),
            (None, None) => async_nats::ConnectOptions::new(),
        };
        options
            .name(&self.name)
            .connect(self.servers.as_slice())
            .await
            .map_err(|e| {
                SdkError::Connect {
                    source: None,
                    servers: self.servers.join(","),
                    detail: match &self.tls {
                        Some(_) => e.to_string(),
                        None => format!(
                            "{e} (no TLS files were given: a mesh's servers require mutual TLS)"
                        ),
                    },
                }
                .with_source(e)
            })
    }
}
