//! The FRA cell's label work: each source track as FRA admitted it, in
//! FRA's vocabulary, and the composite label of the alert fused from them.
//!
//! The cell translates each source's signed label itself, with the signed
//! translator and FRA's signed policy document from the mesh folder, both
//! verified against the nations' roots, and checks that it reaches the same
//! label as FRA's bridge did (the delivery's lineage). The composite is
//! `coalition_core::composite`'s, checked to be at least as restrictive as
//! every source.
use std::path::Path;

use coalition_core::composite::{composite_label, is_at_least_as_restrictive};
use coalition_core::label::NationPolicy;
use coalition_core::policy::verify_policy;
use coalition_core::translator::{verify_translator, Translator};
use coalition_schemas::v1::{control_message::Body, ControlMessage, SignedObject};
use coalition_sdk::{Delivery, Label, SourceRef, TrustAnchors};
use coalition_topology::control_files;
use prost::Message as _;

/// A source track as the cell admitted it.
#[derive(Debug)]
pub struct Admitted {
    /// Its lineage entry in the fused alert.
    pub source: SourceRef,
    /// The track id.
    pub track_id: String,
}

/// The fused product's label and sources.
#[derive(Debug)]
pub struct Fused {
    pub label: Label,
    pub sources: Vec<SourceRef>,
    pub track_ids: Vec<String>,
}

/// `home`'s policy document (version 1) from the mesh folder, verified.
pub fn home_policy(dir: &Path, home: &str, anchors: &TrustAnchors) -> Result<NationPolicy, String> {
    let path = control_files::policy(home);
    match read_control(dir, &path)? {
        Body::Policy(object) => verify_policy(&object, anchors)
            .map_err(|e| format!("{path}: {home}'s policy does not verify: {e}")),
        _ => Err(format!("{path} holds no policy document")),
    }
}

/// The translator `from` -> `to` (version 1) from the mesh folder, verified.
fn translator(
    dir: &Path,
    from: &str,
    to: &str,
    anchors: &TrustAnchors,
) -> Result<Translator, String> {
    let path = control_files::translator(from, to);
    match read_control(dir, &path)? {
        Body::Translator(object) => verify(&object, anchors, &path),
        _ => Err(format!("{path} holds no translator")),
    }
}

fn verify(object: &SignedObject, anchors: &TrustAnchors, path: &str) -> Result<Translator, String> {
    verify_translator(object, anchors).map_err(|e| format!("{path} does not verify: {e}"))
}

fn read_control(dir: &Path, relative: &str) -> Result<Body, String> {
    let path = dir.join(relative);
    let bytes = std::fs::read(&path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    ControlMessage::decode(bytes.as_slice())
        .map_err(|e| format!("{} is not a control message: {e}", path.display()))?
        .body
        .ok_or_else(|| format!("{} is an empty control message", path.display()))
}

/// A partner's track as `home` admitted it: its label translated by the
/// signed translator, which must be the one and give the label `home`'s
/// bridge recorded in the delivery's lineage.
pub fn admit(
    dir: &Path,
    home: &NationPolicy,
    anchors: &TrustAnchors,
    delivery: &Delivery,
    track_id: &str,
) -> Result<Admitted, String> {
    let t = translator(dir, &delivery.origin, &home.nation, anchors)?;
    let label = t.translate(&delivery.label, home).map_err(|reason| {
        format!(
            "{} cannot translate {}: {reason:?}",
            t.name(),
            delivery.label.display()
        )
    })?;
    let recorded = delivery.lineage.translator.as_deref();
    if recorded != Some(t.name().as_str()) {
        return Err(format!(
            "{track_id} was admitted by translator {recorded:?}, not {}",
            t.name()
        ));
    }
    let bridge_label = delivery.lineage.translated_label.as_deref();
    if bridge_label != Some(label.display().as_str()) {
        return Err(format!(
            "{track_id}: {}'s bridge recorded the label {bridge_label:?}, the cell computes {}",
            home.nation,
            label.display()
        ));
    }
    let source = SourceRef {
        origin: delivery.origin.clone(),
        producer_id: delivery.producer_id.clone(),
        feed: delivery.feed.clone(),
        seq: delivery.seq,
        label,
        translator: Some(t.name()),
    };
    Ok(Admitted {
        source,
        track_id: track_id.to_string(),
    })
}

/// The composite label of `admitted`, checked to be at least as
/// restrictive as each of them.
pub fn fuse(home: &NationPolicy, admitted: Vec<Admitted>) -> Result<Fused, String> {
    let labels: Vec<&Label> = admitted.iter().map(|a| &a.source.label).collect();
    let label = composite_label(home, &labels).map_err(|e| format!("no composite label: {e}"))?;
    if let Some(weaker) = labels
        .iter()
        .find(|source| !is_at_least_as_restrictive(home, &label, source))
    {
        return Err(format!(
            "the composite {} is less restrictive than the source {}",
            label.display(),
            weaker.display()
        ));
    }
    let (sources, track_ids) = admitted.into_iter().map(|a| (a.source, a.track_id)).unzip();
    Ok(Fused {
        label,
        sources,
        track_ids,
    })
}
