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
    // A producer certificate cannot take the bridge key's identity.
    let (code, _, stderr) = coalition(&[
        "keys",
        "producer",
        "--nation",
        "USA",
        "--producer",
        "bridge",
        "--root-key",
        &d("USA/root.key"),
        "--feed",
        "tracks",
        "--max-classification",
        "SECRET",
        "--out",
        &d("USA/producers"),
    ]);
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("--producer \"bridge\" is reserved"),
        "{stderr}"
    );
    assert!(!dir.path().join("USA/producers/bridge.key").exists());
}

/// A generated mesh folder (configs and a development PKI; no servers).
fn mesh_folder(dir: &std::path::Path) -> String {
    let topology = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../topologies/coalition-3.toml"
    );
    let out = dir.join("mesh").display().to_string();
    let (code, _, stderr) = coalition(&["topology", "generate", topology, "--out", &out]);
    assert_eq!(code, 0, "{stderr}");
    out
}

#[test]
fn publish_and_subscribe_refuse_bad_mesh_files_with_exit_2_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let mesh = mesh_folder(dir.path());
    let publish = |producer: &str| {
        coalition(&[
            "publish",
            "--dir",
            &mesh,
            "--nation",
            "USA",
            "--producer",
            producer,
            "--classification",
            "SECRET",
            "--track-id",
            "T",
        ])
    };
    let (code, _, stderr) = publish("radar-1");
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains(&format!(
            "no producer \"radar-1\" in {mesh}/clients/USA.toml"
        )) && stderr.contains("usa-radar-1"),
        "names the file and what is there: {stderr}"
    );
    // A key file that is not one: exit 2 (a file to fix), naming it.
    let key = format!("{mesh}/keys/USA/producers/usa-radar-1.key");
    std::fs::write(&key, b"garbage").unwrap();
    let (code, _, stderr) = publish("usa-radar-1");
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains(&key) && stderr.contains("not a private key file"),
        "{stderr}"
    );
    std::fs::write(format!("{mesh}/keys/USA/root.pub"), b"").unwrap();
    let (code, _, stderr) = publish("usa-radar-1");
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("keys/USA/root.pub: invalid key file"),
        "{stderr}"
    );
    // A clients file and a bridge config that are not TOML: file and line.
    std::fs::write(format!("{mesh}/clients/USA.toml"), "nation = 3\n").unwrap();
    let (code, _, stderr) = publish("usa-radar-1");
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains(&format!("{mesh}/clients/USA.toml:1: invalid type")),
        "{stderr}"
    );
    std::fs::write(format!("{mesh}/bridges/GBR.toml"), "nation =\n").unwrap();
    let (code, _, stderr) = coalition(&["subscribe", "--dir", &mesh, "--nation", "GBR"]);
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains(&format!("{mesh}/bridges/GBR.toml:1:")),
        "{stderr}"
    );
}

#[test]
fn topology_generate_and_control_publish_refuse_bad_arguments() {
    let dir = tempfile::tempdir().unwrap();
    let topology = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../topologies/coalition-3.toml"
    );
    let out = dir.path().join("g").display().to_string();
    let (code, _, stderr) = coalition(&[
        "topology",
        "generate",
        topology,
        "--out",
        &out,
        "--base-port",
        "65530",
    ]);
    assert_eq!(code, 2);
    assert!(
        stderr.contains("--base-port 65530: need 20 ports between 1024 and 65535"),
        "{stderr}"
    );
    let mesh = mesh_folder(dir.path());
    let not_ctl = dir.path().join("notes.txt");
    std::fs::write(&not_ctl, b"a plain text file").unwrap();
    let not_ctl = not_ctl.display().to_string();
    let (code, _, stderr) = coalition(&[
        "control", "publish", "--dir", &mesh, "--nation", "USA", "--file", &not_ctl,
    ]);
    assert_eq!(code, 2);
    assert!(
        stderr.contains(&format!("{not_ctl}: not a signed control object")),
        "{stderr}"
    );
    let (code, _, stderr) = coalition(&["keys", "verify", "--cert", &not_ctl]);
    assert_eq!(code, 2);
    assert!(
        stderr.contains("--root"),
        "clap names what is missing: {stderr}"
    );
}

#[test]
fn exercise_commands_refuse_bad_arguments_before_touching_docker() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().join("ex").display().to_string();
    let (code, _, stderr) = coalition(&["exercise", "run", "--scenario", "nope", "--dir", &d]);
    assert_eq!(code, 2);
    assert!(
        stderr.contains("no scenario \"nope\"; the scenarios are cut-30s"),
        "{stderr}"
    );
    let (code, _, stderr) = coalition(&["exercise", "cut", "--dir", &d, "USA-GBR"]);
    assert_eq!(code, 2);
    assert!(
        stderr.contains(&format!("{d} is not an exercise folder (no exercise.json)")),
        "{stderr}"
    );
    let topology = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../topologies/coalition-3.toml"
    );
    let (code, _, stderr) = coalition(&[
        "exercise",
        "prepare",
        "--dir",
        &d,
        "--topology",
        topology,
        "--project",
        "Bad Name",
    ]);
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("project name \"Bad Name\": use 1-40 lower-case letters"),
        "{stderr}"
    );
    // The default topology path is relative to where `coalition` runs; an
    // unreadable topology file is a usage error too.
    let (code, _, stderr) = coalition(&[
        "exercise",
        "prepare",
        "--dir",
        &d,
        "--topology",
        "/nonexistent/t.toml",
    ]);
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("cannot read the topology file /nonexistent/t.toml"),
        "{stderr}"
    );
    // A load or a bandwidth no exercise can have.
    let refused = [
        (
            &[
                "exercise",
                "run",
                "--scenario",
                "cut-30s",
                "--rate",
                "0",
                "--dir",
                &d,
            ][..],
            "--rate: a rate of 0 tracks/s: use 1 to 100000",
        ),
        (
            &["exercise", "up", "--rate", "0", "--dir", &d][..],
            "--rate 0: a rate of 0 tracks/s",
        ),
        (
            &[
                "exercise",
                "degrade",
                "--dir",
                &d,
                "USA-GBR",
                "--rate-kbit",
                "4",
            ][..],
            "--rate-kbit 4: at least 8; cut the link instead",
        ),
    ];
    for (args, why) in refused {
        let (code, _, stderr) = coalition(args);
        assert_eq!(code, 2, "{args:?}: {stderr}");
        assert!(stderr.contains(why), "{args:?}: {stderr}");
    }
    assert!(
        !dir.path().join("ex").exists(),
        "nothing is written for a refused command"
    );
}

