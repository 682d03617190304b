//! The generator's output is accepted by the real nats-server (`-t`, its
//! config test mode), and says what the isolation design needs it to say.
use std::path::Path;

use coalition_topology::{generate, parse_topology, Addressing, Credentials};

const TOPOLOGY: &str = include_str!("../../topologies/coalition-3.toml");

fn generated(dir: &Path) -> coalition_topology::GeneratedMesh {
    let t = parse_topology(TOPOLOGY, Path::new("coalition-3.toml")).unwrap();
    let a = Addressing::sequential(&t, "127.0.0.1", 20000, dir, &dir.join("tls"));
    generate(&t, &a, &mut Credentials::random()).unwrap()
}

#[test]
fn every_generated_server_config_passes_nats_server_config_test() {
    let dir = tempfile::tempdir().unwrap();
    let mesh = generated(dir.path());
    let bin = nats_harness::nats_server_path().unwrap();
    assert_eq!(mesh.servers.len(), 5);
    for f in mesh.files() {
        let path = dir.path().join(&f.path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, &f.contents).unwrap();
    }
    for s in &mesh.servers {
        let path = dir.path().join(&s.config.path);
        let out = std::process::Command::new(&bin)
            .arg("-t")
            .arg("-c")
            .arg(&path)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{} rejected:\n{}\n{}",
            s.id,
            String::from_utf8_lossy(&out.stderr),
            s.config.contents
        );
    }
}

#[test]
fn generated_configs_encode_the_isolation_rules() {
    let dir = tempfile::tempdir().unwrap();
    let mesh = generated(dir.path());
    let usa = &mesh
        .servers
        .iter()
        .find(|s| s.id.to_string() == "USA-0")
        .unwrap()
        .config
        .contents;
    assert!(usa.contains("sync_interval: always"));
    assert!(usa.contains("domain: \"USA\""));
    assert!(
        usa.contains("no_advertise: true"),
        "partners must not learn other leaf URLs"
    );
    // GBR's leaf user in USA's REL_GBR account: leaf connections only, may
    // read RELEASED through USA's domain API but has no delete or publish on rel.>.
    let rel_gbr = &usa[usa.find("REL_GBR {").unwrap()..];
    let rel_gbr = &rel_gbr[..rel_gbr.find("\n  }").unwrap()];
    assert!(rel_gbr.contains("\"USA-leaf-GBR\""));
    assert!(rel_gbr.contains("allowed_connection_types: [\"LEAFNODE\"]"));
    assert!(rel_gbr.contains("$JS.USA.API.CONSUMER.MSG.NEXT.RELEASED.>"));
    assert!(!rel_gbr.contains("DELETE"));
    let leaf_perms = &rel_gbr[rel_gbr.find("USA-leaf-GBR").unwrap()..];
    let publish =
        &leaf_perms[leaf_perms.find("publish").unwrap()..leaf_perms.find("subscribe").unwrap()];
    assert!(
        !publish.contains("rel."),
        "the partner must not publish release subjects: {publish}"
    );
    // Producers publish only their own feed subjects.
    assert!(usa.contains("\"out.*.usa-radar-1.>\""));
    // GBR (3 servers) has routes with credentials and pulls from USA and FRA.
    let gbr1 = &mesh
        .servers
        .iter()
        .find(|s| s.id.to_string() == "GBR-1")
        .unwrap();
    assert!(gbr1.config.contents.contains("nats-route://GBR-route:"));
    assert_eq!(gbr1.expected_routes, 2);
    assert_eq!(
        gbr1.expected_leaf_accounts,
        vec!["FROM_USA".to_string(), "FROM_FRA".to_string()]
    );
    // Bridge configs carry trust anchors for home and every ingress partner.
    let (fra, _) = &mesh.bridges["FRA"];
    assert_eq!(
        fra.trust_anchors.keys().cloned().collect::<Vec<_>>(),
        vec!["FRA", "GBR", "USA"]
    );
    assert_eq!(fra.replicas, 1);
}
