//! Connecting to a nation's NATS servers with a user and password.
use crate::SdkError;

/// Where and as whom to connect.
#[derive(Clone)]
pub(crate) struct ConnectSpec {
    pub servers: Vec<String>,
    pub credentials: Option<(String, String)>,
    pub name: String,
}

impl std::fmt::Debug for ConnectSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConnectSpec")
            .field("servers", &self.servers)
            .field("user", &self.credentials.as_ref().map(|(u, _)| u))
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
            name: name.to_string(),
        }
    }

    pub(crate) async fn connect(&self) -> Result<async_nats::Client, SdkError> {
        let options = match &self.credentials {
            Some((user, password)) => {
                async_nats::ConnectOptions::with_user_and_password(user.clone(), password.clone())
            }
            None => async_nats::ConnectOptions::new(),
        };
        options
            .name(&self.name)
            .connect(self.servers.as_slice())
            .await
            .map_err(|e| SdkError::Connect {
                servers: self.servers.join(","),
                detail: e.to_string(),
            })
    }
}
