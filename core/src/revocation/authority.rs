//! Who signs revocation notices, and the check every bridge runs on each
//! before it changes the revocation state.
//!
//! A nation's notices are signed by its **revocation-authority key**: an
//! ML-DSA key its root certified under the reserved identity
//! `revocation-authority` (a `ProducerCertificate`, like the bridge key's).
//! The root is then needed only at the key ceremony, to certify the
//! authority for a bounded time, and can stay offline
//! (docs/runbooks/key-ceremony.md).
//!
//! A notice signed by the issuer's **root** is still accepted: the
//! emergency path, for when the authority key is lost, expired or
//! compromised. The root certifies the authority, so it is strictly more
//! powerful; accepting it adds no power that a root holder lacks.
//!
//! An authority signature counts only if:
//! - its certificate chains to the issuer's root and names the issuer and
//!   `revocation-authority` (a bridge's, a producer's or another nation's
//!   authority's certificate does not);
//! - the certificate is valid at the notice's own `issued_at_ms`. A notice
//!   is a permanent record, read again from CONTROL streams after every
//!   restart, long after it was signed; checking it against the reader's
//!   clock would drop genuine notices once their certificate expired;
//! - the key is not revoked by a `ProducerKey` notice of the issuer at a
//!   **lower epoch**. Revoking the authority key cuts it off for every later
//!   epoch of its nation, whatever that notice's `effective_from_ms`: the
//!   epoch is the issuer's own sequence, which a thief cannot move back into
//!   (epochs already applied are replays), whereas an instant in the signed
//!   body is the signer's word and could be backdated. Notices the key
//!   signed at lower epochs stay applied.
//!
//! What this does not do: it cannot tell a stolen key's notices from
//! genuine ones until the key is revoked, and it does not check the
//! notice's `issued_at_ms` against any clock (an expired key that was never
//! revoked could backdate a notice into its validity: the ceremony retires
//! every replaced authority key with a notice for that reason).
use coalition_schemas::v1;
use prost::Message;

use super::{Notice, RevocationState};
use crate::certificate::TrustAnchors;
use crate::keys::SigningKeyPair;
use crate::signed::{
    decode_body, invalid_object, sign_object, verify_certified_signer, verify_root_signature,
    CertifiedKey, ObjectKind,
};
use crate::CoreError;

/// The certificate identity (producer id) of a revocation-authority key.
pub const REVOCATION_AUTHORITY_IDENTITY: &str = coalition_schemas::identities::REVOCATION_AUTHORITY;

/// The key a notice is signed with.
#[derive(Debug, Clone, Copy)]
pub enum NoticeSigner<'a> {
    /// The issuer's revocation-authority key and its certificate: the
    /// normal path.
    Authority(&'a CertifiedKey),
    /// The issuer's root key: the emergency path, when the authority key
    /// is lost, expired or compromised.
    Root(&'a SigningKeyPair),
}

/// Signs a notice as its issuer, with `signer`. An authority key of another
/// nation than the notice's issuer is refused here, as a bridge would.
pub fn sign_notice(
    notice: &Notice,
    signer: NoticeSigner<'_>,
) -> Result<v1::SignedObject, CoreError> {
    let body = notice.to_wire().encode_to_vec();
    match signer {
        NoticeSigner::Authority(key) if key.nation != notice.issuer => Err(invalid_object(
            ObjectKind::Notice,
            format!(
                "{}: {}'s revocation authority cannot sign for {}",
                notice.name(),
                key.nation,
                notice.issuer
            ),
        )),
        NoticeSigner::Authority(key) => key.sign(ObjectKind::Notice, body),
        NoticeSigner::Root(root) => {
            sign_object(ObjectKind::Notice, body, &notice.issuer, root, None)
        }
    }
}

/// Verifies a notice: its shape and the issuer's authority over what it
/// revokes ([`Notice::from_wire`]), and its signature: by the issuer's
/// root, or by a revocation-authority key of the issuer, certified at the
/// notice's `issued_at_ms` and not revoked in `state` at a lower epoch
/// (see the module doc).
pub fn verify_notice(
    object: &v1::SignedObject,
    anchors: &TrustAnchors,
    state: &RevocationState,
) -> Result<Notice, CoreError> {
    let notice = Notice::from_wire(decode_body(object, ObjectKind::Notice)?)?;
    let issuer = notice.issuer.as_str();
    let bad = |detail: String| invalid_object(ObjectKind::Notice, detail);
    let root = anchors
        .get(issuer)
        .ok_or_else(|| bad(format!("no trust anchor for {issuer}")))?;
    let signed_as_issuer = |s: &&v1::ObjectSignature| s.signer == issuer;
    let signatures = || object.signatures.iter().filter(signed_as_issuer);
    if signatures().any(|s| s.key_sha256.as_ref() == root.id()) {
        verify_root_signature(object, ObjectKind::Notice, issuer, anchors)?;
        return Ok(notice);
    }
    if !signatures().any(|s| !s.certificate.is_empty()) {
        return Err(bad(format!(
            "{}: signed neither by {issuer}'s revocation authority nor by its root key",
            notice.name()
        )));
    }
    let cert = verify_certified_signer(
        object,
        ObjectKind::Notice,
        issuer,
        REVOCATION_AUTHORITY_IDENTITY,
        anchors,
        notice.issued_at_ms,
    )
    .map_err(|e| match e {
        CoreError::InvalidObject { detail, .. } => bad(format!("{}: {detail}", notice.name())),
        other => other,
    })?;
    if let Some(by) = state.key_revoked_at_epoch(issuer, cert.key.id()) {
        if by < notice.epoch {
            return Err(bad(format!(
                "{}: signed by {issuer}'s revocation-authority key {}, which {issuer}#{by} revoked",
                notice.name(),
                hex::encode(&cert.key.id()[..8])
            )));
        }
    }
    Ok(notice)
}

#[cfg(test)]
mod tests;
