//! The `coalition` command refuses bad arguments and files with exit code 2
//! and a message that says where and why.
use std::process::Command;

fn coalition(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_coalition"))
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).to_string(),
        String::from_utf8_lossy(&out.stderr).to_string(),
    )
}

#[test]
fn topology_check_reports_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.toml");
    std::fs::write(&path, "[mesh]\nname = \"x\"\n[[nation]]\ncode = \"USA\"\n[[nation]]\ncode = \"GBR\"\nservers = 0\n").unwrap();
    let (code, _, stderr) = coalition(&["topology", "check", &path.display().to_string()]);
    assert_eq!(code, 2);
    assert!(
        stderr.contains(&format!("{}:7:", path.display())),
        "{stderr}"
    );
    let (code, _, stderr) = coalition(&["topology", "check", "/nonexistent.toml"]);
    assert_eq!(code, 2);
    assert!(stderr.contains("cannot read /nonexistent.toml"), "{stderr}");
}

#[test]
fn the_shipped_topology_checks() {
    let file = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../topologies/coalition-3.toml"
    );
    let (code, stdout, stderr) = coalition(&["topology", "check", file]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("3 nations, 6 links"), "{stdout}");
}

#[test]
fn bad_run_arguments_exit_2() {
    let (code, _, stderr) = coalition(&["run", "--interval-ms", "0"]);
    assert_eq!(code, 2);
    assert!(
        stderr.contains("--interval-ms must be at least 1"),
        "{stderr}"
    );
    let (code, _, stderr) = coalition(&["run", "--duration", "soon"]);
    assert_eq!(code, 2);
    assert!(stderr.contains("invalid value 'soon'"), "{stderr}");
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("precious.txt"), b"keep me").unwrap();
    let topology = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../topologies/coalition-3.toml"
    );
    let (code, _, stderr) = coalition(&[
        "run",
        "--topology",
        topology,
        "--dir",
        &dir.path().display().to_string(),
        "--duration",
        "1",
    ]);
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("was not made by `coalition run`"),
        "{stderr}"
    );
    assert!(
        dir.path().join("precious.txt").exists(),
        "the runner must not wipe a folder it did not make"
    );
}

#[test]
fn keys_round_trip_and_private_files_are_0600() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let d = |p: &str| dir.path().join(p).display().to_string();
    let (code, _, stderr) = coalition(&["keys", "root", "--nation", "USA", "--out", &d("USA")]);
    assert_eq!(code, 0, "{stderr}");
    let mode = std::fs::metadata(dir.path().join("USA/root.key"))
        .unwrap()
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(mode, 0o600);
    let (code, _, stderr) = coalition(&[
        "keys",
        "producer",
        "--nation",
        "USA",
        "--producer",
        "radar-9",
        "--root-key",
        &d("USA/root.key"),
        "--feed",
        "tracks",
        "--max-classification",
        "SECRET",
        "--out",
        &d("USA/producers"),
    ]);
    assert_eq!(code, 0, "{stderr}");
    let mode = std::fs::metadata(dir.path().join("USA/producers/radar-9.key"))
        .unwrap()
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(mode, 0o600);
    let (code, stdout, stderr) = coalition(&[
        "keys",
        "verify",
        "--cert",
        &d("USA/producers/radar-9.cert"),
        "--root",
        &d("USA/root.pub"),
        "--nation",
        "USA",
    ]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("certificate of USA/radar-9 OK"), "{stdout}");
    // Against another root it fails.
    coalition(&["keys", "root", "--nation", "GBR", "--out", &d("GBR")]);
    let (code, _, stderr) = coalition(&[
        "keys",
        "verify",
        "--cert",
        &d("USA/producers/radar-9.cert"),
        "--root",
        &d("GBR/root.pub"),
        "--nation",
        "USA",
    ]);
    assert_eq!(code, 1);
    assert!(
        stderr.contains("does not verify: unknown_issuer"),
        "{stderr}"
    );
    let (code, _, stderr) = coalition(&["keys", "root", "--nation", "U S", "--out", &d("x")]);
    assert_eq!(code, 2);
    assert!(stderr.contains("--nation"), "{stderr}");
}
