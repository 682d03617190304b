//! The generator's output is accepted by the real nats-server (`-t`, its
//! config test mode), and says what the isolation design needs it to say.
use std::path::Path;

use coalition_topology::{generate, parse_topology, Addressing, Credentials};

const TOPOLOGY: &str = include_str!("../../topologies/coalition-3.toml");

/// A producer whose feeds are not consecutive in the file, with a track and
/// an alert feed, in a nation of two servers: its user must still be
/// listed once (nats-server refuses a duplicate user).
const INTERLEAVED: &str = r#"[mesh]
name = "interleaved"
[[nation]]
code = "USA"
servers = 2
[[nation]]
code = "GBR"
[[nation]]
code = "DEU"
[[link]]
from = "USA"
to = "GBR"
max_classification = "SECRET"
[[link]]
from = "GBR"
to = "USA"
max_classification = "SECRET"
[[link]]
from = "USA"
to = "DEU"
max_classification = "SECRET"
[[feed]]
nation = "USA"
producer = "radar-1"
name = "tracks"
kind = "track"
[[feed]]
nation = "USA"
producer = "eo-2"
name = "tracks"
kind = "track"
[[feed]]
nation = "USA"
producer = "radar-1"
name = "warnings"
kind = "alert"
[[feed]]
nation = "GBR"
producer = "radar-1"
name = "tracks"
kind = "track"
[[feed]]
nation = "USA"
producer = "eo-2"
name = "alerts"
kind = "alert"
"#;

/// Every topology the config test runs over: (name, text).
const TOPOLOGIES: [(&str, &str); 3] = [
    ("coalition-3.toml", TOPOLOGY),
    ("pair.toml", include_str!("../../topologies/pair.toml")),
    ("interleaved feeds", INTERLEAVED),
];

fn generated_from(name: &str, text: &str, dir: &Path) -> coalition_topology::GeneratedMesh {
    let t = parse_topology(text, Path::new(name)).unwrap();
    let a = Addressing::sequential(&t, "127.0.0.1", 20000, dir, &dir.join("tls"));
    generate(&t, &a, &mut Credentials::random()).unwrap()
}

/// The generated config text of server `id` (e.g. `USA-0`).
fn config_of<'a>(mesh: &'a coalition_topology::GeneratedMesh, id: &str) -> &'a str {
    &mesh
        .servers
        .iter()
        .find(|s| s.id.to_string() == id)
        .unwrap_or_else(|| panic!("no server {id}"))
        .config
        .contents
}

fn generated(dir: &Path) -> coalition_topology::GeneratedMesh {
    generated_from("coalition-3.toml", TOPOLOGY, dir)
}

#[test]
fn every_generated_server_config_passes_nats_server_config_test() {
    let bin = nats_harness::nats_server_path().unwrap();
    for (name, text) in TOPOLOGIES {
        let dir = tempfile::tempdir().unwrap();
        let mesh = generated_from(name, text, dir.path());
        assert!(!mesh.servers.is_empty(), "{name}");
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
                "{name}: {} rejected:\n{}\n{}",
                s.id,
                String::from_utf8_lossy(&out.stderr),
                s.config.contents
            );
        }
    }
}

#[test]
fn a_producer_with_feeds_apart_in_the_file_is_one_user() {
    let dir = tempfile::tempdir().unwrap();
    let mesh = generated_from("interleaved", INTERLEAVED, dir.path());
    let usa = config_of(&mesh, "USA-0");
    for user in ["USA-producer-radar-1", "USA-producer-eo-2"] {
        let dn = coalition_tls::subject_dn(user, "USA");
        let listed = usa.matches(&format!("user: \"{dn}\"")).count();
        assert_eq!(listed, 1, "{user} listed {listed} times:\n{usa}");
    }
}

#[test]
fn generated_configs_encode_the_isolation_rules() {
    let dir = tempfile::tempdir().unwrap();
    let mesh = generated(dir.path());
    let usa = config_of(&mesh, "USA-0");
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
    // It reads through the one consumer USA's bridge made for it, and
    // creates, changes and deletes none.
    assert!(rel_gbr.contains("\"$JS.USA.API.CONSUMER.MSG.NEXT.RELEASED.ingress_GBR\""));
    assert!(!rel_gbr.contains("MSG.NEXT.RELEASED.>"));
    assert!(!rel_gbr.contains("DELETE"));
    assert!(
        !rel_gbr.contains("CREATE"),
        "the partner creates no consumer: {rel_gbr}"
    );
    assert!(
        !rel_gbr.contains("$JS.FC"),
        "no push consumer, no flow control"
    );
    assert!(rel_gbr.contains("max_consumers: 4"), "{rel_gbr}");
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

#[test]
fn monitoring_binds_loopback_even_where_the_server_binds_every_interface() {
    let dir = tempfile::tempdir().unwrap();
    let t = parse_topology(TOPOLOGY, Path::new("coalition-3.toml")).unwrap();
    // As in the compose exercises: servers bind every interface.
    let mut a = Addressing::sequential(&t, "127.0.0.1", 20000, dir.path(), &dir.path().join("tls"));
    for addr in a.servers.values_mut() {
        addr.bind_host = "0.0.0.0".into();
    }
    let mesh = generate(&t, &a, &mut Credentials::random()).unwrap();
    for s in &mesh.servers {
        let addr = &a.servers[&s.id];
        let text = &s.config.contents;
        assert!(
            text.contains(&format!("listen: \"0.0.0.0:{}\"", addr.client_port)),
            "{}",
            s.id
        );
        assert!(
            text.contains(&format!("\nhttp: \"127.0.0.1:{}\"", addr.monitor_port)),
            "{}: monitoring must be loopback only:\n{text}",
            s.id
        );
        assert!(!text.contains("https:"), "{}", s.id);
    }
}
