//! Signed control-plane objects: policy documents, translators, revocation
//! notices, heartbeats and audit checkpoints.
//!
//! Each is an encoded body plus one or more ML-DSA signatures
//! (`SignedObject`), each with the context string of its kind, so a
//! signature made for one kind can never verify as another. A signer is
//! either a national root (checked against the trust anchors) or a key the
//! root certified, such as a bridge's (checked through its certificate).
use bytes::Bytes;
use coalition_schemas::v1;

use crate::certificate::{verify_certificate, TrustAnchors, VerifiedCertificate};
use crate::keys::SigningKeyPair;
use crate::CoreError;

/// The kinds of signed object, each with its own signature context.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ObjectKind {
    /// A nation policy document (signed by the nation's root).
    Policy,
    /// A translator (co-signed by both nations' roots).
    Translator,
    /// A revocation notice (signed by the issuer's revocation-authority
    /// key, or by its root in an emergency).
    Notice,
    /// A heartbeat (signed by the issuer's bridge key).
    Heartbeat,
    /// An audit checkpoint (signed by the bridge key).
    AuditCheckpoint,
    /// A schema policy (signed by the nation's root).
    SchemaPolicy,
}

impl ObjectKind {
    /// The ML-DSA context string.
    pub fn context(self) -> &'static [u8] {
        match self {
            ObjectKind::Policy => b"coalition-mesh/v1/nation-policy",
            ObjectKind::Translator => b"coalition-mesh/v1/translator",
            ObjectKind::Notice => b"coalition-mesh/v1/revocation-notice",
            ObjectKind::Heartbeat => b"coalition-mesh/v1/heartbeat",
            ObjectKind::AuditCheckpoint => b"coalition-mesh/v1/audit-checkpoint",
            ObjectKind::SchemaPolicy => b"coalition-mesh/v1/schema-policy",
        }
    }

    /// For messages.
    pub fn as_str(self) -> &'static str {
        match self {
            ObjectKind::Policy => "policy document",
            ObjectKind::Translator => "translator",
            ObjectKind::Notice => "revocation notice",
            ObjectKind::Heartbeat => "heartbeat",
            ObjectKind::AuditCheckpoint => "audit checkpoint",
            ObjectKind::SchemaPolicy => "schema policy",
        }
    }
}

pub(crate) fn invalid_object(kind: ObjectKind, detail: impl Into<String>) -> CoreError {
    CoreError::InvalidObject {
        kind: kind.as_str(),
        detail: detail.into(),
    }
}

