//! The subject grammar: one enum that every subject of the wire contract
//! is built from ([`std::fmt::Display`]) and parsed into
//! ([`Subject::parse`]), with errors that say which token is wrong.
use super::topic::AlertTopic;
use super::Kind;

/// Whether `token` is usable as one subject token here: non-empty,
/// ASCII letters, digits, `-` and `_` only.
pub fn is_token(token: &str) -> bool {
    !token.is_empty()
        && token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// A control-plane subject (`ctl.…`, stream CONTROL).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ControlSubject {
    /// `ctl.policy.<nation>.<version>`
    Policy {
        /// The nation whose policy it is.
        nation: String,
        /// Its version.
        version: u32,
    },
    /// `ctl.translator.<id>.<version>`
    Translator {
        /// The translator id (`<from>-<to>`).
        id: String,
        /// Its version.
        version: u32,
    },
    /// `ctl.notice.<issuer>.<epoch>`
    Notice {
        /// The issuing nation.
        issuer: String,
        /// The notice's epoch.
        epoch: u64,
    },
    /// `ctl.schema.<nation>.<version>`
    SchemaPolicy {
        /// The nation whose schema policy it is.
        nation: String,
        /// Its version.
        version: u32,
    },
    /// `ctl.heartbeat.<issuer>`
    Heartbeat {
        /// The issuing nation.
        issuer: String,
    },
    /// `ctl.certificate.<nation>.<producer>.<hex SHA-256>`
    Certificate {
        /// The certifying nation.
        nation: String,
        /// The producer.
        producer: String,
        /// SHA-256 of the `SignedCertificate` bytes.
        sha256: [u8; 32],
    },
}

/// Every subject of the wire contract.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Subject {
    /// `out.<kind>.<producer>.<feed>[.<category>.<severity>]`: a local
    /// producer's feed (OUTBOUND). Alert subjects end with their topic.
    Outbound {
        /// Tracks or alerts.
        kind: Kind,
        /// The producer.
        producer: String,
        /// The feed.
        feed: String,
        /// An alert's topic; `None` for a track.
        topic: Option<AlertTopic>,
    },
    /// `paced.<kind>.<producer>.<feed>[.<category>.<severity>]`: deferred
    /// by the rate limit (PACED).
    Paced {
        /// Tracks or alerts.
        kind: Kind,
        /// The producer.
        producer: String,
        /// The feed.
        feed: String,
        /// An alert's topic; `None` for a track.
        topic: Option<AlertTopic>,
    },
    /// `rel.<kind>.<origin>.<producer>.<feed>[.<category>.<severity>]`:
    /// released to a partner.
    Released {
        /// Tracks or alerts.
        kind: Kind,
        /// The producer's nation.
        origin: String,
        /// The producer.
        producer: String,
        /// The feed.
        feed: String,
        /// An alert's topic; `None` for a track.
        topic: Option<AlertTopic>,
    },
    /// `in.<kind>.<origin>.<producer>.<feed>[.<category>.<severity>].v<version>`:
    /// admitted.
    Inbound {
        /// Tracks or alerts.
        kind: Kind,
        /// The producer's nation.
        origin: String,
        /// The producer.
        producer: String,
        /// The feed.
        feed: String,
        /// An alert's topic; `None` for a track.
        topic: Option<AlertTopic>,
        /// The schema version served.
        version: u32,
    },
    /// `dlq.<stage>.<reason>`: refused and kept.
    DeadLetter {
        /// `egress`, `paced` or `ingress`.
        stage: String,
        /// The deny reason's name.
        reason: String,
    },
    /// `pos.<stage>.<origin>.<producer>.<feed>`: a stage's feed position.
    Position {
        /// The stage (`egress`, `ingress`).
        stage: String,
        /// The producer's nation.
        origin: String,
        /// The producer.
        producer: String,
        /// The feed.
        feed: String,
    },
    /// `audit.<nation>`: a nation's audit log.
    Audit {
        /// The nation.
        nation: String,
    },
    /// `ctl.…`: a signed control object.
    Control(ControlSubject),
}

