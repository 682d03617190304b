//! Every bad topology is refused with the file, the line and what to change.
use std::path::Path;

use coalition_topology::{parse_topology, TopologyError};

const GOOD: &str = r#"[mesh]
name = "t"
[[nation]]
code = "USA"
[[nation]]
code = "GBR"
servers = 3
[[link]]
from = "USA"
to = "GBR"
max_classification = "SECRET"
[[feed]]
nation = "USA"
producer = "radar-1"
name = "tracks"
kind = "track"
"#;

fn error_of(text: &str) -> (usize, String) {
    match parse_topology(text, Path::new("mesh.toml")) {
        Ok(_) => panic!("accepted:\n{text}"),
        Err(
            TopologyError::Syntax { line, message, .. }
            | TopologyError::Invalid { line, message, .. },
        ) => (line, message),
        Err(other) => panic!("unexpected error kind: {other}"),
    }
}

#[test]
fn the_good_file_parses() {
    let t = parse_topology(GOOD, Path::new("mesh.toml")).unwrap();
    assert_eq!(t.nations.len(), 2);
    assert_eq!(t.replicas("GBR"), 3);
    assert_eq!(
        t.nation("USA").unwrap().classifications.last().unwrap(),
        "TOP SECRET"
    );
    assert_eq!(t.release_max_age_secs, 72 * 3600);
}

#[test]
fn bad_files_are_refused_with_line_and_reason() {
    let cases: Vec<(&str, String, usize, &str)> = vec![
        (
            "unknown nation in a link",
            GOOD.replace("to = \"GBR\"", "to = \"DEU\""),
            10,
            "\"DEU\" is not a [[nation]]",
        ),
        (
            "lower-case code",
            GOOD.replace("code = \"USA\"", "code = \"usa\""),
            4,
            "upper-case",
        ),
        (
            "too many servers",
            GOOD.replace("servers = 3", "servers = 12"),
            7,
            "1 to 9 servers",
        ),
        (
            "unknown ceiling",
            GOOD.replace("\"SECRET\"", "\"SEKRET\""),
            11,
            "not in USA's scale",
        ),
        (
            "self link",
            GOOD.replace("to = \"GBR\"", "to = \"USA\""),
            10,
            "two different nations",
        ),
        (
            "bad feed kind",
            GOOD.replace("kind = \"track\"", "kind = \"video\""),
            16,
            "\"track\" or \"alert\"",
        ),
        (
            "bad producer id",
            GOOD.replace("radar-1", "Radar 1"),
            14,
            "lower-case letters",
        ),
        (
            "a producer named after the bridge key",
            GOOD.replace("radar-1", "bridge"),
            14,
            "reserved for the system's own keys",
        ),
        (
            "a producer named after the revocation authority",
            GOOD.replace("radar-1", "revocation-authority"),
            14,
            "reserved",
        ),
        (
            "a nation's rate of zero",
            GOOD.replace(
                "servers = 3",
                "servers = 3\nrate_limits = { partner = { msgs_per_sec = 0, burst = 10 } }",
            ),
            8,
            "nation GBR: rate_limits.partner.msgs_per_sec must be at least 1",
        ),
        (
            "a nation's unknown rate field",
            GOOD.replace("servers = 3", "servers = 3\nrate_limits = { partners = 5 }"),
            8,
            "unknown field `partners`",
        ),
        (
            "a link's burst of zero",
            GOOD.replace(
                "max_classification = \"SECRET\"",
                "max_classification = \"SECRET\"\nrate = { msgs_per_sec = 100, burst = 0 }",
            ),
            12,
            "link USA->GBR rate.burst must be at least 1",
        ),
        (
            "unknown field",
            GOOD.replace("servers = 3", "servers = 3\nzone = \"eu\""),
            8,
            "unknown field",
        ),
        ("not TOML", GOOD.replace("[[link]]", "[[link]"), 8, ""),
        (
            "wrong type",
            GOOD.replace("servers = 3", "servers = \"three\""),
            7,
            "invalid type",
        ),
        (
            "duplicate nation",
            GOOD.replace("code = \"GBR\"", "code = \"USA\""),
            6,
            "listed twice",
        ),
        (
            "duplicate link",
            format!(
                "{GOOD}[[link]]\nfrom = \"USA\"\nto = \"GBR\"\nmax_classification = \"SECRET\"\n"
            ),
            18,
            "listed twice",
        ),
        (
            "zero retention",
            GOOD.replace("name = \"t\"", "name = \"t\"\nrelease_max_age_hours = 0"),
            3,
            "at least 1",
        ),
        (
            "one nation",
            GOOD.replace("[[nation]]\ncode = \"GBR\"\nservers = 3\n", "")
                .replace("to = \"GBR\"", "to = \"USA\""),
            0,
            "at least two",
        ),
        (
            "missing mesh",
            GOOD.replace("[mesh]\nname = \"t\"\n", ""),
            1,
            "missing field `mesh`",
        ),
    ];
    for (name, text, line, needle) in cases {
        let (got_line, message) = error_of(&text);
        assert_eq!(got_line, line, "case {name}: {message}");
        assert!(
            message.contains(needle),
            "case {name}: {message:?} lacks {needle:?}"
        );
    }
}

#[test]
fn error_display_names_the_file_and_line() {
    let err = parse_topology(
        &GOOD.replace("servers = 3", "servers = 0"),
        Path::new("topologies/x.toml"),
    )
    .unwrap_err();
    assert!(
        err.to_string().starts_with("topologies/x.toml:7: "),
        "{err}"
    );
}

#[test]
fn rate_limits_from_the_topology_reach_the_receiving_bridge() {
    let text = GOOD
        .replace(
            "servers = 3",
            "servers = 3\nrate_limits = { partner = { msgs_per_sec = 700, burst = 900 }, producer_max_deferred = 12 }",
        )
        .replace(
            "max_classification = \"SECRET\"",
            "max_classification = \"SECRET\"\nrate = { msgs_per_sec = 100, burst = 200 }",
        );
    let t = parse_topology(&text, Path::new("mesh.toml")).unwrap();
    // Paths are only written into the configs; nothing is created.
    let dir = Path::new("/nonexistent/mesh");
    let a = coalition_topology::Addressing::sequential(&t, "127.0.0.1", 20000, dir, dir);
    let mesh = coalition_topology::generate(&t, &a, &mut coalition_topology::Credentials::random())
        .unwrap();
    let gbr = &mesh.bridges["GBR"].0.rate_limits;
    let rate = |msgs_per_sec, burst| coalition_topology::Rate {
        msgs_per_sec,
        burst,
    };
    assert_eq!(
        gbr.partner,
        rate(700, 900),
        "GBR's own default for partners"
    );
    assert_eq!(gbr.for_partner("USA"), rate(100, 200), "the link's rate");
    assert_eq!(gbr.producer_max_deferred, 12);
    let usa = &mesh.bridges["USA"].0.rate_limits;
    assert_eq!(
        usa,
        &coalition_topology::RateLimits::default(),
        "USA sets none"
    );
    // And the generated bridge config, as written, loads with them.
    let (_, file) = &mesh.bridges["GBR"];
    assert!(
        file.contents.contains("msgs_per_sec = 100"),
        "{}",
        file.contents
    );
}
