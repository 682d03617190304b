//! Revocation notices and the in-memory revocation state every bridge
//! checks on every message.
//!
//! A notice is signed by its issuer's revocation-authority key (or, in an
//! emergency, its root: see [`authority`]) and carries a per-issuer epoch
//! that only increases, and the instant it takes effect from. Who may issue
//! what is checked here, not trusted:
//! - a translator: either of its two nations (unilateral);
//! - a producer key: the producer's nation;
//! - a product (a track or alert by id): the product's origin;
//! - a partner suspension or reinstatement: the suspending nation; it stops
//!   both directions between the two.
//!
//! A notice is in force for every decision taken at or after its
//! `effective_from`, whatever the message's own timestamp (which a holder
//! of a compromised key could backdate).
//!
//! Freshness: each nation's bridge sends a signed heartbeat with its latest
//! epoch; a view of a partner is fresh when the latest heartbeat is recent
//! and every notice up to its epoch has been applied.
use coalition_schemas::v1;
use dashmap::DashMap;
use prost::Message;

use crate::certificate::TrustAnchors;
use crate::keys::SigningKeyPair;
use crate::signed::{
    decode_body, invalid_object, sign_object, verify_certified_signature, ObjectKind,
};
use crate::translator::Translator;
use crate::CoreError;

pub mod authority;
pub use authority::{sign_notice, verify_notice, NoticeSigner, REVOCATION_AUTHORITY_IDENTITY};

/// What a notice revokes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Revoked {
    /// A translator version (`version` 0: every version).
    Translator {
        /// Translator id.
        id: String,
        /// Version, or 0 for all.
        version: u32,
    },
    /// A producer's key.
    ProducerKey {
        /// The producer's nation.
        nation: String,
        /// The producer.
        producer_id: String,
        /// SHA-256 of its public key.
        key_sha256: [u8; 32],
    },
    /// Every delta of a product (track or alert id).
    Product(ProductKey),
    /// Suspends the partnership between the issuer and `partner`.
    SuspendPartner(String),
    /// Lifts an earlier suspension of `partner` by the same issuer.
    ReinstatePartner(String),
}

/// Names one product of one producer feed.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ProductKey {
    /// Origin nation.
    pub origin: String,
    /// Producer.
    pub producer_id: String,
    /// Feed.
    pub feed: String,
    /// Track id or alert id.
    pub product_id: String,
}

/// A verified revocation notice.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    /// Issuing nation.
    pub issuer: String,
    /// Per-issuer epoch.
    pub epoch: u64,
    /// In force for decisions at or after this instant.
    pub effective_from_ms: i64,
    /// When issued.
    pub issued_at_ms: i64,
    /// For people.
    pub reason: String,
    /// What it revokes.
    pub revoked: Revoked,
}

impl Notice {
    /// `<issuer>#<epoch>`, as audit records name it.
    pub fn name(&self) -> String {
        format!("{}#{}", self.issuer, self.epoch)
    }

    /// A one-line summary for logs and audit records.
    pub fn summary(&self) -> String {
        let what = match &self.revoked {
            Revoked::Translator { id, version: 0 } => {
                format!("revoke translator {id} (all versions)")
            }
            Revoked::Translator { id, version } => format!("revoke translator {id}@{version}"),
            Revoked::ProducerKey {
                nation,
                producer_id,
                key_sha256,
            } => format!(
                "revoke key {} of producer {nation}/{producer_id}",
                hex::encode(&key_sha256[..8])
            ),
            Revoked::Product(p) => format!(
                "retract product {} of {}/{}/{}",
                p.product_id, p.origin, p.producer_id, p.feed
            ),
            Revoked::SuspendPartner(p) => format!("suspend partner {p}"),
            Revoked::ReinstatePartner(p) => format!("reinstate partner {p}"),
        };
        format!(
            "{}: {what}, effective {}",
            self.name(),
            self.effective_from_ms
        )
    }