/// Why a subject did not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("subject {subject:?}: {detail}")]
pub struct SubjectError {
    /// The subject as given.
    pub subject: String,
    /// What is wrong with it.
    pub detail: String,
}

impl std::fmt::Display for Subject {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Subject::Outbound {
                kind,
                producer,
                feed,
                topic,
            } => write!(f, "out.{kind}.{producer}.{feed}{}", Suffix(topic)),
            Subject::Paced {
                kind,
                producer,
                feed,
                topic,
            } => write!(f, "paced.{kind}.{producer}.{feed}{}", Suffix(topic)),
            Subject::Released {
                kind,
                origin,
                producer,
                feed,
                topic,
            } => write!(f, "rel.{kind}.{origin}.{producer}.{feed}{}", Suffix(topic)),
            Subject::Inbound {
                kind,
                origin,
                producer,
                feed,
                topic,
                version,
            } => write!(
                f,
                "in.{kind}.{origin}.{producer}.{feed}{}.v{version}",
                Suffix(topic)
            ),
            Subject::DeadLetter { stage, reason } => write!(f, "dlq.{stage}.{reason}"),
            Subject::Position {
                stage,
                origin,
                producer,
                feed,
            } => write!(f, "pos.{stage}.{origin}.{producer}.{feed}"),
            Subject::Audit { nation } => write!(f, "audit.{nation}"),
            Subject::Control(c) => c.fmt(f),
        }
    }
}

/// `.<category>.<severity>` after an alert feed's tokens; nothing for a track.
struct Suffix<'a>(&'a Option<AlertTopic>);

impl std::fmt::Display for Suffix<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            Some(topic) => write!(f, ".{topic}"),
            None => Ok(()),
        }
    }
}

impl std::fmt::Display for ControlSubject {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ControlSubject::Policy { nation, version } => {
                write!(f, "ctl.policy.{nation}.{version}")
            }
            ControlSubject::Translator { id, version } => {
                write!(f, "ctl.translator.{id}.{version}")
            }
            ControlSubject::Notice { issuer, epoch } => write!(f, "ctl.notice.{issuer}.{epoch}"),
            ControlSubject::SchemaPolicy { nation, version } => {
                write!(f, "ctl.schema.{nation}.{version}")
            }
            ControlSubject::Heartbeat { issuer } => write!(f, "ctl.heartbeat.{issuer}"),
            ControlSubject::Certificate {
                nation,
                producer,
                sha256,
            } => {
                f.write_str("ctl.certificate.")?;
                f.write_str(nation)?;
                f.write_str(".")?;
                f.write_str(producer)?;
                f.write_str(".")?;
                for b in sha256 {
                    write!(f, "{b:02x}")?;
                }
                Ok(())
            }
        }
    }
}

/// The tokens of a subject being parsed, with errors that name the token.
struct Tokens<'a> {
    subject: &'a str,
    tokens: Vec<&'a str>,
}

impl<'a> Tokens<'a> {
    fn error(&self, detail: impl Into<String>) -> SubjectError {
        SubjectError {
            subject: self.subject.to_string(),
            detail: detail.into(),
        }
    }

    fn expect_len(&self, n: usize, shape: &str) -> Result<(), SubjectError> {
        if self.tokens.len() == n {
            Ok(())
        } else {
            Err(self.error(format!(
                "has {} tokens; expected {n}: {shape}",
                self.tokens.len()
            )))
        }
    }

    fn name(&self, i: usize, what: &str) -> Result<String, SubjectError> {
        let t = self.tokens[i];
        if is_token(t) {
            Ok(t.to_string())
        } else {
            Err(self.error(format!(
                "token {} ({what}) {t:?} is not letters, digits, - and _",
                i + 1
            )))
        }
    }

