//! The key ceremony from the command line (docs/runbooks/key-ceremony.md):
//! `coalition keys authority` certifies a revocation authority with the
//! root, and `coalition revoke` refuses, before it connects to anything, a
//! signing key the bridges would refuse, naming the file and why.
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

use coalition_core::certificate::{issue_certificate, CertificateRequest};
use coalition_core::keys::{Algorithm, SigningKeyPair};

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
fn keys_authority_certifies_a_revocation_authority_with_the_root() {
    let dir = tempfile::tempdir().unwrap();
    let d = |p: &str| dir.path().join(p).display().to_string();
    let (code, _, stderr) = coalition(&["keys", "root", "--nation", "USA", "--out", &d("root")]);
    assert_eq!(code, 0, "{stderr}");
    let authority = |out: &str, days: &str| {
        coalition(&[
            "keys",
            "authority",
            "--nation",
            "USA",
            "--root-key",
            &d("root/root.key"),
            "--valid-days",
            days,
            "--out",
            &d(out),
        ])
    };
    let (code, stdout, stderr) = authority("ops", "90");
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stdout.contains("USA/revocation-authority key id") && stdout.contains("90 days from now"),
        "{stdout}"
    );
    let mode = std::fs::metadata(dir.path().join("ops/revocation-authority.key"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    let verify = |root: &str| {
        coalition(&[
            "keys",
            "verify",
            "--cert",
            &d("ops/revocation-authority.cert"),
            "--root",
            &d(root),
            "--nation",
            "USA",
        ])
    };
    let (code, stdout, stderr) = verify("root/root.pub");
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stdout.contains("certificate of USA/revocation-authority OK")
            && stdout.contains("valid now       true")
            && stdout.contains("valid until"),
        "{stdout}"
    );
    // Against another nation's root it does not verify.
    coalition(&["keys", "root", "--nation", "GBR", "--out", &d("gbr")]);
    let (code, _, stderr) = verify("gbr/root.pub");
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stderr.contains("does not verify: unknown_issuer"),
        "{stderr}"
    );
    // A ceremony never overwrites a key: a renewal writes to a new folder.
    let (code, _, stderr) = authority("ops", "90");
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains(&format!(
            "{}: exists; move it away first",
            d("ops/revocation-authority.key")
        )),
        "{stderr}"
    );
    for days in ["0", "367"] {
        let (code, _, stderr) = authority("other", days);
        assert_eq!(code, 2, "{stderr}");
        assert!(stderr.contains("--valid-days"), "{stderr}");
    }
    let (code, _, stderr) = coalition(&[
        "keys",
        "authority",
        "--nation",
        "USA",
        "--root-key",
        &d("nothing.key"),
        "--out",
        &d("other"),
    ]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("cannot read"), "{stderr}");
    assert!(stderr.contains("nothing.key"), "{stderr}");
    assert!(!dir.path().join("other").exists(), "nothing written");
}

/// A generated mesh folder (configs and a development PKI; no servers).
fn mesh_folder(dir: &Path) -> String {
    let topology = concat!(env!("CARGO_MANIFEST_DIR"), "/../topologies/pair.toml");
    let out = dir.join("mesh").display().to_string();
    let (code, _, stderr) = coalition(&["topology", "generate", topology, "--out", &out]);
    assert_eq!(code, 0, "{stderr}");
    out
}

/// USA's revocation authority, certified by `root_file` over [from, until).
fn write_authority(mesh: &str, root_file: &str, from: i64, until: i64, name: &str) -> String {
    let root = SigningKeyPair::from_private_file(&std::fs::read(root_file).unwrap()).unwrap();
    let key = SigningKeyPair::generate(Algorithm::MlDsa65, "USA/revocation-authority");
    let request = CertificateRequest {
        nation: "USA".into(),
        producer_id: "revocation-authority".into(),
        public_key: key.public_key().clone(),
        not_before_ms: from,
        not_after_ms: until,
        feeds: vec!["control".into()],
        max_classification: String::new(),
    };
    let cert = issue_certificate(&root, &request).unwrap();
    std::fs::write(format!("{mesh}/{name}.key"), key.to_private_file()).unwrap();
    std::fs::write(format!("{mesh}/{name}.cert"), cert).unwrap();
    format!("{mesh}/{name}")
}

#[test]
fn revoke_refuses_a_signing_key_the_bridges_would_refuse_before_publishing() {
    let dir = tempfile::tempdir().unwrap();
    let mesh = mesh_folder(dir.path());
    let keys = |p: &str| format!("{mesh}/keys/{p}");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let day = 86_400_000;
    let expired = write_authority(
        &mesh,
        &keys("USA/root.key"),
        now - 9 * day,
        now - 2 * day,
        "old",
    );
    let revoke = |signing: &[&str]| {
        let mut args = vec!["revoke", "--dir", &mesh, "--nation", "USA"];
        args.extend_from_slice(signing);
        args.extend_from_slice(&["suspend", "--partner", "GBR"]);
        coalition(&args)
    };
    let (usa_key, usa_cert) = (
        keys("USA/revocation-authority.key"),
        keys("USA/revocation-authority.cert"),
    );
    let (expired_key, expired_cert) = (format!("{expired}.key"), format!("{expired}.cert"));
    let bridge_cert = keys("USA/bridge.cert");
    let gbr_cert = keys("GBR/revocation-authority.cert");
    let gbr_root = keys("GBR/root.key");
    #[rustfmt::skip]
    let cases: [(&str, Vec<&str>, String); 7] = [
        ("a bridge's certificate", vec!["--authority-cert", &bridge_cert],
            format!("{bridge_cert}: is the certificate of USA/bridge, not USA/revocation-authority")),
        ("GBR's authority", vec!["--authority-cert", &gbr_cert],
            format!("{gbr_cert}: the certificate does not verify against")),
        ("a key the certificate is not for", vec!["--authority-key", &expired_key],
            format!("{usa_cert} certifies a different key than {expired_key}")),
        ("an expired authority", vec!["--authority-key", &expired_key, "--authority-cert", &expired_cert],
            format!("{expired_cert}: expired 2 days ago")),
        ("another nation's root in an emergency", vec!["--emergency-root-key", &gbr_root],
            format!("{gbr_root}: is not USA's root key")),
        ("both signers", vec!["--emergency-root-key", &gbr_root, "--authority-key", &usa_key],
            "cannot be used with".to_string()),
        ("a root key file that is not one", vec!["--emergency-root-key", &bridge_cert],
            format!("{bridge_cert}: ")),
    ];
    for (name, signing, text) in cases {
        let (code, _, stderr) = revoke(&signing);
        assert_eq!(code, 2, "case: {name}: {stderr}");
        assert!(
            stderr.contains(&text),
            "case: {name}: {text:?} not in {stderr:?}"
        );
    }
    // The default files missing: what to do is said.
    std::fs::remove_file(&usa_key).unwrap();
    let (code, _, stderr) = revoke(&[]);
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains(&format!("{usa_key}: cannot read: not found"))
            && stderr.contains("coalition keys authority")
            && stderr.contains("--emergency-root-key"),
        "{stderr}"
    );
    // `revoke authority-key` takes only this nation's authority certificate.
    let (code, _, stderr) = coalition(&[
        "revoke",
        "--dir",
        &mesh,
        "--nation",
        "USA",
        "--emergency-root-key",
        &keys("USA/root.key"),
        "authority-key",
        "--cert",
        &bridge_cert,
    ]);
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains(&format!("{bridge_cert}: is the certificate of USA/bridge")),
        "{stderr}"
    );
}
