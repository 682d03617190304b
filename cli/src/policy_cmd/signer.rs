//! Who signs a `coalition revoke` notice: the nation's revocation authority
//! (`keys/<N>/revocation-authority.{key,cert}` by default), or, when asked
//! for by name, its root (the emergency path). Both are checked here as
//! the bridges will check the notice, so a notice they would refuse is
//! never published (it would hold an epoch of the nation for nothing).
//! It does not know whether the authority's key was revoked on the mesh;
//! the runbook says to destroy a revoked key (docs/runbooks/key-ceremony.md).
use std::path::{Path, PathBuf};

use coalition_core::keys::SigningKeyPair;
use coalition_core::revocation::NoticeSigner;
use coalition_sdk::CertifiedKey;

use super::{bridge_config, load_anchors, load_key, usage, RevokeArgs};
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

/// The nation's own trust anchor (its `root.pub`), from its bridge config.
fn own_anchor(args: &RevokeArgs) -> Result<coalition_core::keys::PublicKey, CliError> {
    let (path, cfg) = bridge_config(&args.mesh)?;
    let nation = &args.mesh.nation;
    load_anchors(&args.mesh, &cfg)?
        .remove(nation)
        .ok_or_else(|| usage(&path, format!("has no trust anchor for {nation} itself")))
}

/// Loads and checks the key `revoke` signs with.
pub(super) fn load(args: &RevokeArgs) -> Result<Signer, CliError> {
    let nation = &args.mesh.nation;
    if let Some(path) = &args.emergency_root_key {
        let root = load_key(path)?;
        if root.public_key() != &own_anchor(args)? {
            return Err(usage(
                path,
                format!("is not {nation}'s root key (the trust anchor in bridges/{nation}.toml)"),
            ));
        }
        eprintln!(
            "coalition: signing with {nation}'s ROOT key (emergency path); sign with the revocation authority once one is certified (docs/runbooks/key-ceremony.md)"
        );
        return Ok(Signer::Root(root));
    }
    let (default_key, default_cert) =
        nats_harness::revocation_authority_files(&args.mesh.dir, nation);
    let key_path: PathBuf = args.authority_key.clone().unwrap_or(default_key);
    let cert_path = args.authority_cert.clone().unwrap_or(default_cert);
    missing(&key_path)?;
    missing(&cert_path)?;
    let anchor = own_anchor(args)?;
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
        "cannot read: not found. Certify a revocation authority with the root \
         (coalition keys authority, docs/runbooks/key-ceremony.md), or sign with \
         --emergency-root-key in an emergency",
    ))
}
