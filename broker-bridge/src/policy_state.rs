//! The bridge's policy state: every policy version, translator and
//! revocation it knows, held in concurrent maps and read on every message.
//! Control objects (from files at start, then from the CONTROL streams)
//! are verified here before they change anything.
use std::sync::Arc;

use coalition_core::certificate::{CertificateCache, TrustAnchors, VerifiedCertificate};
use coalition_core::decision::PolicyView;
use coalition_core::envelope::{check_within_certificate, Header, MessageType};
use coalition_core::policy::{verify_policy, PolicyBook};
use coalition_core::revocation::{
    verify_heartbeat, verify_notice, Applied, Notice, RevocationState,
};
use coalition_core::schema::{
    check_version, phase, verify_schema_policy, versions_to_serve, SchemaBook,
};
use coalition_core::translator::{verify_translator, TranslatorSet};
use coalition_core::{CoreError, DenyReason};
use coalition_schemas::v1::{control_message::Body, ControlMessage};

/// What a control object changed.
#[derive(Debug, Clone)]
pub(crate) enum ControlApplied {
    /// A policy document; `new` if this version was not known.
    Policy {
        nation: String,
        version: u32,
        new: bool,
    },
    /// A translator.
    Translator {
        id: String,
        version: u32,
        from: String,
        to: String,
        new: bool,
    },
    /// A revocation notice; `new` unless its epoch was already applied.
    Notice { notice: Notice, new: bool },
    /// A heartbeat.
    Heartbeat { issuer: String },
    /// A schema policy; `new` if it is now its nation's policy in force.
    SchemaPolicy {
        nation: String,
        version: u32,
        new: bool,
    },
    /// A producer certificate, verified against its nation's root and
    /// cached by digest.
    Certificate {
        nation: String,
        producer: String,
        digest: [u8; 32],
    },
}

/// Policy documents, translators and revocations, shared by every stage.
#[derive(Debug)]
pub(crate) struct PolicyState {
    pub nation: String,
    pub anchors: TrustAnchors,
    pub policies: PolicyBook,
    pub translators: TranslatorSet,
    pub revocations: RevocationState,
    pub schemas: SchemaBook,
    /// Producer certificates verified against the trust anchors, by
    /// digest (batches name them so).
    pub certificates: Arc<CertificateCache>,
}

impl PolicyState {
    pub(crate) fn new(nation: String, anchors: TrustAnchors) -> Self {
        PolicyState {
            nation,
            anchors: anchors.clone(),
            policies: PolicyBook::new(),
            translators: TranslatorSet::new(),
            revocations: RevocationState::new(),
            schemas: SchemaBook::new(),
            certificates: Arc::new(CertificateCache::new(anchors.clone())),
        }
    }

