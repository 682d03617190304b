//! The bridge binary refuses bad command lines and configs with exit code 2
//! and a message naming the file and what is wrong, before connecting to
//! anything.
use std::path::Path;
use std::process::Command;

fn bridge(args: &[&str]) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_coalition-bridge"))
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).to_string(),
    )
}

const GOOD: &str = r#"
nation = "USA"
servers = ["nats://127.0.0.1:1"]
replicas = 1
release_max_age_secs = 3600
trust_anchors = { USA = "root.pub" }
bridge_key = "bridge.key"
bridge_certificate = "bridge.cert"
control_objects = ["policy.ctl"]
[home]
user = "u"
tls = { ca = "tls/ca.pem", certificate = "tls/c.pem", key = "tls/c.key" }
"#;

fn write(dir: &Path, text: &str) -> String {
    let path = dir.join("bridge.toml");
    std::fs::write(&path, text).unwrap();
    path.display().to_string()
}

#[test]
fn bad_configs_exit_2_naming_file_and_problem() {
    let dir = tempfile::tempdir().unwrap();
    // `producer_max_deferred` is two lines after GOOD, under `[rate_limits]`.
    let bad_deferred = format!(
        ":{}: invalid value: integer `-1`, expected u32",
        GOOD.lines().count() + 2
    );
    let cases: Vec<(String, &str)> = vec![
        (
            GOOD.replace("replicas = 1", "replicas = \"one\""),
            ":4: invalid type",
        ),
        (
            GOOD.replace("nation = \"USA\"", "nation = \"USA\"\ncolour = \"red\""),
            "unknown field `colour`",
        ),
        (
            GOOD.replace("servers = [\"nats://127.0.0.1:1\"]", "servers = []"),
            "servers is empty",
        ),
        (
            GOOD.replace(
                "replicas = 1",
                "replicas = 1\nrevocation_staleness_ms = 500",
            ),
            "revocation_staleness_ms (500) must be larger than heartbeat_interval_ms (1000)",
        ),
        (
            GOOD.replace(
                "trust_anchors = { USA = \"root.pub\" }",
                "trust_anchors = {}",
            ),
            "no trust anchor for the home nation USA",
        ),
        (
            format!("{GOOD}[rate_limits]\npartner = {{ msgs_per_sec = 0, burst = 5 }}\n"),
            "rate_limits.partner.msgs_per_sec must be at least 1",
        ),
        (
            format!("{GOOD}[rate_limits.partners.XYZ]\nmsgs_per_sec = 5\nburst = 5\n"),
            "rate_limits.partners.XYZ: XYZ is not a partner this bridge receives from",
        ),
        (
            format!("{GOOD}[rate_limits]\nproducer_max_deferred = -1\n"),
            &bad_deferred,
        ),
        (
            format!("{GOOD}[rate_limits.producer]\nmsgs_per_sec = 5\nbrust = 5\n"),
            "unknown field `brust`",
        ),
        (GOOD.to_string(), "trust anchor for USA: cannot read"),
    ];
    for (text, needle) in cases {
        let path = write(dir.path(), &text);
        let (code, stderr) = bridge(&["--config", &path]);
        assert_eq!(code, 2, "{needle}: {stderr}");
        assert!(
            stderr.contains(&path) || stderr.contains("root.pub"),
            "names the file: {stderr}"
        );
        assert!(stderr.contains(needle), "{needle:?} not in {stderr:?}");
    }
    std::fs::write(dir.path().join("root.pub"), b"not a key").unwrap();
    let (code, stderr) = bridge(&["--config", &write(dir.path(), GOOD)]);
    assert_eq!(code, 2);
    assert!(
        stderr.contains("root.pub") && stderr.contains("not a public key file"),
        "{stderr}"
    );
}

/// A real development PKI for a pair mesh, with `bridge.toml` for USA
/// pointing at its files.
fn pki(dir: &Path) {
    let topology = coalition_topology::parse_topology(
        include_str!("../../topologies/pair.toml"),
        Path::new("pair.toml"),
    )
    .unwrap();
    nats_harness::generate_dev_pki(dir, &topology, 1_800_000_000_000).unwrap();
}

#[test]
fn bad_keys_and_control_objects_exit_2_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    pki(dir.path());
    let good = r#"
nation = "USA"
servers = ["nats://127.0.0.1:1"]
replicas = 1
release_max_age_secs = 3600
trust_anchors = { USA = "keys/USA/root.pub", GBR = "keys/GBR/root.pub" }
bridge_key = "keys/USA/bridge.key"
bridge_certificate = "keys/USA/bridge.cert"
control_objects = ["keys/USA/policy-v1.ctl", "keys/GBR/policy-v1.ctl", "keys/translators/USA-GBR-v1.ctl"]
[home]
user = "u"
tls = { ca = "tls/ca.pem", certificate = "tls/c.pem", key = "tls/c.key" }
"#;
    let gbr_root = std::fs::read(dir.path().join("keys/GBR/root.pub")).unwrap();
    std::fs::write(dir.path().join("keys/other.pub"), gbr_root).unwrap();
    std::fs::write(dir.path().join("garbage.ctl"), b"\xff\xff not protobuf").unwrap();
    std::fs::create_dir_all(dir.path().join("tls")).unwrap();
    std::fs::write(dir.path().join("tls/ca.pem"), b"not a certificate").unwrap();
    let cases: Vec<(String, &str)> = vec![
        (good.to_string(), "[home.tls] (user u)"),
        (good.to_string(), "tls/ca.pem: holds no PEM certificate"),
        (
            good.replace("tls/ca.pem", "tls/none.pem"),
            "tls/none.pem: cannot read certificates",
        ),
        (
            good.replace("keys/USA/bridge.cert", "keys/USA/producers/radar-1.cert"),
            "is not a certificate of USA's bridge key",
        ),
        (
            good.replace("\"keys/USA/policy-v1.ctl\", ", ""),
            "no policy document for the home nation USA",
        ),
        (
            good.replace("keys/translators/USA-GBR-v1.ctl", "garbage.ctl"),
            "garbage.ctl: not a control object",
        ),
        (
            good.replace("keys/translators/USA-GBR-v1.ctl", "keys/USA/policy-v2.ctl"),
            "control object: cannot read /",
        ),
        (
            good.replace("GBR = \"keys/GBR/root.pub\"", "GBR = \"keys/USA/root.pub\""),
            "not signed by GBR's root key",
        ),
        (
            format!("{good}[[release]]\npartner = \"GBR\"\nmax_classification = \"COSMIC\"\ncredential = {{ user = \"a\", tls = {{ ca = \"tls/ca.pem\", certificate = \"tls/c.pem\", key = \"tls/c.key\" }} }}\n"),
            "max_classification \"COSMIC\" is not in USA's policy v1",
        ),
    ];
    for (text, needle) in cases {
        let path = write(dir.path(), &text);
        let (code, stderr) = bridge(&["--config", &path]);
        assert_eq!(code, 2, "{needle}: {stderr}");
        assert!(stderr.contains(needle), "{needle:?} not in {stderr:?}");
    }
}

#[test]
fn bad_command_lines_exit_2() {
    let (code, stderr) = bridge(&[]);
    assert_eq!(code, 2);
    assert!(stderr.contains("--config"), "{stderr}");
    let (code, stderr) = bridge(&["--config", "/nonexistent/bridge.toml"]);
    assert_eq!(code, 2);
    assert!(stderr.contains("/nonexistent/bridge.toml"), "{stderr}");
}