    /// The wire form.
    pub fn to_wire(&self) -> v1::RevocationNotice {
        use v1::revocation_notice::Target;
        let target = match &self.revoked {
            Revoked::Translator { id, version } => Target::Translator(v1::TranslatorRef {
                id: id.clone(),
                version: *version,
            }),
            Revoked::ProducerKey {
                nation,
                producer_id,
                key_sha256,
            } => Target::ProducerKey(v1::ProducerKeyRef {
                nation: nation.clone(),
                producer_id: producer_id.clone(),
                key_sha256: bytes::Bytes::copy_from_slice(key_sha256),
            }),
            Revoked::Product(p) => Target::Product(v1::ProductRef {
                origin: p.origin.clone(),
                producer_id: p.producer_id.clone(),
                feed: p.feed.clone(),
                product_id: p.product_id.clone(),
            }),
            Revoked::SuspendPartner(p) => {
                Target::SuspendPartner(v1::PartnerRef { partner: p.clone() })
            }
            Revoked::ReinstatePartner(p) => {
                Target::ReinstatePartner(v1::PartnerRef { partner: p.clone() })
            }
        };
        v1::RevocationNotice {
            issuer: self.issuer.clone(),
            epoch: self.epoch,
            effective_from_ms: self.effective_from_ms,
            issued_at_ms: self.issued_at_ms,
            reason: self.reason.clone(),
            target: Some(target),
        }
    }

    /// Checks a wire notice's shape and the issuer's authority over what
    /// it revokes (translator authority is checked when it is applied to a
    /// translator, see [`RevocationState::is_translator_revoked`]).
    pub fn from_wire(wire: v1::RevocationNotice) -> Result<Self, CoreError> {
        use v1::revocation_notice::Target;
        let name = format!("{}#{}", wire.issuer, wire.epoch);
        let bad = |d: String| invalid_object(ObjectKind::Notice, format!("{name}: {d}"));
        if !crate::signed::is_subject_token(&wire.issuer) || wire.epoch == 0 {
            return Err(bad(
                "needs an issuer (letters, digits, '-' or '_') and an epoch of 1 or more".into(),
            ));
        }
        let revoked = match wire.target {
            None => return Err(bad("revokes nothing".into())),
            Some(Target::Translator(t)) if !t.id.is_empty() => Revoked::Translator {
                id: t.id,
                version: t.version,
            },
            Some(Target::ProducerKey(k)) => {
                if k.nation != wire.issuer {
                    return Err(bad(format!(
                        "only {} may revoke {}'s producer keys",
                        k.nation, k.nation
                    )));
                }
                Revoked::ProducerKey {
                    key_sha256: k
                        .key_sha256
                        .as_ref()
                        .try_into()
                        .map_err(|_| bad("key_sha256 must be 32 bytes".into()))?,
                    nation: k.nation,
                    producer_id: k.producer_id,
                }
            }
            Some(Target::Product(p)) => {
                if p.origin != wire.issuer {
                    return Err(bad(format!(
                        "only {} may retract {}'s products",
                        p.origin, p.origin
                    )));
                }
                if p.product_id.is_empty() {
                    return Err(bad("product id is empty".into()));
                }
                Revoked::Product(ProductKey {
                    origin: p.origin,
                    producer_id: p.producer_id,
                    feed: p.feed,
                    product_id: p.product_id,
                })
            }
            Some(Target::SuspendPartner(p))
                if !p.partner.is_empty() && p.partner != wire.issuer =>
            {
                Revoked::SuspendPartner(p.partner)
            }
            Some(Target::ReinstatePartner(p))
                if !p.partner.is_empty() && p.partner != wire.issuer =>
            {
                Revoked::ReinstatePartner(p.partner)
            }
            Some(_) => return Err(bad("target is empty or names the issuer itself".into())),
        };
        Ok(Notice {
            issuer: wire.issuer,
            epoch: wire.epoch,
            effective_from_ms: wire.effective_from_ms,
            issued_at_ms: wire.issued_at_ms,
            reason: wire.reason,
            revoked,
        })
    }
}

/// The certificate identity (producer id) of a bridge key.
pub const BRIDGE_IDENTITY: &str = coalition_schemas::identities::BRIDGE;

/// A verified heartbeat.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Heartbeat {
    /// The issuer's latest epoch.
    pub epoch: u64,
    /// When it was signed.
    pub issued_at_ms: i64,
}

/// Signs a heartbeat with a bridge key and its certificate.
pub fn sign_heartbeat(
    issuer: &str,
    heartbeat: Heartbeat,
    key: &SigningKeyPair,
    certificate: bytes::Bytes,
) -> Result<v1::SignedObject, CoreError> {
    let body = v1::Heartbeat {
        issuer: issuer.to_string(),
        epoch: heartbeat.epoch,
        issued_at_ms: heartbeat.issued_at_ms,
    };
    sign_object(
        ObjectKind::Heartbeat,
        body.encode_to_vec(),
        issuer,
        key,
        Some(certificate),
    )
}