    /// The kind (token 2) of a feed subject whose track form has
    /// `track_len` tokens, checking the length: an alert subject has two
    /// more, its topic (before the version on `in.`).
    fn lane(&self, track_len: usize, prefix: &str, middle: &str) -> Result<Kind, SubjectError> {
        if self.tokens.len() < 2 {
            return Err(self.error(format!("has 1 token; expected {prefix}.<kind>.{middle}…")));
        }
        let kind = self.kind(1)?;
        let version = if prefix == "in" { ".v<version>" } else { "" };
        match kind {
            Kind::Track => {
                self.expect_len(track_len, &format!("{prefix}.track.{middle}{version}"))?
            }
            Kind::Alert => self.expect_len(
                track_len + 2,
                &format!("{prefix}.alert.{middle}.<category>.<severity>{version}"),
            )?,
        }
        Ok(kind)
    }

    /// An alert subject's topic, tokens `at` and `at + 1`; `None` for a track.
    fn topic(&self, kind: Kind, at: usize) -> Result<Option<AlertTopic>, SubjectError> {
        if kind == Kind::Track {
            return Ok(None);
        }
        AlertTopic::parse(self.tokens[at], self.tokens[at + 1])
            .map(Some)
            .map_err(|e| self.error(format!("tokens {} and {} (topic): {e}", at + 1, at + 2)))
    }

    fn kind(&self, i: usize) -> Result<Kind, SubjectError> {
        Kind::parse(self.tokens[i]).ok_or_else(|| {
            self.error(format!(
                "token {} (kind) {:?} is neither track nor alert",
                i + 1,
                self.tokens[i]
            ))
        })
    }

    fn number<N: std::str::FromStr>(&self, i: usize, what: &str) -> Result<N, SubjectError> {
        let t = self.tokens[i];
        let digits = !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit());
        digits
            .then(|| t.parse().ok())
            .flatten()
            .ok_or_else(|| self.error(format!("token {} ({what}) {t:?} is not a number", i + 1)))
    }
}

impl Subject {
    /// Parses a subject of the wire contract.
    pub fn parse(subject: &str) -> Result<Subject, SubjectError> {
        let t = Tokens {
            subject,
            tokens: subject.split('.').collect(),
        };
        match t.tokens[0] {
            "out" | "paced" => {
                let kind = t.lane(4, t.tokens[0], "<producer>.<feed>")?;
                let (producer, feed) = (t.name(2, "producer")?, t.name(3, "feed")?);
                let topic = t.topic(kind, 4)?;
                Ok(if t.tokens[0] == "out" {
                    Subject::Outbound {
                        kind,
                        producer,
                        feed,
                        topic,
                    }
                } else {
                    Subject::Paced {
                        kind,
                        producer,
                        feed,
                        topic,
                    }
                })
            }
            "rel" => {
                let kind = t.lane(5, "rel", "<origin>.<producer>.<feed>")?;
                Ok(Subject::Released {
                    kind,
                    origin: t.name(2, "origin")?,
                    producer: t.name(3, "producer")?,
                    feed: t.name(4, "feed")?,
                    topic: t.topic(kind, 5)?,
                })
            }
            "in" => {
                let kind = t.lane(6, "in", "<origin>.<producer>.<feed>")?;
                let last = t.tokens.len() - 1;
                let version = t.tokens[last]
                    .strip_prefix('v')
                    .filter(|v| !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()))
                    .and_then(|v| v.parse().ok())
                    .ok_or_else(|| {
                        t.error(format!(
                            "token {} (version) {:?} is not v<number>",
                            last + 1,
                            t.tokens[last]
                        ))
                    })?;
                Ok(Subject::Inbound {
                    kind,
                    origin: t.name(2, "origin")?,
                    producer: t.name(3, "producer")?,
                    feed: t.name(4, "feed")?,
                    topic: t.topic(kind, 5)?,
                    version,
                })
            }
            "dlq" => {
                t.expect_len(3, "dlq.<stage>.<reason>")?;
                Ok(Subject::DeadLetter {
                    stage: t.name(1, "stage")?,
                    reason: t.name(2, "reason")?,
                })
            }
            "pos" => {
                t.expect_len(5, "pos.<stage>.<origin>.<producer>.<feed>")?;
                Ok(Subject::Position {
                    stage: t.name(1, "stage")?,
                    origin: t.name(2, "origin")?,
                    producer: t.name(3, "producer")?,
                    feed: t.name(4, "feed")?,
                })
            }
            "audit" => {
                t.expect_len(2, "audit.<nation>")?;
                Ok(Subject::Audit {
                    nation: t.name(1, "nation")?,
                })
            }
            "ctl" => parse_control(&t).map(Subject::Control),
            other => Err(t.error(format!(
                "token 1 {other:?} is none of out, paced, rel, in, dlq, pos, audit, ctl"
            ))),
        }
    }

    /// The topic of an alert feed subject, if it is one.
    pub fn topic(&self) -> Option<&AlertTopic> {
        match self {
            Subject::Outbound { topic, .. }
            | Subject::Paced { topic, .. }
            | Subject::Released { topic, .. }
            | Subject::Inbound { topic, .. } => topic.as_ref(),
            _ => None,
        }
    }

    /// The lane (`kind`) of a feed subject, if it is one.
    pub fn kind(&self) -> Option<Kind> {
        match self {
            Subject::Outbound { kind, .. }
            | Subject::Paced { kind, .. }
            | Subject::Released { kind, .. }
            | Subject::Inbound { kind, .. } => Some(*kind),
            _ => None,
        }
    }
}

