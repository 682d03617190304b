//! Starts, for one partner, what reads from it: the follower of its
//! CONTROL stream and one ingress stage per lane, each attached to the
//! partner's RELEASED stream of that lane across the leaf link, through the
//! pull consumer the partner's bridge made for this nation (retrying while
//! the link is down or the consumer is not there yet). Both lanes share the
//! partner's rate limit, kept by how much the stage pulls at once.
use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream;
use coalition_core::revocation::Freshness;
use coalition_topology::{accounts, streams, BridgeConfig, IngressLink, Kind};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::ingress::IngressStage;
use crate::pacing::{Limiter, Pacer};
use crate::pipeline::run_stage;
use crate::shared::Shared;
use crate::shell::{Shell, Source};
use crate::stage::Target;
use crate::time::{now_ms, pause};
use crate::{bus, rate, BridgeError};

/// Connects to `link`'s partner and spawns its CONTROL follower and its
/// ingress stages.
pub(crate) async fn start(
    shared: &Arc<Shared>,
    link: &IngressLink,
    cfg: &BridgeConfig,
    shutdown: &watch::Receiver<bool>,
) -> Result<Vec<JoinHandle<()>>, BridgeError> {
    let nation = &shared.nation;
    let control = &shared.control;
    let mut tasks = Vec::new();
    let account = accounts::from_partner(&link.partner);
    let client = bus::connect(nation, &account, &cfg.servers, &link.credential).await?;
    let partner_js = jetstream::with_domain(client, &link.partner);
    tasks.push(tokio::spawn(control.clone().follow_partner(
        link.partner.clone(),
        partner_js.clone(),
        shutdown.clone(),
    )));
    let pace = Arc::new(rate::PartnerPace::new(
        &link.partner,
        cfg.rate_limits.for_partner(&link.partner),
    ));
    for kind in Kind::ALL {
        let (control, partner) = (shared.control.clone(), link.partner.clone());
        let stage = IngressStage {
            name: format!("{nation} ingress from {} ({kind})", link.partner),
            nation: nation.clone(),
            partner: link.partner.clone(),
            kind,
            state: shared.control.state.clone(),
            max_classification: link.max_classification.clone(),
            window: shared.window,
            pace: pace.clone(),
            freshness: Box::new(move || match control.freshness(&partner) {
                Freshness::Fresh => Ok(()),
                Freshness::Stale(why) => Err(why),
            }),
            clock: Arc::new(now_ms),
        };
        tasks.push(tokio::spawn(run_ingress(
            stage,
            partner_js.clone(),
            shared.clone(),
            shutdown.clone(),
        )));
    }
    Ok(tasks)
}

/// Attaches to one lane of the partner's RELEASED streams (retrying while
/// the link is down), then runs the ingress stage, which holds while the
/// view of the partner's revocation state is stale.
async fn run_ingress(
    stage: IngressStage,
    partner_js: jetstream::Context,
    shared: Arc<Shared>,
    mut shutdown: watch::Receiver<bool>,
) {
    let durable = streams::ingress_consumer(&stage.nation);
    let released = streams::released(stage.kind);
    let source = loop {
        let attempt = async {
            let stream = partner_js
                .get_stream(released)
                .await
                .map_err(|e| BridgeError::js(format!("partner {released} stream"), e))?;
            // The partner's bridge made this consumer for us and owns it;
            // we may read through it but not create or change one.
            let consumer = stream
                .get_consumer::<jetstream::consumer::pull::Config>(&durable)
                .await
                .map_err(|e| {
                    BridgeError::js(format!("partner {released} consumer {durable}"), e)
                })?;
            Ok::<_, BridgeError>(Source { consumer, stream })
        };
        match attempt.await {
            Ok(s) => break s,
            Err(e) => {
                tracing::info!(nation = %stage.nation, partner = %stage.partner, error = %e, "waiting for partner link");
                if pause(&mut shutdown, Duration::from_millis(500)).await {
                    return;
                }
            }
        }
    };
    tracing::info!(stage = %stage.name, "ingress attached");
    let shell = Shell {
        nation: shared.nation.clone(),
        source,
        targets: [(Target::Home, shared.home_js.clone())].into(),
        certificates_from: partner_js,
        cache: shared.control.state.certificates.clone(),
        auditor: shared.auditor.clone(),
        lease: shared.lease.clone(),
        pacing: shared.pacing.clone(),
        hold: shared.hold_at_ingress,
        pacer: Some(Pacer::new(
            &shared.nation,
            "ingress",
            Limiter::Partner(stage.pace.clone()),
        )),
    };
    run_stage(Arc::new(stage), shell, shutdown).await;
}
