//! Taking an exercise down so that nothing of it is left, and saying what
//! is left when Docker refuses.
//!
//! Every container and network of an exercise carries the label
//! [`LABEL`]`=<project>` (the compose file sets it), so the exercise finds
//! exactly its own: an unrelated container whose name happens to start
//! with the project's prefix is never its own.
//!
//! The decisions are pure ([`classify`], [`next_network_step`],
//! [`Teardown::advice`]); [`down`] is the thin shell that asks Docker. It
//! never stops at the first error: it removes every container it can,
//! then every network, retrying a network that still has endpoints (the
//! daemon sometimes keeps a stale endpoint after its container is gone)
//! by disconnecting them with `--force` first, and returns what it could
//! not remove with the commands to try.
use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::time::Duration;

use crate::docker;
use crate::plan::Plan;

/// The label every container and network of an exercise carries; its
/// value is the project name.
pub const LABEL: &str = "coalition-mesh.exercise";

/// How many times a network's removal is tried.
pub const NETWORK_ATTEMPTS: u32 = 4;

/// The `--filter` that matches exactly `project`'s own containers,
/// networks and volumes.
pub fn own_filter(project: &str) -> String {
    format!("label={LABEL}={project}")
}

/// Why Docker refused to remove something, from what it printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// It does not exist (any more): nothing to do.
    Gone,
    /// A network still has endpoints (containers, or stale ones).
    ActiveEndpoints,
    /// Anything else.
    Other,
}

/// Classifies Docker's message about a failed `rm`.
pub fn classify(detail: &str) -> Refusal {
    let d = detail.to_ascii_lowercase();
    if d.contains("no such") || d.contains("not found") {
        Refusal::Gone
    } else if d.contains("active endpoints") {
        Refusal::ActiveEndpoints
    } else {
        Refusal::Other
    }
}

/// What to do after a network's removal failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NetworkStep {
    /// It is gone already.
    Done,
    /// Disconnect these endpoints with `--force`, then try again.
    Disconnect(Vec<String>),
    /// Wait this long (the daemon releasing a stale endpoint), then try
    /// again.
    RetryAfter(Duration),
    /// Stop trying: it is left behind.
    GiveUp,
}

/// The next step for a network whose removal failed on try `attempt`
/// (1 for the first) with `refusal`, while Docker lists `endpoints` on it.
pub fn next_network_step(attempt: u32, refusal: Refusal, endpoints: &[String]) -> NetworkStep {
    if refusal == Refusal::Gone {
        return NetworkStep::Done;
    }
    if attempt >= NETWORK_ATTEMPTS {
        return NetworkStep::GiveUp;
    }
    if !endpoints.is_empty() {
        return NetworkStep::Disconnect(endpoints.to_vec());
    }
    NetworkStep::RetryAfter(Duration::from_millis(500 * u64::from(attempt)))
}

/// Something `down` could not remove.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Leftover {
    /// `container`, `network` or `volume`.
    pub kind: &'static str,
    /// Its name.
    pub name: String,
    /// Endpoints still on a network (to disconnect by hand).
    pub endpoints: Vec<String>,
    /// Docker's last word on it (one line).
    pub why: String,
}

/// What `down` did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Teardown {
    /// Removed, as `container NAME`, `network NAME`, `volume NAME`.
    pub removed: Vec<String>,
    /// What it had to retry, e.g. a forced disconnect.
    pub notes: Vec<String>,
    /// What is left.
    pub left: Vec<Leftover>,
}

impl Leftover {
    /// A network Docker would not remove for "active endpoints" while it
    /// lists none, after every retry: the daemon kept a stale endpoint of a
    /// container that is gone (a known Docker fault). Nothing of the
    /// exercise runs on it; only restarting the daemon frees it.
    pub fn is_stale_daemon_endpoint(&self) -> bool {
        self.kind == "network"
            && self.endpoints.is_empty()
            && classify(&self.why) == Refusal::ActiveEndpoints
    }
}