/// Whether `name` can stand as one NATS subject token in the `ctl.>`
/// subjects: non-empty ASCII letters, digits, `-` and `_`. Ids and nation
/// codes of control objects must be.
pub fn is_subject_token(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Signs `body` as `signer` (a nation code) with `key`. `certificate` is
/// the key's `SignedCertificate` when the key is not the nation's root.
pub fn sign_object(
    kind: ObjectKind,
    body: Vec<u8>,
    signer: &str,
    key: &SigningKeyPair,
    certificate: Option<Bytes>,
) -> Result<v1::SignedObject, CoreError> {
    let mut object = v1::SignedObject {
        body: body.into(),
        signatures: Vec::new(),
    };
    add_signature(&mut object, kind, signer, key, certificate)?;
    Ok(object)
}

/// Adds a signature to an object (a second party co-signing).
pub fn add_signature(
    object: &mut v1::SignedObject,
    kind: ObjectKind,
    signer: &str,
    key: &SigningKeyPair,
    certificate: Option<Bytes>,
) -> Result<(), CoreError> {
    let signature = key.sign(&object.body, kind.context())?;
    object.signatures.retain(|s| s.signer != signer);
    object.signatures.push(v1::ObjectSignature {
        signer: signer.to_string(),
        key_sha256: Bytes::copy_from_slice(key.public_key().id()),
        signature,
        certificate: certificate.unwrap_or_default(),
    });
    Ok(())
}

/// Checks that `nation`'s root, as given by `anchors`, signed `object`.
pub fn verify_root_signature(
    object: &v1::SignedObject,
    kind: ObjectKind,
    nation: &str,
    anchors: &TrustAnchors,
) -> Result<(), CoreError> {
    let root = anchors
        .get(nation)
        .ok_or_else(|| invalid_object(kind, format!("no trust anchor for {nation}")))?;
    let signature = object
        .signatures
        .iter()
        .find(|s| s.signer == nation && s.key_sha256.as_ref() == root.id())
        .ok_or_else(|| invalid_object(kind, format!("not signed by {nation}'s root key")))?;
    if !root.verify(&object.body, kind.context(), &signature.signature) {
        return Err(invalid_object(
            kind,
            format!("{nation}'s root signature does not verify"),
        ));
    }
    Ok(())
}

/// Checks that a key certified by `nation`'s root as producer id
/// `identity` (e.g. `bridge`) signed `object`, and that the certificate is
/// valid at `at_ms`.
pub fn verify_certified_signature(
    object: &v1::SignedObject,
    kind: ObjectKind,
    nation: &str,
    identity: &str,
    anchors: &TrustAnchors,
    at_ms: i64,
) -> Result<(), CoreError> {
    verify_certified_signer(object, kind, nation, identity, anchors, at_ms).map(|_| ())
}

/// As [`verify_certified_signature`], and returns the signer's verified
/// certificate (so a caller can check its key against revocations).
pub fn verify_certified_signer(
    object: &v1::SignedObject,
    kind: ObjectKind,
    nation: &str,
    identity: &str,
    anchors: &TrustAnchors,
    at_ms: i64,
) -> Result<VerifiedCertificate, CoreError> {
    let signature = object
        .signatures
        .iter()
        .find(|s| s.signer == nation && !s.certificate.is_empty())
        .ok_or_else(|| invalid_object(kind, format!("no certified signature of {nation}")))?;
    let cert = verify_certificate(&signature.certificate, anchors)
        .map_err(|r| invalid_object(kind, format!("signer certificate: {r}")))?;
    if cert.nation != nation || cert.producer_id != identity {
        return Err(invalid_object(
            kind,
            format!(
                "signer certificate is for {}/{}, expected {nation}/{identity}",
                cert.nation, cert.producer_id
            ),
        ));
    }
    if !cert.is_valid_at(at_ms) {
        return Err(invalid_object(
            kind,
            format!(
                "signer certificate {nation}/{identity} is not valid at {at_ms} ms (valid from {} until {} ms)",
                cert.not_before_ms, cert.not_after_ms
            ),
        ));
    }
    if signature.key_sha256.as_ref() != cert.key.id()
        || !cert
            .key
            .verify(&object.body, kind.context(), &signature.signature)
    {
        return Err(invalid_object(kind, "signature does not verify"));
    }
    Ok(cert)
}

/// Decodes a protobuf body, naming the kind on failure.
pub fn decode_body<T: prost::Message + Default>(
    object: &v1::SignedObject,
    kind: ObjectKind,
) -> Result<T, CoreError> {
    T::decode(object.body.as_ref())
        .map_err(|e| invalid_object(kind, format!("body does not decode: {e}")))
}

/// A key a national root certified, with its certificate: a bridge's
/// (heartbeats, audit checkpoints) or a revocation authority's (notices).
#[derive(Debug)]
pub struct CertifiedKey {
    /// The nation whose root certified it.
    pub nation: String,
    /// The key.
    pub key: SigningKeyPair,
    /// Its encoded `SignedCertificate`.
    pub certificate: Bytes,
}

impl CertifiedKey {
    /// Signs `body` as an object of `kind`.
    pub fn sign(&self, kind: ObjectKind, body: Vec<u8>) -> Result<v1::SignedObject, CoreError> {
        sign_object(
            kind,
            body,
            &self.nation,
            &self.key,
            Some(self.certificate.clone()),
        )
    }
}
