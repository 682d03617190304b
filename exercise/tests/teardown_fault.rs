//! `down` with a fault injected: a helper container that is not the
//! exercise's own sits on one of its networks, so the first removal of
//! that network fails with "active endpoints". `down` must still remove
//! everything of the exercise (disconnecting the helper with `--force`
//! and trying again), leave nothing of it behind by label, and leave an
//! unrelated container named like the exercise alone, which `up`'s filter
//! must not take for its own either.
//!
//! Cheap: no exercise image, no compose. The containers run a static
//! nats-server imported as a one-file image (`docker import`, no
//! registry).
use std::process::{Command, Output};

use coalition_exercise::plan::Plan;
use coalition_exercise::teardown::{self, LABEL};
use coalition_topology::parse_topology;

const HELPER_IMAGE: &str = "coalition-teardown-helper:local";

fn docker(args: &[&str]) -> Output {
    Command::new("docker").args(args).output().expect("docker")
}

fn ok(args: &[&str]) -> String {
    let out = docker(args);
    assert!(out.status.success(), "docker {args:?}: {out:?}");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

fn lines(args: &[&str]) -> Vec<String> {
    ok(args).split_whitespace().map(String::from).collect()
}

/// A one-file image holding the static nats-server, so a container can
/// run without any registry.
fn helper_image() {
    if docker(&["image", "inspect", HELPER_IMAGE]).status.success() {
        return;
    }
    let root = nats_harness::workspace_root();
    let status = Command::new("bash")
        .arg(root.join("scripts/install-nats-server.sh"))
        .current_dir(&root)
        .stdout(std::process::Stdio::null())
        .status()
        .expect("install nats-server");
    assert!(status.success());
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(
        root.join("tools/bin/nats-server"),
        dir.path().join("nats-server"),
    )
    .unwrap();
    let script = format!(
        "tar -C {} -c . | docker import -c 'ENTRYPOINT [\"/nats-server\"]' - {HELPER_IMAGE}",
        dir.path().display()
    );
    let status = Command::new("bash").args(["-c", &script]).status().unwrap();
    assert!(status.success(), "docker import");
}

/// Removes the test's own extra containers even if an assertion fails.
struct Cleanup(Vec<String>);

impl Drop for Cleanup {
    fn drop(&mut self) {
        for c in &self.0 {
            let _ = docker(&["rm", "-f", c]);
        }
    }
}

#[tokio::test]
async fn down_removes_everything_of_its_own_despite_a_foreign_endpoint_and_nothing_else() {
    helper_image();
    let pid = std::process::id();
    let project = format!("cm-td-{pid}");
    let topology = parse_topology(
        include_str!("../../topologies/coalition-3.toml"),
        "coalition-3.toml".as_ref(),
    )
    .unwrap();
    let plan = Plan::new(&project, topology, Some(1)).unwrap();
    let label = format!("{LABEL}={project}");
    let helper = format!("cmhelper-{pid}");
    let unrelated = format!("{project}-other");
    let _cleanup = Cleanup(vec![helper.clone(), unrelated.clone()]);

    // The exercise as compose would leave it: labelled networks and one
    // labelled container of the plan.
    for n in plan.networks() {
        ok(&["network", "create", "--label", &label, &n]);
    }
    let own = &plan.services[0];
    ok(&[
        "run",
        "-d",
        "--name",
        &own.name,
        "--label",
        &label,
        "--network",
        &own.networks[0],
        HELPER_IMAGE,
    ]);
    // The fault: a container not of the exercise on its GBR network.
    let gbr = plan.network("GBR");
    ok(&["run", "-d", "--name", &helper, HELPER_IMAGE]);
    ok(&["network", "connect", &gbr, &helper]);
    // An unrelated container named with the exercise's prefix.
    ok(&["run", "-d", "--name", &unrelated, HELPER_IMAGE]);

    // `up`'s filter sees only the exercise's own container; the old name
    // filter took the unrelated one for its own too.
    let filter = teardown::own_filter(&project);
    let mine = lines(&["ps", "--filter", &filter, "--format", "{{.Names}}"]);
    assert_eq!(mine, vec![own.name.clone()]);
    let by_name = lines(&[
        "ps",
        "--filter",
        &format!("name=^{project}-"),
        "--format",
        "{{.Names}}",
    ]);
    assert!(by_name.contains(&unrelated), "{by_name:?}");

    // The first removal of GBR's network fails while the helper is on it.
    let first = docker(&["network", "rm", &gbr]);
    assert!(!first.status.success(), "the fault is in place");
    assert!(String::from_utf8_lossy(&first.stderr).contains("active endpoints"));

    let t = teardown::down(&plan).await;
    assert!(t.is_clean(), "{}", t.advice(&project));
    assert!(
        t.notes
            .iter()
            .any(|n| n == &format!("network {gbr}: disconnected {helper} with --force")),
        "{:?}",
        t.notes
    );
    assert!(
        t.removed.contains(&format!("network {gbr}")),
        "{:?}",
        t.removed
    );
    assert!(t.removed.contains(&format!("container {}", own.name)));
    assert_eq!(
        t.removed
            .iter()
            .filter(|r| r.starts_with("network "))
            .count(),
        plan.networks().len()
    );

    // Nothing of the exercise is left, by label; the others are untouched.
    assert!(lines(&["ps", "-aq", "--filter", &filter]).is_empty());
    assert!(lines(&["network", "ls", "-q", "--filter", &filter]).is_empty());
    assert!(lines(&["volume", "ls", "-q", "--filter", &filter]).is_empty());
    let still = lines(&["ps", "--format", "{{.Names}}"]);
    assert!(
        still.contains(&unrelated) && still.contains(&helper),
        "{still:?}"
    );
}
