//! The GBR air-defence console of the vignette, and the check of what it
//! showed: a subscription filtered by category (on the server) and area
//! (in the SDK), beside an unfiltered one that shows every alert of the
//! cell did reach GBR, so what the console leaves out is the filter's
//! doing, not a loss.
use coalition_sdk::{AlertV2, Delivery, Payload, Subscription, Topic};

use super::scene::{self, Raised, CATEGORY, CELL, CONSOLE};
use super::{next_matching, Report, Stage};

/// The GBR console (category and area) and, to show the filter is what
/// leaves alerts out, an unfiltered GBR subscriber of FRA's alerts.
pub(super) struct Console {
    filtered: Subscription,
    everything: Subscription,
}

impl Console {
    pub(super) async fn subscribe(stage: &Stage) -> Result<Self, String> {
        let area = scene::area().map_err(|e| format!("the console's area: {e}"))?;
        let topic = Topic::alerts().version(2).category(CATEGORY).area(area);
        let everything = Topic::alerts().version(2).from_nation(CELL.nation);
        Ok(Console {
            filtered: stage.subscribe(CONSOLE, topic).await?,
            everything: stage.subscribe(CONSOLE, everything).await?,
        })
    }

    /// Every alert reached GBR; the console showed exactly the incident,
    /// its update and its cancel, derived from both tracks.
    pub(super) async fn check(&mut self, out: &mut Report) -> Result<bool, String> {
        let mut arrived = Vec::new();
        for _ in Raised::ALL {
            let d = next_matching(&mut self.everything, |_| true)
                .await
                .map_err(|e| format!("{CONSOLE} did not receive every alert: {e}"))?;
            arrived.push(alert_of(&d)?.alert_id.clone());
        }
        let (s, w, n, e) = scene::AREA;
        out.line(format!(
            "{CONSOLE} console, Topic::alerts().category(\"{CATEGORY}\").area({s}, {w}, {n}, {e}), shows:"
        ));
        let mut shown = Vec::new();
        let cancel = Raised::Cancel.id();
        while shown.last().map(String::as_str) != Some(cancel) {
            let d = next_matching(&mut self.filtered, |_| true)
                .await
                .map_err(|e| format!("the console never showed {cancel}: {e}"))?;
            let a = alert_of(&d)?;
            let refers: Vec<&str> = a.references.iter().map(|r| r.alert_id.as_str()).collect();
            out.line(format!(
                "  {:<6} {:<16} [{}] {}{}{}",
                message_type(a),
                a.alert_id,
                d.label.display(),
                a.headline,
                if refers.is_empty() {
                    String::new()
                } else {
                    format!(" (refers to {})", refers.join(", "))
                },
                if d.derived_from.len() == 2 {
                    ", fused from 2 tracks"
                } else {
                    ""
                }
            ));
            shown.push(a.alert_id.clone());
        }
        Ok(judge(&arrived, &shown, out))
    }
}

/// Compares what arrived and what the console showed with the scene.
fn judge(arrived: &[String], shown: &[String], out: &mut Report) -> bool {
    let all: Vec<&str> = Raised::ALL.iter().map(|r| r.id()).collect();
    let want: Vec<&str> = Raised::ALL
        .iter()
        .filter(|r| r.shown())
        .map(|r| r.id())
        .collect();
    let mut passed = true;
    if arrived != all.as_slice() {
        out.fail(format!("{CONSOLE} received {arrived:?}, expected {all:?}"));
        passed = false;
    }
    if shown != want.as_slice() {
        out.fail(format!(
            "the console showed {shown:?}, expected exactly {want:?}"
        ));
        passed = false;
    }
    for r in Raised::ALL {
        if let Some(why) = r.left_out_because() {
            let ok = arrived.iter().any(|a| a == r.id()) && !shown.iter().any(|s| s == r.id());
            let verdict = if ok { "not shown" } else { "WRONG" };
            out.line(format!(
                "{} {verdict}: {why}; it did reach {CONSOLE}",
                r.id()
            ));
        }
    }
    passed
}

fn alert_of(d: &Delivery) -> Result<&AlertV2, String> {
    match &d.payload {
        Payload::AlertV2(a) => Ok(a),
        other => Err(format!(
            "expected an alert v2 from {}, got {other:?}",
            d.origin
        )),
    }
}

pub(super) fn message_type(a: &AlertV2) -> String {
    a.message_type()
        .as_str_name()
        .trim_start_matches("ALERT_MESSAGE_TYPE_")
        .to_lowercase()
}

pub(super) fn severity(a: &AlertV2) -> String {
    a.severity()
        .as_str_name()
        .trim_start_matches("ALERT_SEVERITY_")
        .to_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(raised: &[Raised]) -> Vec<String> {
        raised.iter().map(|r| r.id().to_string()).collect()
    }

    #[test]
    fn judge_passes_only_the_incident_thread_shown_with_every_alert_arrived() {
        use Raised::*;
        let all = ids(&Raised::ALL);
        let thread = ids(&[Incident, Update, Cancel]);
        #[rustfmt::skip]
        let cases = [
            ("as the scene says", all.clone(), thread.clone(), true),
            ("the console showed the Toulon alert", all.clone(),
                ids(&[Incident, FarAway, Update, Cancel]), false),
            ("the console showed the cbrn alert", all.clone(),
                ids(&[Incident, OtherCategory, Update, Cancel]), false),
            ("the console missed the update", all.clone(), ids(&[Incident, Cancel]), false),
            ("an alert never reached GBR", ids(&[Incident, OtherCategory, Update, Cancel]),
                thread.clone(), false),
        ];
        for (name, arrived, shown, want) in cases {
            let mut out = Report::default();
            assert_eq!(judge(&arrived, &shown, &mut out), want, "{name}");
            let failed = out.lines.iter().any(|l| l.starts_with("  !"));
            assert_eq!(failed, !want, "{name}: {:?}", out.lines);
        }
    }
}
