//! Who signs a `coalition revoke` notice: the nation's revocation authority
//! (`keys/<N>/revocation-authority.{key,cert}` of the mesh folder, or of the
//! `--keys` folder with `--clients`, by default), or, when asked
//! for by name, its root (the emergency path). Both are checked here as
//! the bridges will check the notice, so a notice they would refuse is
//! never published (it would hold an epoch of the nation for nothing).
//! It does not know whether the authority's key was revoked on the mesh;
//! the runbook says to destroy a revoked key (docs/runbooks/key-ceremony.md).
use std::path::{Path, PathBuf};

use coalition_core::keys::SigningKeyPair;
use coalition_core::revocation::NoticeSigner;
use coalition_sdk::CertifiedKey;

use super::{load_key, usage, RevokeArgs};
use crate::attach::Attach;
use crate::error::CliError;

/// A loaded, checked signer.
pub(super) enum Signer {
    /// The revocation authority's key and certificate.
    Authority(CertifiedKey),
    /// The root (emergency).
    Root(SigningKeyPair),
}

impl Signer {
    /// As `sign_notice` takes it.
    pub(super) fn as_notice_signer(&self) -> NoticeSigner<'_> {
        match self {
            Signer::Authority(key) => NoticeSigner::Authority(key),
            Signer::Root(root) => NoticeSigner::Root(root),
        }
    }
}

/// Loads and checks the key `revoke` signs with.
pub(super) fn load(args: &RevokeArgs, attach: &Attach, nation: &str) -> Result<Signer, CliError> {
    if let Some(path) = &args.emergency_root_key {
        let root = load_key(path)?;
        if root.public_key() != &attach.own_anchor(nation)? {
            return Err(usage(
                path,
                format!(
                    "is not {nation}'s root key ({})",
                    attach.own_anchor_source(nation)
                ),
            ));
        }
        eprintln!(
            "coalition: signing with {nation}'s ROOT key (emergency path); sign with the revocation authority once one is certified (docs/runbooks/key-ceremony.md)"
        );
        return Ok(Signer::Root(root));
    }
    let (key_path, cert_path): (PathBuf, PathBuf) =
        match (&args.authority_key, &args.authority_cert) {
            (Some(key), Some(cert)) => (key.clone(), cert.clone()),
            (key, cert) => {
                let (default_key, default_cert) = attach.revocation_authority_files(nation)?;
                (
                    key.clone().unwrap_or(default_key),
                    cert.clone().unwrap_or(default_cert),
                )
            }
        };
    missing(&key_path)?;
    missing(&cert_path)?;
    let anchor = attach.own_anchor(nation)?;
    let key = coalition_sdk::load_revocation_authority(
        &key_path,
        &cert_path,
        nation,
        &anchor,
        crate::now_ms(),
    )?;
    Ok(Signer::Authority(key))
}

/// A clear refusal for a missing authority file.
fn missing(path: &Path) -> Result<(), CliError> {
    if path.exists() {
        return Ok(());
    }
    Err(usage(
        path,
        "cannot read: not found. Give --authority-key and --authority-cert, or \
         certify a revocation authority with the root (coalition keys authority, \
         docs/runbooks/key-ceremony.md), or sign with --emergency-root-key in an \
         emergency",
    ))
}