fn parse_control(t: &Tokens<'_>) -> Result<ControlSubject, SubjectError> {
    let what = t.tokens.get(1).copied().unwrap_or("");
    match what {
        "policy" | "schema" => {
            t.expect_len(4, &format!("ctl.{what}.<nation>.<version>"))?;
            let (nation, version) = (t.name(2, "nation")?, t.number(3, "version")?);
            Ok(if what == "policy" {
                ControlSubject::Policy { nation, version }
            } else {
                ControlSubject::SchemaPolicy { nation, version }
            })
        }
        "translator" => {
            t.expect_len(4, "ctl.translator.<id>.<version>")?;
            Ok(ControlSubject::Translator {
                id: t.name(2, "translator id")?,
                version: t.number(3, "version")?,
            })
        }
        "notice" => {
            t.expect_len(4, "ctl.notice.<issuer>.<epoch>")?;
            Ok(ControlSubject::Notice {
                issuer: t.name(2, "issuer")?,
                epoch: t.number(3, "epoch")?,
            })
        }
        "heartbeat" => {
            t.expect_len(3, "ctl.heartbeat.<issuer>")?;
            Ok(ControlSubject::Heartbeat {
                issuer: t.name(2, "issuer")?,
            })
        }
        "certificate" => {
            t.expect_len(5, "ctl.certificate.<nation>.<producer>.<sha256 hex>")?;
            let hex = t.tokens[4];
            let mut sha256 = [0u8; 32];
            let valid = hex.len() == 64
                && hex.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
            if !valid {
                return Err(t.error("token 5 (certificate digest) is not 64 lower-case hex digits"));
            }
            for (i, byte) in sha256.iter_mut().enumerate() {
                *byte = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16)
                    .map_err(|_| t.error("token 5 (certificate digest) is not hex"))?;
            }
            Ok(ControlSubject::Certificate {
                nation: t.name(2, "nation")?,
                producer: t.name(3, "producer")?,
                sha256,
            })
        }
        other => Err(t.error(format!(
            "token 2 {other:?} is none of policy, translator, notice, schema, heartbeat, certificate"
        ))),
    }
}

#[cfg(test)]
mod tests;
