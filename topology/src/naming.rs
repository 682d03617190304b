//! The names every component agrees on: accounts, streams and subjects.
//! The wire contract in `docs/wire-contract.md` documents the same names.

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

/// JetStream stream names.
pub mod streams {
    /// HOME: what local producers publish (`out.>`), consumed by the bridge.
    pub const OUTBOUND: &str = "OUTBOUND";
    /// HOME: what the bridge admitted from partners (`in.>`).
    pub const INBOUND: &str = "INBOUND";
    /// HOME: messages refused at egress or ingress, with the reason (`dlq.>`).
    pub const DEADLETTER: &str = "DEADLETTER";
    /// HOME: producers' messages deferred by their rate limit (`paced.>`),
    /// released by the paced stage at the producer's rate. Work-queue
    /// retention: it never crosses a leaf link, and what is left in it is
    /// exactly what still waits.
    pub const PACED: &str = "PACED";
    /// The durable consumer the bridge holds on PACED.
    pub const PACED_CONSUMER: &str = "paced";
    /// REL_<partner>: what the bridge released to that partner (`rel.>`).
    pub const RELEASED: &str = "RELEASED";
    /// HOME and every REL_<partner>: signed control objects (`ctl.>`):
    /// policy documents, translators, revocation notices, heartbeats. One
    /// message kept per subject.
    pub const CONTROL: &str = "CONTROL";
    /// HOME: the hash-chained audit log (`audit.<nation>`).
    pub const AUDIT: &str = "AUDIT";

    /// The durable consumer a receiving nation's bridge holds on the
    /// sender's RELEASED stream.
    pub fn ingress_consumer(receiver: &str) -> String {
        format!("ingress_{receiver}")
    }

    /// The durable consumer the bridge holds on OUTBOUND.
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

/// Subject grammar.
pub mod subjects {
    /// A nation policy document: `ctl.policy.<nation>.<version>`.
    pub fn control_policy(nation: &str, version: u32) -> String {
        format!("ctl.policy.{nation}.{version}")
    }

    /// A translator: `ctl.translator.<id>.<version>`.
    pub fn control_translator(id: &str, version: u32) -> String {
        format!("ctl.translator.{id}.{version}")
    }

    /// A revocation notice: `ctl.notice.<issuer>.<epoch>`.
    pub fn control_notice(issuer: &str, epoch: u64) -> String {
        format!("ctl.notice.{issuer}.{epoch}")
    }

    /// A schema policy: `ctl.schema.<nation>.<version>`.
    pub fn control_schema_policy(nation: &str, version: u32) -> String {
        format!("ctl.schema.{nation}.{version}")
    }

    /// The latest heartbeat of `issuer`: `ctl.heartbeat.<issuer>`.
    pub fn control_heartbeat(issuer: &str) -> String {
        format!("ctl.heartbeat.{issuer}")
    }

    /// A nation's audit log: `audit.<nation>`.
    pub fn audit(nation: &str) -> String {
        format!("audit.{nation}")
    }

    /// A local producer's feed: `out.<kind>.<producer>.<feed>`.
    pub fn outbound(kind: &str, producer: &str, feed: &str) -> String {
        format!("out.{kind}.{producer}.{feed}")
    }

    /// Deferred by the rate limit, waiting in PACED:
    /// `paced.<kind>.<producer>.<feed>` (the OUTBOUND subject's tokens).
    pub fn paced(kind: &str, producer: &str, feed: &str) -> String {
        format!("paced.{kind}.{producer}.{feed}")
    }

    /// The OUTBOUND subject a PACED subject was deferred from.
    pub fn outbound_of_paced(paced: &str) -> Option<String> {
        paced
            .strip_prefix("paced.")
            .map(|rest| format!("out.{rest}"))
    }

    /// Released to a partner: `rel.<kind>.<origin>.<producer>.<feed>`.
    pub fn released(kind: &str, origin: &str, producer: &str, feed: &str) -> String {
        format!("rel.{kind}.{origin}.{producer}.{feed}")
    }

    /// Admitted from a partner, served in schema `version`:
    /// `in.<kind>.<origin>.<producer>.<feed>.v<version>`. Outside a
    /// dual-run window a message is served in the version it was produced
    /// in; in one, in both versions (docs/schemas.md).
    pub fn inbound(kind: &str, origin: &str, producer: &str, feed: &str, version: u32) -> String {
        format!("in.{kind}.{origin}.{producer}.{feed}.v{version}")
    }

    /// Dead letters: `dlq.<stage>.<reason>` (stage is `egress` or `ingress`).
    pub fn deadletter(stage: &str, reason: &str) -> String {
        format!("dlq.{stage}.{reason}")
    }

    /// Whether `token` is usable as one subject token here: non-empty,
    /// ASCII letters, digits, `-` and `_` only.
    pub fn is_token(token: &str) -> bool {
        !token.is_empty()
            && token
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    }
}