/// Verifies a heartbeat: signed by a bridge key its issuer's root certified.
pub fn verify_heartbeat(
    object: &v1::SignedObject,
    anchors: &TrustAnchors,
    now_ms: i64,
) -> Result<(String, Heartbeat), CoreError> {
    let hb: v1::Heartbeat = decode_body(object, ObjectKind::Heartbeat)?;
    verify_certified_signature(
        object,
        ObjectKind::Heartbeat,
        &hb.issuer,
        BRIDGE_IDENTITY,
        anchors,
        now_ms,
    )?;
    Ok((
        hb.issuer,
        Heartbeat {
            epoch: hb.epoch,
            issued_at_ms: hb.issued_at_ms,
        },
    ))
}

/// One suspend (`true`) or reinstate (`false`): (epoch, effective from, suspended).
type SuspensionEntry = (u64, i64, bool);

/// The epochs applied for one issuer.
#[derive(Debug, Default)]
struct Epochs {
    /// Every epoch `1..=contiguous` is applied.
    contiguous: u64,
    /// Applied epochs above `contiguous + 1` (arrived out of order).
    above: std::collections::BTreeSet<u64>,
}

impl Epochs {
    /// Records `epoch`; false if it was already applied.
    fn insert(&mut self, epoch: u64) -> bool {
        if epoch <= self.contiguous || !self.above.insert(epoch) {
            return false;
        }
        while self.above.remove(&(self.contiguous + 1)) {
            self.contiguous += 1;
        }
        true
    }
}

/// What applying a notice did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applied {
    /// It is new and now in the state.
    New,
    /// Its epoch was already applied for its issuer: ignored.
    Replay,
}

/// How fresh this bridge's view of a partner's revocation state is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Freshness {
    /// Recent heartbeat, every notice up to its epoch applied.
    Fresh,
    /// Not fresh, and why (for logs and the audit record).
    Stale(String),
}

/// The revocation state: concurrent maps, written by the control-plane
/// task and read on every message by every stage.
#[derive(Debug, Default)]
pub struct RevocationState {
    /// Applied epochs per issuer.
    epochs: DashMap<String, Epochs>,
    /// Translator id -> (version or 0, effective from, issuer).
    translators: DashMap<String, Vec<(u32, i64, String)>>,
    /// (producer's nation, key digest) -> effective from. Only the
    /// producer's own nation can revoke its keys ([`Notice::from_wire`]).
    keys: DashMap<(String, [u8; 32]), i64>,
    /// (nation, key digest) -> the lowest epoch of a notice revoking it:
    /// a revocation-authority key signs no notice of a later epoch of its
    /// nation ([`verify_notice`]).
    key_epochs: DashMap<(String, [u8; 32]), u64>,
    /// Product -> effective from.
    products: DashMap<ProductKey, i64>,
    /// (issuer, partner) -> every suspend (true) or reinstate (false) as
    /// (epoch, effective from, suspended); the one with the highest epoch
    /// among those in force decides.
    suspensions: DashMap<(String, String), Vec<SuspensionEntry>>,
    /// Latest verified heartbeat per issuer.
    heartbeats: DashMap<String, Heartbeat>,
}

impl RevocationState {
    /// No revocations.
    pub fn new() -> Self {
        Self::default()
    }

    /// The highest epoch `e` of `issuer` such that every epoch `1..=e` has
    /// been applied (0 if none): what freshness compares with heartbeats.
    pub fn epoch(&self, issuer: &str) -> u64 {
        self.epochs.get(issuer).map_or(0, |e| e.contiguous)
    }

    /// Applies a verified notice. Idempotent: an epoch already applied is a
    /// replay. Notices may arrive out of order; each is applied once.
    pub fn apply(&self, notice: &Notice) -> Applied {
        if !self
            .epochs
            .entry(notice.issuer.clone())
            .or_default()
            .insert(notice.epoch)
        {
            return Applied::Replay;
        }
        let from = notice.effective_from_ms;
        match &notice.revoked {
            Revoked::Translator { id, version } => self
                .translators
                .entry(id.clone())
                .or_default()
                .push((*version, from, notice.issuer.clone())),
            Revoked::ProducerKey {
                nation, key_sha256, ..
            } => {
                let mut e = self
                    .keys
                    .entry((nation.clone(), *key_sha256))
                    .or_insert(from);
                *e = (*e).min(from);
                let mut e = self
                    .key_epochs
                    .entry((nation.clone(), *key_sha256))
                    .or_insert(notice.epoch);
                *e = (*e).min(notice.epoch);
            }
            Revoked::Product(p) => {
                let mut e = self.products.entry(p.clone()).or_insert(from);
                *e = (*e).min(from);
            }
            Revoked::SuspendPartner(p) | Revoked::ReinstatePartner(p) => {
                let suspended = matches!(notice.revoked, Revoked::SuspendPartner(_));
                let key = (notice.issuer.clone(), p.clone());
                self.suspensions
                    .entry(key)
                    .or_default()
                    .push((notice.epoch, from, suspended));
            }
        }
        Applied::New
    }

