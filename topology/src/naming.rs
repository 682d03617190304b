//! The names every component agrees on: accounts, streams and subjects.
//! The wire contract in `docs/wire-contract.md` documents the same names.
//!
//! Every subject is built and parsed by one grammar ([`subjects::Subject`]);
//! no other code formats or splits a subject by hand.

mod grammar;
mod kind;
mod topic;

pub use kind::Kind;
pub use topic::{
    is_category, parse_severity, severity_token, AlertTopic, TopicError, TopicFilter, SEVERITIES,
};

/// Account names inside one nation's cluster.
pub mod accounts {
    /// The nation's own account: producers, subscribers, the bridge.
    pub const HOME: &str = "HOME";

    /// The account holding what this nation releases to `partner`. The
    /// partner's leaf connection is bound to it, and sees nothing else.
    pub fn release_to(partner: &str) -> String {
        format!("REL_{partner}")
    }

    /// The account a leaf connection to `origin`'s release account is bound
    /// to. Only this nation's bridge reads it.
    pub fn from_partner(origin: &str) -> String {
        format!("FROM_{origin}")
    }
}

/// JetStream stream names. Tracks and alerts each have their own lane:
/// their own OUTBOUND, PACED, RELEASED and INBOUND streams, consumers and
/// bridge stages, so an alert never waits behind a track backlog.
pub mod streams {
    use super::Kind;

    /// HOME: what local producers publish (`out.track.>`), consumed by the bridge.
    pub const OUTBOUND: &str = "OUTBOUND";
    /// HOME: what local producers publish as alerts (`out.alert.>`).
    pub const OUTBOUND_ALERTS: &str = "OUTBOUND_ALERTS";
    /// HOME: what the bridge admitted from partners (`in.track.>`).
    pub const INBOUND: &str = "INBOUND";
    /// HOME: alerts the bridge admitted from partners (`in.alert.>`).
    pub const INBOUND_ALERTS: &str = "INBOUND_ALERTS";
    /// HOME: messages refused at egress or ingress, with the reason (`dlq.>`).
    pub const DEADLETTER: &str = "DEADLETTER";
    /// HOME: producers' batches deferred by their rate limit
    /// (`paced.track.>`), released by the paced stage at the producer's
    /// rate. Work-queue retention: it never crosses a leaf link, and what is
    /// left in it is exactly what still waits.
    pub const PACED: &str = "PACED";
    /// HOME: alert batches deferred by their producer's rate limit
    /// (`paced.alert.>`).
    pub const PACED_ALERTS: &str = "PACED_ALERTS";
    /// The durable consumer the bridge holds on each PACED stream.
    pub const PACED_CONSUMER: &str = "paced";
    /// REL_<partner>: tracks the bridge released to that partner (`rel.track.>`).
    pub const RELEASED: &str = "RELEASED";
    /// REL_<partner>: alerts the bridge released to that partner (`rel.alert.>`).
    pub const RELEASED_ALERTS: &str = "RELEASED_ALERTS";
    /// HOME and every REL_<partner>: signed control objects (`ctl.>`):
    /// policy documents, translators, revocation notices, heartbeats,
    /// producer certificates. One message kept per subject.
    pub const CONTROL: &str = "CONTROL";
    /// HOME: the hash-chained audit log (`audit.<nation>`).
    pub const AUDIT: &str = "AUDIT";
    /// HOME: the bridge's accepted position in every feed, per stage
    /// (`pos.>`; one message kept per subject), so a replay, rollback or
    /// jump is refused after a restart too.
    pub const POSITIONS: &str = "POSITIONS";
    /// HOME: the key-value bucket in which a producer holds each feed it
    /// writes, so that a second writer of the same feed is refused.
    pub const FEED_WRITERS_BUCKET: &str = "FEED_WRITERS";
    /// The stream behind [`FEED_WRITERS_BUCKET`].
    pub const FEED_WRITERS_STREAM: &str = "KV_FEED_WRITERS";