    /// The view decisions read.
    pub(crate) fn view(&self) -> PolicyView<'_> {
        PolicyView {
            policies: &self.policies,
            translators: &self.translators,
            revocations: &self.revocations,
        }
    }

    /// Checks that a verified record's label is within its producer's
    /// certificate, in the scale of the label's own policy version.
    pub(crate) fn check_within_certificate(
        &self,
        h: &Header,
        certificate: &VerifiedCertificate,
    ) -> Result<(), DenyReason> {
        let policy = self
            .policies
            .get(&h.origin, h.label.policy_version)
            .ok_or(DenyReason::UnknownPolicyVersion)?;
        check_within_certificate(h, certificate, &policy)
    }

    /// Checks a verified record's schema version against its origin's
    /// schema policy in force at `now_ms` (v1 only if the origin has signed
    /// none).
    pub(crate) fn check_schema(&self, h: &Header, now_ms: i64) -> Result<(), DenyReason> {
        let rule = self
            .schemas
            .rule(&h.origin, h.message_type)
            .ok_or(DenyReason::UnknownSchemaVersion)?;
        check_version(&phase(&rule, now_ms), h.schema_version)
    }

    /// The schema versions a message of `origin` produced in `produced` is
    /// served in at `now_ms`: the one it was produced in, and, during the
    /// dual-run window of the origin's schema policy, the other one too.
    pub(crate) fn versions_to_serve(
        &self,
        origin: &str,
        message_type: MessageType,
        produced: u32,
        now_ms: i64,
    ) -> Vec<u32> {
        let mut versions = vec![produced];
        if let Some(rule) = self.schemas.rule(origin, message_type) {
            let in_force = versions_to_serve(&phase(&rule, now_ms));
            versions.extend(in_force.into_iter().filter(|v| *v != produced));
        }
        versions
    }

    /// Verifies and applies one control object.
    pub(crate) fn apply(
        &self,
        message: &ControlMessage,
        now_ms: i64,
    ) -> Result<ControlApplied, CoreError> {
        let missing = || CoreError::InvalidObject {
            kind: "control message",
            detail: "empty: it holds no object".into(),
        };
        match message.body.as_ref().ok_or_else(missing)? {
            Body::Policy(object) => {
                let policy = verify_policy(object, &self.anchors)?;
                let (nation, version) = (policy.nation.clone(), policy.version);
                let new = self.policies.insert(policy)?;
                Ok(ControlApplied::Policy {
                    nation,
                    version,
                    new,
                })
            }
            Body::Translator(object) => {
                let t = verify_translator(object, &self.anchors)?;
                let (id, version) = (t.id.clone(), t.version);
                let (from, to) = (t.from.clone(), t.to.clone());
                let new = self.translators.insert(t)?;
                Ok(ControlApplied::Translator {
                    id,
                    version,
                    from,
                    to,
                    new,
                })
            }
            Body::Notice(object) => {
                let notice = verify_notice(object, &self.anchors, &self.revocations)?;
                let new = self.revocations.apply(&notice) == Applied::New;
                Ok(ControlApplied::Notice { notice, new })
            }
            Body::Heartbeat(object) => {
                let (issuer, heartbeat) = verify_heartbeat(object, &self.anchors, now_ms)?;
                self.revocations.heartbeat(&issuer, heartbeat);
                Ok(ControlApplied::Heartbeat { issuer })
            }
            Body::Certificate(bytes) => {
                let cert =
                    self.certificates
                        .add(bytes)
                        .map_err(|reason| CoreError::InvalidObject {
                            kind: "producer certificate",
                            detail: format!("refused: {reason}"),
                        })?;
                Ok(ControlApplied::Certificate {
                    nation: cert.nation.clone(),
                    producer: cert.producer_id.clone(),
                    digest: cert.digest,
                })
            }
            Body::SchemaPolicy(object) => {
                let policy = verify_schema_policy(object, &self.anchors)?;
                let (nation, version) = (policy.nation.clone(), policy.version);
                let new = self.schemas.insert(policy)?;
                Ok(ControlApplied::SchemaPolicy {
                    nation,
                    version,
                    new,
                })
            }
        }
    }
}

impl ControlApplied {
    /// The `ctl.>` subject the object is kept under.
    pub(crate) fn subject(&self) -> String {
        use coalition_topology::subjects;
        match self {
            ControlApplied::Policy {
                nation, version, ..
            } => subjects::control_policy(nation, *version),
            ControlApplied::Translator { id, version, .. } => {
                subjects::control_translator(id, *version)
            }
            ControlApplied::Notice { notice, .. } => {
                subjects::control_notice(&notice.issuer, notice.epoch)
            }
            ControlApplied::Heartbeat { issuer, .. } => subjects::control_heartbeat(issuer),
            ControlApplied::SchemaPolicy {
                nation, version, ..
            } => subjects::control_schema_policy(nation, *version),
            ControlApplied::Certificate {
                nation,
                producer,
                digest,
            } => subjects::control_certificate(nation, producer, digest),
        }
    }

    /// Whether `home`'s bridge forwards this object to `partner`: its own
    /// policy and notices to every partner, a translator to its other party.
    pub(crate) fn forward_to(&self, home: &str, partner: &str) -> bool {
        match self {
            ControlApplied::Policy { nation, .. } | ControlApplied::SchemaPolicy { nation, .. } => {
                nation == home
            }
            ControlApplied::Translator { from, to, .. } => {
                (from == home && to == partner) || (to == home && from == partner)
            }
            ControlApplied::Notice { notice, .. } => notice.issuer == home,
            // Certificates go to a partner with the first batch released to
            // it that names them (`crate::certificates`), not to everyone.
            ControlApplied::Heartbeat { .. } | ControlApplied::Certificate { .. } => false,
        }
    }
}