impl Teardown {
    /// Nothing of the exercise is left.
    pub fn is_clean(&self) -> bool {
        self.left.is_empty()
    }

    /// Nothing is left but networks the daemon holds by a stale endpoint
    /// ([`Leftover::is_stale_daemon_endpoint`]).
    pub fn is_clean_but_for_the_daemon(&self) -> bool {
        self.left.iter().all(Leftover::is_stale_daemon_endpoint)
    }

    /// What is left and what to do about it; empty when clean.
    pub fn advice(&self, project: &str) -> String {
        let mut out = String::new();
        if self.is_clean() {
            return out;
        }
        let _ = writeln!(
            out,
            "teardown left {} thing(s) of exercise {project:?} behind:",
            self.left.len()
        );
        for l in &self.left {
            let _ = writeln!(out, "  {} {}: {}", l.kind, l.name, l.why);
            match l.kind {
                "network" => {
                    for e in &l.endpoints {
                        let _ = writeln!(
                            out,
                            "    try: docker network disconnect --force {} {e}",
                            l.name
                        );
                    }
                    let _ = writeln!(out, "    try: docker network rm {}", l.name);
                }
                "volume" => {
                    let _ = writeln!(out, "    try: docker volume rm {}", l.name);
                }
                _ => {
                    let _ = writeln!(out, "    try: docker rm -f {}", l.name);
                }
            }
        }
        let _ = writeln!(
            out,
            "If Docker still says a network has active endpoints while no container is on it, \
             the daemon kept a stale endpoint: restart it (`sudo systemctl restart docker`) and \
             run `coalition exercise down` again. List what is left with \
             `docker ps -a --filter {f}` and `docker network ls --filter {f}`.",
            f = own_filter(project)
        );
        out
    }
}

/// What Docker printed (without the command line, which names the thing).
fn detail(e: crate::ExerciseError) -> String {
    match e {
        crate::ExerciseError::Docker { detail, .. } => detail,
        other => other.to_string(),
    }
}

/// The last line of Docker's message, without the command echo.
fn one_line(detail: &str) -> String {
    detail
        .lines()
        .map(str::trim)
        .rfind(|l| !l.is_empty() && !l.starts_with("exit status"))
        .unwrap_or("")
        .to_string()
}

/// Names Docker lists for `args` (one per line or space-separated).
async fn names(args: &[&str]) -> Vec<String> {
    docker::docker(args)
        .await
        .map(|out| out.split_whitespace().map(String::from).collect())
        .unwrap_or_default()
}

/// Removes every container, network and volume of `plan`'s exercise:
/// those labelled as its own, and those named as in its plan. Never stops
/// at the first error; returns what it did and what is left.
pub async fn down(plan: &Plan) -> Teardown {
    let filter = own_filter(&plan.project);
    let mut report = Teardown::default();

    let mut containers: BTreeSet<String> =
        names(&["ps", "-a", "--filter", &filter, "--format", "{{.Names}}"])
            .await
            .into_iter()
            .collect();
    // The plan's names too (an exercise started before the label existed),
    // but only those that exist: `rm -f` of a missing one succeeds.
    let existing: BTreeSet<String> = names(&["ps", "-a", "--format", "{{.Names}}"])
        .await
        .into_iter()
        .collect();
    containers.extend(
        plan.services
            .iter()
            .map(|s| s.name.clone())
            .filter(|n| existing.contains(n)),
    );
    // Stop them gently first, so agents flush their ledgers; a container
    // that does not exist only makes this command fail.
    let mut stop = vec!["stop", "--time", "5"];
    stop.extend(containers.iter().map(String::as_str));
    if !containers.is_empty() {
        let _ = docker::docker(&stop).await;
    }
    for c in &containers {
        match docker::docker(&["rm", "-f", "-v", c]).await {
            Ok(_) => report.removed.push(format!("container {c}")),
            Err(e) => {
                let detail = detail(e);
                if classify(&detail) != Refusal::Gone {
                    report.left.push(Leftover {
                        kind: "container",
                        name: c.clone(),
                        endpoints: Vec::new(),
                        why: one_line(&detail),
                    });
                }
            }
        }
    }

    let mut networks: BTreeSet<String> = names(&[
        "network",
        "ls",
        "--filter",
        &filter,
        "--format",
        "{{.Name}}",
    ])
    .await
    .into_iter()
    .collect();
    networks.extend(plan.networks());
    for n in &networks {
        remove_network(n, &mut report).await;
    }

    let volumes = names(&["volume", "ls", "-q", "--filter", &filter]).await;
    for v in volumes {
        match docker::docker(&["volume", "rm", &v]).await {
            Ok(_) => report.removed.push(format!("volume {v}")),
            Err(e) => report.left.push(Leftover {
                kind: "volume",
                name: v,
                endpoints: Vec::new(),
                why: one_line(&detail(e)),
            }),
        }
    }
    report
}