    /// The OUTBOUND stream of `kind`'s lane.
    pub fn outbound(kind: Kind) -> &'static str {
        match kind {
            Kind::Track => OUTBOUND,
            Kind::Alert => OUTBOUND_ALERTS,
        }
    }

    /// The INBOUND stream of `kind`'s lane.
    pub fn inbound(kind: Kind) -> &'static str {
        match kind {
            Kind::Track => INBOUND,
            Kind::Alert => INBOUND_ALERTS,
        }
    }

    /// The RELEASED stream of `kind`'s lane.
    pub fn released(kind: Kind) -> &'static str {
        match kind {
            Kind::Track => RELEASED,
            Kind::Alert => RELEASED_ALERTS,
        }
    }

    /// The PACED stream of `kind`'s lane.
    pub fn paced(kind: Kind) -> &'static str {
        match kind {
            Kind::Track => PACED,
            Kind::Alert => PACED_ALERTS,
        }
    }

    /// The durable consumer a receiving nation's bridge holds on the
    /// sender's RELEASED streams (one per lane, same name).
    pub fn ingress_consumer(receiver: &str) -> String {
        format!("ingress_{receiver}")
    }

    /// The durable consumer the bridge holds on each OUTBOUND stream.
    pub const EGRESS_CONSUMER: &str = "egress";
}

/// Where the development PKI writes signed control objects, relative to
/// a mesh folder; bridge configs (in `bridges/`) name them with `../`.
pub mod control_files {
    /// A nation's policy document, version 1.
    pub fn policy(nation: &str) -> String {
        format!("keys/{nation}/policy-v1.ctl")
    }

    /// The translator from `from` to `to`, version 1.
    pub fn translator(from: &str, to: &str) -> String {
        format!("keys/translators/{from}-{to}-v1.ctl")
    }
}

/// Subject grammar: [`Subject`](subjects::Subject) builds and parses every
/// subject of the wire contract; the functions below build the common ones.
pub mod subjects {
    pub use super::grammar::{is_token, ControlSubject, Subject, SubjectError};
    use super::Kind;
    use super::{AlertTopic, TopicFilter};

    /// A nation policy document: `ctl.policy.<nation>.<version>`.
    pub fn control_policy(nation: &str, version: u32) -> String {
        Subject::Control(ControlSubject::Policy {
            nation: nation.into(),
            version,
        })
        .to_string()
    }

    /// A translator: `ctl.translator.<id>.<version>`.
    pub fn control_translator(id: &str, version: u32) -> String {
        Subject::Control(ControlSubject::Translator {
            id: id.into(),
            version,
        })
        .to_string()
    }

    /// A revocation notice: `ctl.notice.<issuer>.<epoch>`.
    pub fn control_notice(issuer: &str, epoch: u64) -> String {
        Subject::Control(ControlSubject::Notice {
            issuer: issuer.into(),
            epoch,
        })
        .to_string()
    }

    /// A schema policy: `ctl.schema.<nation>.<version>`.
    pub fn control_schema_policy(nation: &str, version: u32) -> String {
        Subject::Control(ControlSubject::SchemaPolicy {
            nation: nation.into(),
            version,
        })
        .to_string()
    }

    /// Every schema policy of `nation`: the filter `ctl.schema.<nation>.*`.
    pub fn control_schema_policies(nation: &str) -> String {
        format!("ctl.schema.{nation}.*")
    }

    /// Every revocation notice of `issuer`: the filter `ctl.notice.<issuer>.*`.
    pub fn control_notices(issuer: &str) -> String {
        format!("ctl.notice.{issuer}.*")
    }

    /// The latest heartbeat of `issuer`: `ctl.heartbeat.<issuer>`.
    pub fn control_heartbeat(issuer: &str) -> String {
        Subject::Control(ControlSubject::Heartbeat {
            issuer: issuer.into(),
        })
        .to_string()
    }

    /// A producer certificate, by the SHA-256 of its bytes:
    /// `ctl.certificate.<nation>.<producer>.<64 hex digits>`.
    pub fn control_certificate(nation: &str, producer: &str, sha256: &[u8; 32]) -> String {
        Subject::Control(ControlSubject::Certificate {
            nation: nation.into(),
            producer: producer.into(),
            sha256: *sha256,
        })
        .to_string()
    }

    /// A nation's audit log: `audit.<nation>`.
    pub fn audit(nation: &str) -> String {
        Subject::Audit {
            nation: nation.into(),
        }
        .to_string()
    }

    /// A local producer's feed: `out.<kind>.<producer>.<feed>`, and an
    /// alert's topic after it (`topic` is `None` for a track).
    pub fn outbound(kind: Kind, producer: &str, feed: &str, topic: Option<&AlertTopic>) -> String {
        Subject::Outbound {
            kind,
            producer: producer.into(),
            feed: feed.into(),
            topic: topic.cloned(),
        }
        .to_string()
    }

