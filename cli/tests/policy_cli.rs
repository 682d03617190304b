//! `coalition revoke`, `translator issue|cosign`, `policy sign` and
//! `control publish` against a real mesh (real nats-server, in-process
//! bridges), reached through its mesh folder (`--dir/--nation`) or, as a
//! deployed nation, through its clients file and a keys folder of its own
//! (`--clients/--keys`), and their refusals of bad input.
mod common;

use std::process::Output;
use std::time::Duration;

use common::{clients_file, coalition, deployed_keys, mesh_with_bridges};

const TOPOLOGY: &str = include_str!("../../topologies/pair.toml");

fn ok(out: &Output) -> String {
    assert!(
        out.status.success(),
        "exit {:?}: {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).to_string()
}

fn refused(out: &Output, needle: &str) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains(needle), "{needle:?} not in {stderr:?}");
}

fn metric(series: &str) -> f64 {
    coalition_bridge::telemetry::render()
        .lines()
        .find_map(|l| l.strip_prefix(series)?.trim().parse().ok())
        .unwrap_or(0.0)
}

async fn until(what: &str, check: impl Fn() -> bool) {
    tokio::time::timeout(Duration::from_secs(60), async {
        while !check() {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await
    .unwrap_or_else(|_| panic!("timed out: {what}"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn translators_are_signed_by_both_nations_published_and_revoked_from_the_cli() {
    let (mesh, _stop) = mesh_with_bridges(TOPOLOGY).await;
    let dir = mesh.dir().display().to_string();
    let key = |n: &str| format!("{dir}/keys/{n}/root.key");
    let spec = format!("{dir}/usa-gbr-v2.toml");
    std::fs::write(
        &spec,
        r#"
id = "USA-GBR"
version = 2
from = "USA"
to = "GBR"
source_policy_versions = [1, 1]
target_policy_versions = [1, 1]
not_before_ms = 0
not_after_ms = 4102444800000
[classifications]
UNCLASSIFIED = "UNCLASSIFIED"
SECRET = "SECRET"
"#,
    )
    .unwrap();
    let half = format!("{dir}/half.ctl");
    let whole = format!("{dir}/whole.ctl");
    ok(&coalition(&[
        "translator",
        "issue",
        "--spec",
        &spec,
        "--nation",
        "USA",
        "--key",
        &key("USA"),
        "--out",
        &half,
    ]));
    let mesh_args = ["--dir", dir.as_str(), "--nation", "USA"];
    // One signature is not enough to publish.
    refused(
        &coalition(&[&["control", "publish"][..], &mesh_args, &["--file", &half]].concat()),
        "both nations must sign",
    );
    ok(&coalition(&[
        "translator",
        "cosign",
        "--in",
        &half,
        "--nation",
        "GBR",
        "--key",
        &key("GBR"),
        "--out",
        &whole,
    ]));
    // As a deployed nation: the clients file, and no keys (it signs
    // nothing; the operator user publishes what both roots signed).
    let usa_clients = clients_file(mesh.dir(), "USA");
    let out = ok(&coalition(&[
        "control",
        "publish",
        "--clients",
        &usa_clients,
        "--file",
        &whole,
    ]));
    assert!(out.contains("published translator USA-GBR@2"), "{out}");
    for nation in ["USA", "GBR"] {
        let series = format!(
            r#"coalition_bridge_control_applied_total{{nation="{nation}",kind="translator"}}"#
        );
        until(&format!("{nation} applies USA-GBR@2"), || {
            metric(&series) >= 1.0
        })
        .await;
    }
    // GBR revokes every version, unilaterally; both bridges apply it. GBR
    // acts as a deployed nation: its clients file, and a keys folder of its
    // own with its revocation authority and the roots (no root key).
    let gbr_keys = deployed_keys(mesh.dir(), "GBR");
    let out = ok(&coalition(&[
        "revoke",
        "--clients",
        &clients_file(mesh.dir(), "GBR"),
        "--keys",
        &gbr_keys.path().display().to_string(),
        "translator",
        "--id",
        "USA-GBR",
    ]));
    assert!(
        out.contains("GBR#1: revoke translator USA-GBR (all versions)"),
        "{out}"
    );
    let out = ok(&coalition(&[
        "revoke",
        "--dir",
        &dir,
        "--nation",
        "USA",
        "product",
        "--producer",
        "radar-1",
        "--product-id",
        "T-9",
    ]));
    assert!(out.contains("USA#1: retract product T-9"), "{out}");
    // The producer's certificate and the authority, from the keys folder.
    let usa_keys = deployed_keys(mesh.dir(), "USA");
    let out = ok(&coalition(&[
        "revoke",
        "--clients",
        &usa_clients,
        "--keys",
        &usa_keys.path().display().to_string(),
        "producer-key",
        "--producer",
        "radar-1",
    ]));
    assert!(out.contains("USA#2: revoke key"), "{out}");
    // The emergency path: signed by the root, named on the command line.
    let out = coalition(&[
        "revoke",
        "--dir",
        &dir,
        "--nation",
        "USA",
        "--emergency-root-key",
        &key("USA"),
        "product",
        "--producer",
        "radar-1",
        "--product-id",
        "T-10",
    ]);
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("signing with USA's ROOT key"),
        "the root's use is said"
    );
    assert!(ok(&out).contains("USA#3: retract product T-10"));
    // The authority retires its own key (as after a renewal).
    let out = ok(&coalition(&[
        "revoke",
        "--dir",
        &dir,
        "--nation",
        "USA",
        "authority-key",
    ]));
    assert!(
        out.contains("USA#4: revoke key") && out.contains("of producer USA/revocation-authority"),
        "{out}"
    );
    // On a one-way link GBR has nowhere to send its notices to USA: it
    // enforces its own revocation at ingress (see docs/policy.md).
    for (nation, issuer, n) in [
        ("GBR", "GBR", 1.0),
        ("USA", "USA", 4.0),
        ("GBR", "USA", 4.0),
    ] {
        let series = format!(
            r#"coalition_bridge_notices_applied_total{{nation="{nation}",issuer="{issuer}"}}"#
        );
        until(&format!("{nation} applies {issuer}'s notices"), || {
            metric(&series) >= n
        })
        .await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schema_policies_are_signed_and_published_from_the_cli() {
    let (mesh, _stop) = mesh_with_bridges(TOPOLOGY).await;
    let dir = mesh.dir().display().to_string();
    let spec = format!("{dir}/usa-schema.toml");
    std::fs::write(
        &spec,
        r#"
nation = "USA"
version = 1
[[rule]]
message_type = "track"
current_version = 1
[rule.migration]
from_version = 1
to_version = 2
window_start = "now+1h"
window_end = "now+7d"
[[rule]]
message_type = "alert"
current_version = 1
"#,
    )
    .unwrap();
    let signed = format!("{dir}/usa-schema.ctl");
    let key = format!("{dir}/keys/USA/root.key");
    let out = ok(&coalition(&[
        "schema-policy",
        "sign",
        "--spec",
        &spec,
        "--key",
        &key,
        "--out",
        &signed,
    ]));
    assert!(out.contains("signed USA schema policy v1"), "{out}");
    let out = ok(&coalition(&[
        "control", "publish", "--dir", &dir, "--nation", "USA", "--file", &signed,
    ]));
    assert!(out.contains("published USA schema policy v1"), "{out}");
    // USA applies it from HOME; GBR from USA's forward over the leaf link.
    for nation in ["USA", "GBR"] {
        let series = format!(
            r#"coalition_bridge_control_applied_total{{nation="{nation}",kind="schema_policy"}}"#
        );
        until(&format!("{nation} applies USA's schema policy"), || {
            metric(&series) >= 1.0
        })
        .await;
    }
}

#[test]
fn bad_policy_input_is_refused_with_where_and_why() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().display().to_string();
    refused(
        &coalition(&[
            "revoke",
            "--dir",
            &d,
            "--nation",
            "USA",
            "suspend",
            "--partner",
            "GBR",
        ]),
        "revocation-authority.key: cannot read: not found",
    );
    let spec = format!("{d}/t.toml");
    std::fs::write(&spec, "id = \"X\"\nversion = \"two\"\n").unwrap();
    refused(
        &coalition(&[
            "translator",
            "issue",
            "--spec",
            &spec,
            "--nation",
            "USA",
            "--key",
            "k",
            "--out",
            "o",
        ]),
        "t.toml: line 2",
    );
    std::fs::write(
        &spec,
        "id = \"X\"\nversion = 1\nfrom = \"USA\"\nto = \"USA\"\nsource_policy_versions = [1, 1]\n\
         target_policy_versions = [1, 1]\nnot_before_ms = 0\nnot_after_ms = 1\n[classifications]\n",
    )
    .unwrap();
    refused(
        &coalition(&[
            "translator",
            "issue",
            "--spec",
            &spec,
            "--nation",
            "USA",
            "--key",
            "k",
            "--out",
            "o",
        ]),
        "needs two different nations",
    );
    let policy = format!("{d}/p.toml");
    std::fs::write(
        &policy,
        "nation = \"USA\"\nversion = 0\nclassifications = [\"A\"]\n",
    )
    .unwrap();
    refused(
        &coalition(&[
            "policy", "sign", "--spec", &policy, "--key", "k", "--out", "o",
        ]),
        "version must be 1 or more",
    );
    let schema = format!("{d}/s.toml");
    let migration = |start: &str, end: &str| {
        format!(
            "nation = \"USA\"\nversion = 1\n[[rule]]\nmessage_type = \"track\"\n\
             current_version = 1\n[rule.migration]\nfrom_version = 1\nto_version = 2\n\
             window_start = \"{start}\"\nwindow_end = \"{end}\"\n"
        )
    };
    let sign_schema = |spec: &str| {
        coalition(&[
            "schema-policy",
            "sign",
            "--spec",
            spec,
            "--key",
            "k",
            "--out",
            "o",
        ])
    };
    std::fs::write(&schema, migration("now+2h", "now+1h")).unwrap();
    refused(&sign_schema(&schema), "track migration window end");
    std::fs::write(&schema, migration("soon", "now+1h")).unwrap();
    refused(&sign_schema(&schema), "rule 1: \"soon\" is not an instant");
    let garbage = format!("{d}/g.ctl");
    std::fs::write(&garbage, b"\xff\xfe").unwrap();
    refused(
        &coalition(&[
            "translator",
            "cosign",
            "--in",
            &garbage,
            "--nation",
            "GBR",
            "--key",
            "k",
            "--out",
            "o",
        ]),
        "not a signed control object",
    );
}
