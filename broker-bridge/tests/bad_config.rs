//! The bridge binary refuses bad command lines and configs with exit code 2
//! and a message naming the file and what is wrong, before connecting to
//! anything.
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
[home]
user = "u"
password = "p"
[policies.USA]
classifications = ["UNCLASSIFIED", "SECRET"]
caveats = []
"#;

fn write(dir: &std::path::Path, text: &str) -> String {
    let path = dir.join("bridge.toml");
    std::fs::write(&path, text).unwrap();
    path.display().to_string()
}

#[test]
fn bad_configs_exit_2_naming_file_and_problem() {
    let dir = tempfile::tempdir().unwrap();
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
            GOOD.replace("[policies.USA]", "[policies.GBR]"),
            "no [policies.USA] section",
        ),
        (
            GOOD.replace(
                "trust_anchors = { USA = \"root.pub\" }",
                "trust_anchors = {}",
            ),
            "no trust anchor for the home nation USA",
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

#[test]
fn bad_command_lines_exit_2() {
    let (code, stderr) = bridge(&[]);
    assert_eq!(code, 2);
    assert!(stderr.contains("--config"), "{stderr}");
    let (code, stderr) = bridge(&["--config", "/nonexistent/bridge.toml"]);
    assert_eq!(code, 2);
    assert!(stderr.contains("/nonexistent/bridge.toml"), "{stderr}");
}
