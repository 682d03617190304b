//! Producer certificates: a national root vouches for a producer's key, its
//! feeds, its highest classification and a validity window.
//!
//! Verification of the root signature is separate from the time check, so
//! a verified certificate can be cached by digest and checked against the
//! clock on every message.
use std::collections::{BTreeMap, BTreeSet};

use bytes::Bytes;
use coalition_schemas::v1;
use prost::Message;
use sha2::{Digest, Sha256};

use crate::context;
use crate::keys::{PublicKey, SigningKeyPair};
use crate::{CoreError, DenyReason};

/// National root keys by nation code: whom this party trusts to certify
/// producers.
pub type TrustAnchors = BTreeMap<String, PublicKey>;

/// What a root is asked to certify.
#[derive(Debug, Clone)]
pub struct CertificateRequest {
    /// The issuing nation.
    pub nation: String,
    /// The producer's id.
    pub producer_id: String,
    /// The producer's public key.
    pub public_key: PublicKey,
    /// Start of validity, Unix ms (inclusive).
    pub not_before_ms: i64,
    /// End of validity, Unix ms (exclusive).
    pub not_after_ms: i64,
    /// Feeds it may publish.
    pub feeds: Vec<String>,
    /// Highest classification it may use.
    pub max_classification: String,
}

/// Issues a signed certificate; returns the encoded `SignedCertificate`.
pub fn issue_certificate(
    root: &SigningKeyPair,
    request: &CertificateRequest,
) -> Result<Bytes, CoreError> {
    if request.not_after_ms <= request.not_before_ms {
        return Err(CoreError::InvalidCertificate(
            "not_after must be later than not_before".into(),
        ));
    }
    if request.feeds.is_empty() {
        return Err(CoreError::InvalidCertificate(
            "a producer certificate must allow at least one feed".into(),
        ));
    }
    let cert = v1::ProducerCertificate {
        nation: request.nation.clone(),
        producer_id: request.producer_id.clone(),
        public_key: Some(request.public_key.to_wire()),
        not_before_ms: request.not_before_ms,
        not_after_ms: request.not_after_ms,
        feeds: request.feeds.clone(),
        max_classification: request.max_classification.clone(),
        issuer_key_sha256: Bytes::copy_from_slice(root.public_key().id()),
    }
    .encode_to_vec();
    let signature = root.sign(&cert, context::PRODUCER_CERTIFICATE)?;
    Ok(v1::SignedCertificate {
        certificate: Bytes::from(cert),
        signature,
    }
    .encode_to_vec()
    .into())
}

/// A certificate whose root signature has been checked.
#[derive(Debug, Clone)]
pub struct VerifiedCertificate {
    /// SHA-256 of the encoded `SignedCertificate`.
    pub digest: [u8; 32],
    /// The encoded `SignedCertificate` (to forward it on the control plane).
    pub encoded: Bytes,
    /// The issuing nation.
    pub nation: String,
    /// The producer.
    pub producer_id: String,
    /// The producer's key.
    pub key: PublicKey,
    /// Start of validity, Unix ms.
    pub not_before_ms: i64,
    /// End of validity, Unix ms.
    pub not_after_ms: i64,
    /// Allowed feeds.
    pub feeds: BTreeSet<String>,
    /// Highest classification.
    pub max_classification: String,
}

impl VerifiedCertificate {
    /// Whether the certificate is valid at `now_ms`.
    pub fn is_valid_at(&self, now_ms: i64) -> bool {
        self.not_before_ms <= now_ms && now_ms < self.not_after_ms
    }
}

/// SHA-256 of a certificate's bytes: how envelopes refer to it.
pub fn certificate_digest(signed_certificate: &[u8]) -> [u8; 32] {
    Sha256::digest(signed_certificate).into()
}

/// Checks a certificate's root signature against `anchors`.
pub fn verify_certificate(
    signed_certificate: &[u8],
    anchors: &TrustAnchors,
) -> Result<VerifiedCertificate, DenyReason> {
    let signed = v1::SignedCertificate::decode(signed_certificate)
        .map_err(|_| DenyReason::BadCertificate)?;
    let cert = v1::ProducerCertificate::decode(signed.certificate.as_ref())
        .map_err(|_| DenyReason::BadCertificate)?;
    let v1::ProducerCertificate {
        nation,
        producer_id,
        public_key,
        not_before_ms,
        not_after_ms,
        feeds,
        max_classification,
        issuer_key_sha256,
    } = cert;
    let root = anchors.get(&nation).ok_or(DenyReason::UnknownIssuer)?;
    if issuer_key_sha256.as_ref() != root.id() {
        return Err(DenyReason::UnknownIssuer);
    }
    if !root.verify(
        &signed.certificate,
        context::PRODUCER_CERTIFICATE,
        &signed.signature,
    ) {
        return Err(DenyReason::BadCertificate);
    }
    let key = public_key
        .as_ref()
        .ok_or(DenyReason::BadCertificate)
        .and_then(|k| PublicKey::from_wire(k).map_err(|_| DenyReason::BadCertificate))?;
    Ok(VerifiedCertificate {
        digest: certificate_digest(signed_certificate),
        encoded: Bytes::copy_from_slice(signed_certificate),
        nation,
        producer_id,
        key,
        not_before_ms,
        not_after_ms,
        feeds: feeds.into_iter().collect(),
        max_classification,
    })
}

/// Root-verified certificates by digest, so each is decoded and checked
/// once. Only certificates that verified are cached, so the cache grows with
/// the number of real producers, not with what an attacker sends.
#[derive(Debug)]
pub struct CertificateCache {
    anchors: TrustAnchors,
    verified: dashmap::DashMap<[u8; 32], std::sync::Arc<VerifiedCertificate>>,
}

impl CertificateCache {
    /// An empty cache trusting `anchors`.
    pub fn new(anchors: TrustAnchors) -> Self {
        CertificateCache {
            anchors,
            verified: dashmap::DashMap::new(),
        }
    }

    /// The verified certificate with `digest`, if it was added.
    pub fn get(&self, digest: &[u8; 32]) -> Option<std::sync::Arc<VerifiedCertificate>> {
        self.verified.get(digest).map(|hit| hit.clone())
    }

    /// Verifies a `SignedCertificate` against the trust anchors and caches
    /// it under the SHA-256 of `bytes` (how batches name it). Only the
    /// canonical encoding is accepted: the root's signature covers the inner
    /// bytes only, so without this anyone holding one valid certificate
    /// could grow the cache without bound by re-encoding it.
    pub fn add(&self, bytes: &[u8]) -> Result<std::sync::Arc<VerifiedCertificate>, DenyReason> {
        let digest = certificate_digest(bytes);
        if let Some(hit) = self.get(&digest) {
            return Ok(hit);
        }
        let canonical = v1::SignedCertificate::decode(bytes)
            .map(|c| c.encode_to_vec() == bytes)
            .unwrap_or(false);
        if !canonical {
            return Err(DenyReason::BadCertificate);
        }
        let cert = std::sync::Arc::new(verify_certificate(bytes, &self.anchors)?);
        self.verified.insert(digest, cert.clone());
        Ok(cert)
    }

    /// The trust anchors certificates are checked against.
    pub fn anchors(&self) -> &TrustAnchors {
        &self.anchors
    }

    /// How many certificates are cached.
    pub fn len(&self) -> usize {
        self.verified.len()
    }

    /// Whether nothing is cached yet.
    pub fn is_empty(&self) -> bool {
        self.verified.is_empty()
    }
}