/// `revoke`, `control publish` and `audit` on a deployed nation
/// (`--clients FILE --keys DIR`): a wrong combination of flags, a clients
/// file missing or not TOML, a keys folder without the key the command
/// needs. Each exits 2 naming the flag or the file, before connecting.
#[test]
fn deployed_nation_flags_and_files_are_refused_naming_the_flag_or_file() {
    let dir = tempfile::tempdir().unwrap();
    let mesh = mesh_folder(dir.path());
    let clients = format!("{mesh}/clients/USA.toml");
    let keys = format!("{mesh}/keys");
    let not_toml = dir.path().join("not.toml").display().to_string();
    std::fs::write(&not_toml, "nation = [\n").unwrap();
    // A keys folder with the roots only, and one with the authority only.
    let roots_only = dir.path().join("roots-only");
    let authority_only = dir.path().join("authority-only");
    for (folder, files) in [
        (&roots_only, &["root.pub"][..]),
        (
            &authority_only,
            &["revocation-authority.key", "revocation-authority.cert"][..],
        ),
    ] {
        std::fs::create_dir_all(folder.join("USA")).unwrap();
        for file in files {
            std::fs::copy(format!("{keys}/USA/{file}"), folder.join("USA").join(file)).unwrap();
        }
    }
    let (roots_only, authority_only) = (
        roots_only.display().to_string(),
        authority_only.display().to_string(),
    );
    let suspend = ["suspend", "--partner", "GBR"];
    let revoke = |attach: &[&str], what: &[&str]| -> Vec<String> {
        ["revoke"]
            .iter()
            .chain(attach)
            .chain(what)
            .map(|s| s.to_string())
            .collect()
    };
    let strings = |args: &[&str]| args.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    let table: Vec<(Vec<String>, String)> = vec![
        (
            revoke(
                &[
                    "--dir",
                    &mesh,
                    "--nation",
                    "USA",
                    "--clients",
                    &clients,
                    "--keys",
                    &keys,
                ],
                &suspend,
            ),
            "--dir and --clients cannot be used together".into(),
        ),
        (
            revoke(&["--clients", &clients], &suspend),
            "--clients needs --keys".into(),
        ),
        (
            strings(&["audit", "verify", "--clients", &clients]),
            "--clients needs --keys".into(),
        ),
        (
            strings(&["audit", "tail", "--clients", &clients, "--nation", "USA"]),
            "--nation goes with --dir".into(),
        ),
        (
            strings(&["control", "publish", "--keys", &keys, "--file", "x.ctl"]),
            "--keys needs --clients".into(),
        ),
        (
            strings(&[
                "control",
                "publish",
                "--clients",
                "/nonexistent/USA.toml",
                "--file",
                "x.ctl",
            ]),
            "--clients /nonexistent/USA.toml: no such file".into(),
        ),
        (
            strings(&["audit", "show", "--clients", &not_toml, "--msg-id", "m"]),
            format!("{not_toml}:1:"),
        ),
        (
            revoke(&["--clients", &not_toml, "--keys", &keys], &suspend),
            format!("{not_toml}:1:"),
        ),
        (
            revoke(&["--clients", &clients, "--keys", &roots_only], &suspend),
            format!("{roots_only}/USA/revocation-authority.key: cannot read: not found"),
        ),
        (
            revoke(
                &["--clients", &clients, "--keys", &authority_only],
                &suspend,
            ),
            format!("--keys {authority_only}: no USA/root.pub in it"),
        ),
        (
            revoke(
                &["--clients", &clients, "--keys", &keys],
                &["producer-key", "--producer", "ghost"],
            ),
            format!("{keys}/USA/producers/ghost.cert: cannot read"),
        ),
        (
            strings(&["tls", "revoke", "--clients", &clients, "--user", "u"]),
            "unexpected argument '--clients'".into(),
        ),
    ];
    for (args, want) in table {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let (code, _, stderr) = coalition(&args);
        assert_eq!(code, 2, "{args:?}: {stderr}");
        assert!(
            stderr.contains(&want),
            "{want:?} not in {stderr:?} ({args:?})"
        );
    }
    // `tls revoke` says why it has no --clients form.
    let (code, stdout, _) = coalition(&["tls", "revoke", "--help"]);
    assert_eq!(code, 0);
    assert!(
        stdout.contains("never --clients") && stdout.contains("pid files"),
        "{stdout}"
    );
}
