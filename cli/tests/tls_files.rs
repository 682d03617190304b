//! `coalition topology generate` writes a topology's TLS material: an
//! authority per nation, a certificate per server and per client identity,
//! private keys readable by their owner only, and configs that use them.
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

fn files_under(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files_under(&path, out);
        } else {
            out.push(path);
        }
    }
}

/// `coalition topology generate topologies/<file> --out <dir>/mesh`.
fn generate(dir: &Path, topology_file: &str) -> PathBuf {
    let out = dir.join("mesh");
    let topology = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../topologies")
        .join(topology_file);
    let status = Command::new(env!("CARGO_BIN_EXE_coalition"))
        .args(["topology", "generate"])
        .arg(&topology)
        .arg("--out")
        .arg(&out)
        .status()
        .unwrap();
    assert!(status.success());
    out
}

#[test]
fn generate_writes_tls_authorities_certificates_and_private_keys() {
    let dir = tempfile::tempdir().unwrap();
    let out = generate(dir.path(), "coalition-3.toml");
    let mut files = Vec::new();
    files_under(&out.join("tls"), &mut files);
    let (keys, certs): (Vec<_>, Vec<_>) = files
        .iter()
        .partition(|p| p.extension().is_some_and(|e| e == "key"));
    // coalition-3: USA 1 server, GBR 3, FRA 1; each nation: an authority,
    // its bridge, its subscriber and its producers.
    assert!(keys.len() >= 5 + 3 * 3, "{} keys", keys.len());
    assert!(certs.len() > keys.len(), "leaf-client bundles too");
    for key in &keys {
        let mode = std::fs::metadata(key).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{} is {mode:o}", key.display());
    }
    for nation in ["USA", "GBR", "FRA"] {
        let path = out.join("bridges").join(format!("{nation}.toml"));
        let cfg = coalition_topology::BridgeConfig::load(&path).unwrap();
        // One certificate per user the bridge connects as: HOME, each
        // release account, each link from a partner.
        let bridge_users = std::iter::once(&cfg.home)
            .chain(cfg.release.iter().map(|l| &l.credential))
            .chain(cfg.ingress.iter().map(|l| &l.credential));
        for cred in bridge_users {
            coalition_tls::client_config(&cred.tls).expect("a bridge user's TLS identity loads");
            assert!(cred
                .tls
                .certificate
                .ends_with(&format!("{}.pem", cred.user)));
        }
        let clients = coalition_topology::ClientsConfig::load(
            &out.join("clients").join(format!("{nation}.toml")),
        )
        .unwrap();
        for cred in clients.producers.values().chain([
            &clients.subscriber,
            &clients.auditor,
            &clients.operator,
        ]) {
            coalition_tls::client_config(&cred.tls).expect("a client's TLS identity loads");
            assert!(cred
                .tls
                .crl
                .as_deref()
                .is_some_and(|c| c.ends_with("crl.pem")));
        }
    }
    let usa = std::fs::read_to_string(out.join("nats/USA-0.conf")).unwrap();
    assert!(
        usa.contains("verify: true")
            && usa.contains("verify_and_map: true")
            && usa.contains("tls/USA/pinned-clients.conf")
            && usa.contains("tls/USA/ca.pem"),
        "{usa}"
    );
}

/// `coalition tls revoke` on a generated mesh folder (no servers running):
/// an unknown user is refused with exit 2, naming the file and the users
/// that have a certificate; a known one is added to the CRL and dropped
/// from the allow list, and revoking it again changes nothing.
#[test]
fn tls_revoke_updates_the_crl_and_allow_list_and_refuses_an_unknown_user() {
    let dir = tempfile::tempdir().unwrap();
    let out = generate(dir.path(), "pair.toml");
    let revoke = |user: &str| {
        let o = Command::new(env!("CARGO_BIN_EXE_coalition"))
            .args([
                "tls",
                "revoke",
                "--nation",
                "USA",
                "--no-reload",
                "--user",
                user,
                "--dir",
            ])
            .arg(&out)
            .output()
            .unwrap();
        let text = |b: &[u8]| String::from_utf8_lossy(b).to_string();
        (o.status.code(), text(&o.stdout), text(&o.stderr))
    };
    let (code, _, stderr) = revoke("USA-nobody");
    assert_eq!(code, Some(2), "{stderr}");
    assert!(
        stderr.contains("clients/USA-nobody.pem") && stderr.contains("USA-subscriber"),
        "{stderr}"
    );

    let tls = out.join("tls/USA");
    let pin = |user: &str| {
        let pem = std::fs::read_to_string(tls.join(format!("clients/{user}.pem"))).unwrap();
        coalition_tls::certificate_facts(&pem, user).unwrap()
    };
    let (subscriber, auditor) = (pin("USA-subscriber"), pin("USA-auditor"));
    let allowed = || std::fs::read_to_string(tls.join("pinned-clients.conf")).unwrap();
    assert!(allowed().contains(&subscriber.key_pin));

    let (code, stdout, stderr) = revoke("USA-subscriber");
    assert_eq!(code, Some(0), "{stderr}");
    assert!(stdout.contains("CRL is now number 1"), "{stdout}");
    let crl = coalition_tls::read_crl(
        &std::fs::read_to_string(tls.join("crl.pem")).unwrap(),
        "crl.pem",
    )
    .unwrap();
    assert!(crl.is_revoked(&subscriber.serial) && !crl.is_revoked(&auditor.serial));
    assert!(!allowed().contains(&subscriber.key_pin));
    assert!(allowed().contains(&auditor.key_pin));

    let (code, stdout, _) = revoke("USA-subscriber");
    assert_eq!(code, Some(0));
    assert!(
        stdout.contains("already on USA's CRL (number 1)"),
        "{stdout}"
    );
}