    /// Every subject of a local producer's feed: the feed's subject for
    /// tracks, `out.alert.<producer>.<feed>.*.*` (all its topics) for
    /// alerts. A filter, for reading the feed's last batch; never published on.
    pub fn outbound_feed(kind: Kind, producer: &str, feed: &str) -> String {
        match kind {
            Kind::Track => outbound(kind, producer, feed, None),
            Kind::Alert => format!("out.alert.{producer}.{feed}.*.*"),
        }
    }

    /// Deferred by the rate limit, waiting in PACED:
    /// `paced.<kind>.<producer>.<feed>[.<category>.<severity>]` (the
    /// OUTBOUND subject's tokens).
    pub fn paced(kind: Kind, producer: &str, feed: &str, topic: Option<&AlertTopic>) -> String {
        Subject::Paced {
            kind,
            producer: producer.into(),
            feed: feed.into(),
            topic: topic.cloned(),
        }
        .to_string()
    }

    /// Released to a partner:
    /// `rel.<kind>.<origin>.<producer>.<feed>[.<category>.<severity>]`.
    pub fn released(
        kind: Kind,
        origin: &str,
        producer: &str,
        feed: &str,
        topic: Option<&AlertTopic>,
    ) -> String {
        Subject::Released {
            kind,
            origin: origin.into(),
            producer: producer.into(),
            feed: feed.into(),
            topic: topic.cloned(),
        }
        .to_string()
    }

    /// Admitted from a partner, served in schema `version`:
    /// `in.<kind>.<origin>.<producer>.<feed>[.<category>.<severity>].v<version>`.
    /// Outside a dual-run window a record is served in the version it was
    /// produced in; in one, in both versions (docs/schemas.md).
    pub fn inbound(
        kind: Kind,
        origin: &str,
        producer: &str,
        feed: &str,
        topic: Option<&AlertTopic>,
        version: u32,
    ) -> String {
        Subject::Inbound {
            kind,
            origin: origin.into(),
            producer: producer.into(),
            feed: feed.into(),
            topic: topic.cloned(),
            version,
        }
        .to_string()
    }

    /// The consumer filters for what a subscriber asks of INBOUND:
    /// `in.track.<origin or *>.*.*.v<version>`, or for alerts one
    /// `in.alert.<origin or *>.*.*.<category or *>.<severity or *>.v<version>`
    /// per severity the topic filter lets through.
    pub fn inbound_filters(
        kind: Kind,
        origin: Option<&str>,
        topics: &TopicFilter,
        version: u32,
    ) -> Vec<String> {
        let origin = origin.unwrap_or("*");
        match kind {
            Kind::Track => vec![format!("in.track.{origin}.*.*.v{version}")],
            Kind::Alert => topics
                .token_pairs()
                .into_iter()
                .map(|topic| format!("in.alert.{origin}.*.*.{topic}.v{version}"))
                .collect(),
        }
    }

    /// Dead letters: `dlq.<stage>.<reason>` (stage is `egress`, `paced`
    /// or `ingress`).
    pub fn deadletter(stage: &str, reason: &str) -> String {
        Subject::DeadLetter {
            stage: stage.into(),
            reason: reason.into(),
        }
        .to_string()
    }

    /// The stage token of a position subject: `<stage>_<kind>` (e.g.
    /// `egress_track`): each stage and lane keeps its own positions.
    pub fn position_stage(stage: &str, kind: Kind) -> String {
        format!("{stage}_{}", kind.as_str())
    }

    /// A stage's position in a feed: `pos.<stage>.<origin>.<producer>.<feed>`,
    /// `stage` as [`position_stage`] makes it.
    pub fn position(stage: &str, origin: &str, producer: &str, feed: &str) -> String {
        Subject::Position {
            stage: stage.into(),
            origin: origin.into(),
            producer: producer.into(),
            feed: feed.into(),
        }
        .to_string()
    }

    /// The stream filter of a lane's subjects under `prefix`
    /// (`out`, `paced`, `rel`, `in`): `<prefix>.<kind>.>`.
    pub fn lane_filter(prefix: &str, kind: Kind) -> String {
        format!("{prefix}.{}.>", kind.as_str())
    }
}
