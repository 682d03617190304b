//! Every generated server config asks for `sync_interval: always` (an
//! acknowledged write is on disk), except the servers of a nation marked
//! `lazy_fsync = true`, which the negative control runs with nats-server's
//! default fsync.
use std::path::Path;

use coalition_topology::{generate, parse_topology, Addressing, Credentials};

/// USA (1 server) releases to GBR (3 servers); `{usa}` and `{gbr}` are
/// extra lines for each nation.
fn topology(usa: &str, gbr: &str) -> String {
    format!(
        r#"[mesh]
name = "t"
[[nation]]
code = "USA"
{usa}
[[nation]]
code = "GBR"
servers = 3
{gbr}
[[link]]
from = "USA"
to = "GBR"
max_classification = "SECRET"
"#
    )
}

#[test]
fn sync_interval_always_is_omitted_only_for_a_lazy_fsync_nation() {
    // (case, USA's extra line, GBR's extra line, USA syncs always, GBR syncs always)
    let cases = [
        ("default", "", "", true, true),
        ("explicitly false", "lazy_fsync = false", "", true, true),
        ("USA lazy", "lazy_fsync = true", "", false, true),
        ("GBR (3 servers) lazy", "", "lazy_fsync = true", true, false),
        (
            "both lazy",
            "lazy_fsync = true",
            "lazy_fsync = true",
            false,
            false,
        ),
    ];
    for (case, usa, gbr, usa_always, gbr_always) in cases {
        let t = parse_topology(&topology(usa, gbr), Path::new("t.toml")).unwrap();
        assert_eq!(t.nation("USA").unwrap().lazy_fsync, !usa_always, "{case}");
        assert_eq!(t.nation("GBR").unwrap().lazy_fsync, !gbr_always, "{case}");
        let a = Addressing::sequential(
            &t,
            "127.0.0.1",
            20000,
            Path::new("/nonexistent"),
            Path::new("/nonexistent/tls"),
        );
        let mesh = generate(&t, &a, &mut Credentials::random()).unwrap();
        assert_eq!(mesh.servers.len(), 4, "{case}");
        for s in &mesh.servers {
            let always = if s.id.nation == "USA" {
                usa_always
            } else {
                gbr_always
            };
            let config = &s.config.contents;
            assert_eq!(
                config.contains("sync_interval: always"),
                always,
                "{case}: {}:\n{config}",
                s.id
            );
            // No other sync_interval is ever written: lazy means the default.
            assert_eq!(
                config.matches("sync_interval").count(),
                usize::from(always),
                "{case}: {}",
                s.id
            );
            assert_eq!(
                config.contains("UNSAFE: for the negative control only"),
                !always,
                "{case}: {} says why it is lazy",
                s.id
            );
        }
    }
}

#[test]
fn lazy_fsync_must_be_a_boolean() {
    let err = parse_topology(
        &topology("lazy_fsync = \"yes\"", ""),
        Path::new("topologies/x.toml"),
    )
    .unwrap_err();
    assert!(
        err.to_string().starts_with("topologies/x.toml:5: "),
        "{err}"
    );
}