    /// Whether `t` is revoked for decisions at `now_ms`: by a notice of
    /// either of its nations naming its id and its version (or all).
    pub fn is_translator_revoked(&self, t: &Translator, now_ms: i64) -> bool {
        self.translators.get(&t.id).is_some_and(|entries| {
            entries.iter().any(|(version, from, issuer)| {
                (*version == 0 || *version == t.version)
                    && *from <= now_ms
                    && (*issuer == t.from || *issuer == t.to)
            })
        })
    }

    /// Whether `nation`'s producer key is revoked at `now_ms`.
    pub fn is_key_revoked(&self, nation: &str, key_sha256: &[u8; 32], now_ms: i64) -> bool {
        self.keys
            .get(&(nation.to_string(), *key_sha256))
            .is_some_and(|from| *from <= now_ms)
    }

    /// The lowest epoch of a notice of `nation` revoking the key, if any:
    /// whatever its `effective_from_ms`, which is what [`verify_notice`]
    /// compares a revocation-authority key's notices with.
    pub fn key_revoked_at_epoch(&self, nation: &str, key_sha256: &[u8; 32]) -> Option<u64> {
        self.key_epochs
            .get(&(nation.to_string(), *key_sha256))
            .map(|e| *e)
    }

    /// Whether a product is retracted at `now_ms`.
    pub fn is_product_retracted(&self, product: &ProductKey, now_ms: i64) -> bool {
        self.products
            .get(product)
            .is_some_and(|from| *from <= now_ms)
    }

    /// Whether the partnership between `a` and `b` is suspended at
    /// `now_ms`, by either of them.
    pub fn is_suspended(&self, a: &str, b: &str, now_ms: i64) -> bool {
        [(a, b), (b, a)].iter().any(|(x, y)| {
            self.suspensions
                .get(&(x.to_string(), y.to_string()))
                .and_then(|entries| {
                    entries
                        .iter()
                        .filter(|(_, from, _)| *from <= now_ms)
                        .max_by_key(|(epoch, _, _)| *epoch)
                        .map(|(_, _, suspended)| *suspended)
                })
                .unwrap_or(false)
        })
    }

    /// Records a verified heartbeat (only if newer than the last one).
    pub fn heartbeat(&self, issuer: &str, heartbeat: Heartbeat) {
        let mut e = self
            .heartbeats
            .entry(issuer.to_string())
            .or_insert(heartbeat);
        if heartbeat.issued_at_ms >= e.issued_at_ms {
            *e = heartbeat;
        }
    }

    /// How fresh the view of `partner` is at `now_ms`, given the bound.
    pub fn freshness(&self, partner: &str, now_ms: i64, max_age_ms: i64) -> Freshness {
        let Some(hb) = self.heartbeats.get(partner).map(|h| *h) else {
            return Freshness::Stale(format!("no heartbeat from {partner} yet"));
        };
        // `issued_at_ms` is signed by the partner but otherwise unchecked:
        // saturate rather than overflow on an absurd instant.
        let age = now_ms.saturating_sub(hb.issued_at_ms);
        if age < max_age_ms.saturating_neg() {
            return Freshness::Stale(format!(
                "last heartbeat from {partner} is dated {} ms in the future: check the clocks",
                age.saturating_neg()
            ));
        }
        if age > max_age_ms {
            return Freshness::Stale(format!(
                "last heartbeat from {partner} is {age} ms old (bound {max_age_ms} ms)"
            ));
        }
        let applied = self.epoch(partner);
        if applied < hb.epoch {
            return Freshness::Stale(format!(
                "{partner} is at revocation epoch {}, applied here: {applied}",
                hb.epoch
            ));
        }
        Freshness::Fresh
    }
}

#[cfg(test)]
mod tests;
