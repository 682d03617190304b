//! The end of a bounded run: a live revocation. The receiving nation of the
//! first link revokes the translator of that link on its own; the run then
//! publishes one more track the label would allow, and checks that it is
//! stopped with `translator_revoked` and how soon the notice was enforced.
use std::time::{Duration, Instant};

use coalition_core::revocation::{NoticeSigner, Revoked};
use coalition_sdk::{ControlPublisher, Label, ProducerOptions, TrackV1};
use nats_harness::Mesh;

use super::metrics_text::counter_total;
use crate::error::CliError;

const WAIT: Duration = Duration::from_secs(30);

/// Runs the demonstration; `Ok(false)` if the revocation did not hold.
pub async fn revoke_and_check(mesh: &Mesh) -> Result<bool, CliError> {
    let topology = mesh.topology();
    let Some(link) = topology
        .links
        .iter()
        .find(|l| topology.feeds_of(&l.from).next().is_some())
    else {
        return Ok(true);
    };
    let (from, to) = (link.from.as_str(), link.to.as_str());
    let clients = mesh
        .clients(to)
        .ok_or_else(|| CliError::Runtime(format!("no clients file for {to}")))?;
    // As an operator would: with the nation's revocation authority, not
    // its root (which stays offline).
    let (key, cert) = nats_harness::revocation_authority_files(mesh.dir(), to);
    let anchor = coalition_sdk::load_trust_anchor(&mesh.root_public_key_path(to))?;
    let authority =
        coalition_sdk::load_revocation_authority(&key, &cert, to, &anchor, crate::now_ms())?;
    let translator = format!("{from}-{to}");
    println!("\n== revocation: {to} revokes translator {translator}, on its own ==");
    let applied = |nation: &str| {
        counter_total(
            "coalition_bridge_notices_applied_total",
            &[("nation", nation), ("issuer", to)],
        )
    };
    let before = applied(to);
    let started = Instant::now();
    // As an ops team would: the operator user, not the bridge's.
    let control = ControlPublisher::connect(&clients.servers, to, &clients.operator).await?;
    let notice = control
        .revoke(
            NoticeSigner::Authority(&authority),
            Revoked::Translator {
                id: translator.clone(),
                version: 0,
            },
            None,
            "runner demonstration",
        )
        .await?;
    if !poll(|| applied(to) > before).await {
        println!(
            "  ! {to}'s bridge did not apply {} within {WAIT:?}",
            notice.name()
        );
        return Ok(false);
    }
    println!(
        "  {} applied by {to}'s bridge {} ms after it was published",
        notice.name(),
        started.elapsed().as_millis()
    );
    let stopped = |nation: &str, metric: &str| {
        counter_total(
            metric,
            &[("nation", nation), ("reason", "translator_revoked")],
        )
    };
    let before_egress = stopped(from, "coalition_bridge_denied_total");
    let before_ingress = stopped(to, "coalition_bridge_rejected_total");
    publish_one(mesh, from, to).await?;
    let held = poll(|| {
        stopped(from, "coalition_bridge_denied_total") > before_egress
            || stopped(to, "coalition_bridge_rejected_total") > before_ingress
    })
    .await;
    if held {
        let at = if stopped(from, "coalition_bridge_denied_total") > before_egress {
            format!("{from}'s egress (it learned of the notice over the mesh)")
        } else {
            format!("{to}'s ingress")
        };
        println!("  a new {from} track releasable to {to} was stopped at {at}: translator_revoked");
        println!("  PASS");
    } else {
        println!("  ! the track was not stopped within {WAIT:?}");
    }
    Ok(held)
}

async fn poll(check: impl Fn() -> bool) -> bool {
    let deadline = Instant::now() + WAIT;
    while Instant::now() < deadline {
        if check() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    false
}

async fn publish_one(mesh: &Mesh, from: &str, to: &str) -> Result<(), CliError> {
    let topology = mesh.topology();
    let feed = topology
        .feeds_of(from)
        .next()
        .ok_or_else(|| CliError::Runtime(format!("{from} has no feed")))?;
    let nation = topology
        .nation(from)
        .ok_or_else(|| CliError::Runtime(format!("unknown nation {from}")))?;
    let anchor = coalition_sdk::load_trust_anchor(&mesh.root_public_key_path(from))?;
    let (key, cert) = mesh.producer_key_paths(from, &feed.producer);
    let identity = coalition_sdk::load_producer_identity(&key, &cert, from, &anchor)?;
    let clients = mesh
        .clients(from)
        .ok_or_else(|| CliError::Runtime(format!("no clients for {from}")))?;
    let producer = ProducerOptions::from_clients(clients, &feed.producer)?
        .connect(identity)
        .await?;
    let low = nation.classifications.first().cloned().unwrap_or_default();
    let track = TrackV1 {
        track_id: "REVOCATION-DEMO".into(),
        ..Default::default()
    };
    producer
        .publish(
            &feed.name,
            coalition_sdk::Record::track(&Label::new(from, &low, &[to]), &track),
        )
        .await?;
    Ok(())
}