async fn remove_network(n: &str, report: &mut Teardown) {
    let mut attempt = 1;
    loop {
        let detail = match docker::docker(&["network", "rm", n]).await {
            Ok(_) => {
                report.removed.push(format!("network {n}"));
                return;
            }
            Err(e) => detail(e),
        };
        let refusal = classify(&detail);
        let endpoints = if refusal == Refusal::Gone {
            Vec::new()
        } else {
            names(&[
                "network",
                "inspect",
                "-f",
                "{{range $id, $c := .Containers}}{{$c.Name}} {{end}}",
                n,
            ])
            .await
        };
        match next_network_step(attempt, refusal, &endpoints) {
            NetworkStep::Done => return,
            NetworkStep::Disconnect(endpoints) => {
                for e in &endpoints {
                    let forced = docker::docker(&["network", "disconnect", "--force", n, e]).await;
                    let done = if forced.is_ok() {
                        "disconnected"
                    } else {
                        "could not disconnect"
                    };
                    report
                        .notes
                        .push(format!("network {n}: {done} {e} with --force"));
                }
            }
            NetworkStep::RetryAfter(wait) => {
                report.notes.push(format!(
                    "network {n}: {}; trying again in {} ms",
                    one_line(&detail),
                    wait.as_millis()
                ));
                tokio::time::sleep(wait).await;
            }
            NetworkStep::GiveUp => {
                report.left.push(Leftover {
                    kind: "network",
                    name: n.to_string(),
                    endpoints,
                    why: one_line(&detail),
                });
                return;
            }
        }
        attempt += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_filter_matches_the_project_label_exactly() {
        assert_eq!(own_filter("cm"), "label=coalition-mesh.exercise=cm");
        assert!(!own_filter("cm").contains("name="));
    }

    #[test]
    fn docker_s_refusals_are_classified() {
        let table = [
            ("Error: No such container: cm-usa-0", Refusal::Gone),
            ("Error: No such network: cm-gbr", Refusal::Gone),
            ("Error response from daemon: network cm-gbr not found", Refusal::Gone),
            (
                "Error response from daemon: error while removing network: network cm-gbr id 3f2a has active endpoints",
                Refusal::ActiveEndpoints,
            ),
            ("Cannot connect to the Docker daemon", Refusal::Other),
        ];
        for (detail, want) in table {
            assert_eq!(classify(detail), want, "{detail}");
        }
    }

    #[test]
    fn a_network_with_endpoints_is_disconnected_by_force_then_retried_then_given_up() {
        let helper = vec!["helper".to_string()];
        let none: Vec<String> = Vec::new();
        // (attempt, refusal, endpoints listed, next step)
        let table = [
            (1, Refusal::Gone, &none, NetworkStep::Done),
            (
                1,
                Refusal::ActiveEndpoints,
                &helper,
                NetworkStep::Disconnect(helper.clone()),
            ),
            (
                1,
                Refusal::ActiveEndpoints,
                &none,
                NetworkStep::RetryAfter(Duration::from_millis(500)),
            ),
            (
                2,
                Refusal::Other,
                &none,
                NetworkStep::RetryAfter(Duration::from_millis(1_000)),
            ),
            (
                3,
                Refusal::ActiveEndpoints,
                &helper,
                NetworkStep::Disconnect(helper.clone()),
            ),
            (
                NETWORK_ATTEMPTS,
                Refusal::ActiveEndpoints,
                &helper,
                NetworkStep::GiveUp,
            ),
            (NETWORK_ATTEMPTS, Refusal::Other, &none, NetworkStep::GiveUp),
            (NETWORK_ATTEMPTS, Refusal::Gone, &none, NetworkStep::Done),
        ];
        for (attempt, refusal, endpoints, want) in table {
            assert_eq!(
                next_network_step(attempt, refusal, endpoints),
                want,
                "attempt {attempt}, {refusal:?}, {endpoints:?}"
            );
        }
    }

    #[test]
    fn what_is_left_is_listed_with_the_commands_to_try() {
        assert_eq!(Teardown::default().advice("cm"), "");
        let t = Teardown {
            removed: vec!["network cm-usa".into()],
            notes: Vec::new(),
            left: vec![
                Leftover {
                    kind: "network",
                    name: "cm-gbr".into(),
                    endpoints: vec!["ep-1".into()],
                    why: "network cm-gbr id 3f has active endpoints".into(),
                },
                Leftover {
                    kind: "container",
                    name: "cm-gbr-0".into(),
                    endpoints: Vec::new(),
                    why: "device or resource busy".into(),
                },
            ],
        };
        let a = t.advice("cm");
        assert!(!t.is_clean());
        assert!(a.starts_with("teardown left 2 thing(s) of exercise \"cm\" behind:"));
        assert!(a.contains("network cm-gbr: network cm-gbr id 3f has active endpoints"));
        assert!(a.contains("try: docker network disconnect --force cm-gbr ep-1"));
        assert!(a.contains("try: docker network rm cm-gbr"));
        assert!(a.contains("try: docker rm -f cm-gbr-0"));
        assert!(a.contains("sudo systemctl restart docker"));
        assert!(a.contains("--filter label=coalition-mesh.exercise=cm"));
    }

    #[test]
    fn docker_s_message_is_cut_to_its_last_line() {
        let d = "exit status: 1\nError response from daemon: network cm-gbr has active endpoints\n";
        assert_eq!(
            one_line(d),
            "Error response from daemon: network cm-gbr has active endpoints"
        );
    }

    #[test]
    fn only_an_empty_network_refused_for_active_endpoints_is_the_daemons_fault() {
        let left = |kind: &'static str, endpoints: &[&str], why: &str| Leftover {
            kind,
            name: "cm-usa".into(),
            endpoints: endpoints.iter().map(|e| e.to_string()).collect(),
            why: why.into(),
        };
        let active = "Error response from daemon: network cm-usa id 03 has active endpoints";
        let cases = [
            (left("network", &[], active), true),
            (left("network", &["cm-usa-bridge"], active), false),
            (left("network", &[], "permission denied"), false),
            (left("container", &[], active), false),
            (left("volume", &[], active), false),
        ];
        for (leftover, stale) in cases {
            assert_eq!(leftover.is_stale_daemon_endpoint(), stale, "{leftover:?}");
        }
        let mut t = Teardown::default();
        assert!(t.is_clean_but_for_the_daemon());
        t.left.push(left("network", &[], active));
        assert!(t.is_clean_but_for_the_daemon() && !t.is_clean());
        t.left.push(left("container", &[], "still running"));
        assert!(!t.is_clean_but_for_the_daemon());
    }
}
