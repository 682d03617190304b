//! What the fuzz targets share: a fixed trust world (root keys derived from
//! fixed seeds, so the committed seed corpus under `seeds/` keeps verifying)
//! and the builders of that seed corpus (`examples/seed_corpus.rs`).
//!
//! ML-DSA signing in coalition-core is hedged (fresh randomness per
//! signature), so regenerating the seeds gives different bytes that verify
//! just the same; the keys themselves are deterministic.
#![forbid(unsafe_code)]

use std::collections::BTreeMap;
use std::sync::OnceLock;

use bytes::Bytes;
use coalition_core::certificate::{issue_certificate, CertificateRequest, TrustAnchors};
use coalition_core::envelope::{seal, MessageType, ProducerIdentity, SealRequest, SourceRef};
use coalition_core::keys::{Algorithm, SigningKeyPair};
use coalition_core::label::{Label, NationPolicy};
use coalition_core::revocation::{
    sign_heartbeat, sign_notice, Heartbeat, Notice, ProductKey, Revoked, BRIDGE_IDENTITY,
};
use coalition_core::schema::{sign_schema_policy, Migration, SchemaPolicy, SchemaRule};
use coalition_core::translator::{cosign_translator, sign_translator, Translator};
use coalition_schemas::v1;
use prost::Message;

/// The instant every target verifies at, Unix ms.
pub const NOW_MS: i64 = 1_800_000_000_000;

/// The nations of the fixed world and their roots' parameter sets.
pub const NATIONS: [(&str, Algorithm); 3] = [
    ("USA", Algorithm::MlDsa65),
    ("GBR", Algorithm::MlDsa65),
    ("FRA", Algorithm::MlDsa87),
];

/// A deterministic 32-byte ML-DSA seed for `name`.
fn seed_for(name: &str) -> [u8; 32] {
    let mut seed = [0x5a_u8; 32];
    for (i, b) in name.bytes().enumerate() {
        seed[i % 32] ^= b.rotate_left(i as u32 % 8);
    }
    seed
}

/// The root key of `nation` (deterministic).
pub fn root_key(nation: &str) -> SigningKeyPair {
    let algorithm = NATIONS
        .iter()
        .find(|(n, _)| *n == nation)
        .map_or(Algorithm::MlDsa65, |(_, a)| *a);
    SigningKeyPair::from_seed(
        algorithm,
        seed_for(&format!("root/{nation}")),
        &format!("{nation} root"),
    )
}

/// A producer's (or bridge's) key (deterministic).
pub fn producer_key(nation: &str, producer_id: &str) -> SigningKeyPair {
    SigningKeyPair::from_seed(
        Algorithm::MlDsa65,
        seed_for(&format!("producer/{nation}/{producer_id}")),
        &format!("{nation}/{producer_id}"),
    )
}

/// What every target verifies against, made once per process.
#[derive(Debug)]
pub struct World {
    /// The roots of [`NATIONS`].
    pub anchors: TrustAnchors,
    /// USA's label vocabulary.
    pub usa: NationPolicy,
    /// GBR's label vocabulary.
    pub gbr: NationPolicy,
    /// A USA-to-GBR translator.
    pub usa_to_gbr: Translator,
}

/// The fixed world.
pub fn world() -> &'static World {
    static WORLD: OnceLock<World> = OnceLock::new();
    WORLD.get_or_init(|| World {
        anchors: NATIONS
            .iter()
            .map(|(n, _)| (n.to_string(), root_key(n).public_key().clone()))
            .collect(),
        usa: usa_policy(),
        gbr: NationPolicy {
            nation: "GBR".into(),
            version: 1,
            classifications: vec!["OFFICIAL".into(), "SECRET".into(), "TOP SECRET".into()],
            caveats: vec![("UK EYES ONLY".into(), true), ("EXERCISE".into(), false)],
            informative: vec!["TRAINING".into()],
        },
        usa_to_gbr: usa_to_gbr(),
    })
}

fn usa_policy() -> NationPolicy {
    NationPolicy {
        nation: "USA".into(),
        version: 1,
        classifications: vec![
            "UNCLASSIFIED".into(),
            "CONFIDENTIAL".into(),
            "SECRET".into(),
            "TOP SECRET".into(),
        ],
        caveats: vec![("NOFORN".into(), true), ("EXERCISE".into(), false)],
        informative: vec!["TRAINING".into()],
    }
}

fn usa_to_gbr() -> Translator {
    let map = |pairs: &[(&str, &str)]| {
        pairs
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect::<BTreeMap<_, _>>()
    };
    Translator {
        id: "USA-GBR".into(),
        version: 1,
        from: "USA".into(),
        to: "GBR".into(),
        source_versions: 1..=3,
        target_versions: 1..=2,
        classifications: map(&[
            ("UNCLASSIFIED", "OFFICIAL"),
            ("CONFIDENTIAL", "SECRET"),
            ("SECRET", "SECRET"),
        ]),
        categories: map(&[("EXERCISE", "EXERCISE"), ("TRAINING", "TRAINING")]),
        required: Default::default(),
        forbidden: ["NOFORN".to_string()].into_iter().collect(),
        not_before_ms: NOW_MS - 86_400_000,
        not_after_ms: NOW_MS + 86_400_000,
    }
}

/// A label of the fixed world.
pub fn sample_label() -> Label {
    Label::new("USA", "SECRET", &["GBR", "USA"])
        .with_caveat("EXERCISE")
        .with_informative("TRAINING")
}

fn certificate(nation: &str, producer_id: &str, feeds: &[&str], max: &str) -> Bytes {
    issue_certificate(
        &root_key(nation),
        &CertificateRequest {
            nation: nation.into(),
            producer_id: producer_id.into(),
            public_key: producer_key(nation, producer_id).public_key().clone(),
            not_before_ms: NOW_MS - 3_600_000,
            not_after_ms: NOW_MS + 365 * 86_400_000,
            feeds: feeds.iter().map(|f| f.to_string()).collect(),
            max_classification: max.into(),
        },
    )
    .expect("certificate")
}

/// A seed corpus: `(target, file name, bytes)`, every object signed by the
/// fixed world's keys so mutations start from inputs that verify.
pub fn seed_corpus() -> Vec<(&'static str, String, Vec<u8>)> {
    let mut out = Vec::new();
    let mut add = |target: &'static str, name: &str, bytes: Vec<u8>| {
        out.push((target, name.to_string(), bytes));
    };

    // label
    let label = sample_label();
    add(
        "label",
        "secret-rel-gbr",
        v1::ConfidentialityLabel::from(&label).encode_to_vec(),
    );
    add(
        "label",
        "noforn",
        v1::ConfidentialityLabel::from(
            &Label::new("USA", "TOP SECRET", &["USA"]).with_caveat("NOFORN"),
        )
        .encode_to_vec(),
    );
    add(
        "label",
        "gbr-official",
        v1::ConfidentialityLabel::from(
            &Label::new("GBR", "OFFICIAL", &["USA", "FRA"]).in_version(2),
        )
        .encode_to_vec(),
    );

    // envelope
    let identity = ProducerIdentity {
        nation: "USA".into(),
        producer_id: "radar-1".into(),
        key: producer_key("USA", "radar-1"),
        certificate: certificate("USA", "radar-1", &["tracks", "alerts"], "SECRET"),
    };
    let source = SourceRef {
        origin: "GBR".into(),
        producer_id: "sonar-2".into(),
        feed: "tracks".into(),
        seq: 3,
        label: Label::new("GBR", "OFFICIAL", &["USA", "GBR"]),
        translator: Some("GBR-USA@1".into()),
    };
    for (name, message_type, feed, corrects, derived) in [
        ("track", MessageType::Track, "tracks", None, false),
        (
            "track-correction",
            MessageType::Track,
            "tracks",
            Some(6),
            false,
        ),
        ("alert-composite", MessageType::Alert, "alerts", None, true),
        (
            "track-unknown-feed",
            MessageType::Track,
            "other",
            None,
            false,
        ),
    ] {
        let derived_from = if derived {
            vec![source.clone()]
        } else {
            vec![]
        };
        let bytes = seal(
            &identity,
            &SealRequest {
                message_type,
                schema_version: 1,
                label: &label,
                feed,
                seq: 7,
                corrects_seq: corrects,
                payload: Bytes::from_static(b"\x08\x01\x12\x04T-17"),
                product_id: "T-17",
                derived_from: &derived_from,
                now_ms: NOW_MS,
            },
        )
        .expect("seal");
        add("envelope", name, bytes.to_vec());
    }

    // translator: co-signed by both roots, and signed by one only.
    let t = usa_to_gbr();
    let mut object = sign_translator(&t, "USA", &root_key("USA")).expect("sign translator");
    add("translator", "signed-by-usa-only", object.encode_to_vec());
    cosign_translator(&mut object, "GBR", &root_key("GBR")).expect("cosign");
    add("translator", "cosigned", object.encode_to_vec());
    let mut fra = t.clone();
    fra.id = "FRA-USA".into();
    fra.from = "FRA".into();
    fra.to = "USA".into();
    let mut object = sign_translator(&fra, "FRA", &root_key("FRA")).expect("sign translator");
    cosign_translator(&mut object, "USA", &root_key("USA")).expect("cosign");
    add("translator", "cosigned-mldsa87", object.encode_to_vec());

    // revocation: one notice per target kind, and a heartbeat.
    let notice = |epoch: u64, revoked: Revoked| Notice {
        issuer: "USA".into(),
        epoch,
        effective_from_ms: NOW_MS - 1000,
        issued_at_ms: NOW_MS - 2000,
        reason: "fuzz seed".into(),
        revoked,
    };
    let notices = [
        (
            "translator",
            notice(
                1,
                Revoked::Translator {
                    id: "USA-GBR".into(),
                    version: 1,
                },
            ),
        ),
        (
            "producer-key",
            notice(
                2,
                Revoked::ProducerKey {
                    nation: "USA".into(),
                    producer_id: "radar-1".into(),
                    key_sha256: *producer_key("USA", "radar-1").public_key().id(),
                },
            ),
        ),
        (
            "product",
            notice(
                3,
                Revoked::Product(ProductKey {
                    origin: "USA".into(),
                    producer_id: "radar-1".into(),
                    feed: "tracks".into(),
                    product_id: "T-17".into(),
                }),
            ),
        ),
        ("suspend", notice(4, Revoked::SuspendPartner("GBR".into()))),
        (
            "reinstate",
            notice(5, Revoked::ReinstatePartner("GBR".into())),
        ),
    ];
    let usa_root = root_key("USA");
    for (name, n) in notices {
        let object = sign_notice(&n, &usa_root).expect("sign notice");
        add(
            "revocation",
            &format!("notice-{name}"),
            object.encode_to_vec(),
        );
    }
    let bridge_cert = certificate("USA", BRIDGE_IDENTITY, &["control"], "SECRET");
    let object = sign_heartbeat(
        "USA",
        Heartbeat {
            epoch: 5,
            issued_at_ms: NOW_MS - 500,
        },
        &producer_key("USA", BRIDGE_IDENTITY),
        bridge_cert,
    )
    .expect("sign heartbeat");
    add("revocation", "heartbeat", object.encode_to_vec());

    // schema_policy
    let policies = [
        (
            "v1-only",
            SchemaPolicy {
                nation: "USA".into(),
                version: 1,
                rules: vec![
                    SchemaRule::v1_only(MessageType::Track),
                    SchemaRule::v1_only(MessageType::Alert),
                ],
                issued_at_ms: NOW_MS,
            },
        ),
        (
            "track-migration",
            SchemaPolicy {
                nation: "USA".into(),
                version: 2,
                rules: vec![SchemaRule {
                    message_type: MessageType::Track,
                    current_version: 1,
                    migration: Some(Migration {
                        from_version: 1,
                        to_version: 2,
                        window_start_ms: NOW_MS - 1000,
                        window_end_ms: NOW_MS + 1000,
                    }),
                }],
                issued_at_ms: NOW_MS,
            },
        ),
    ];
    for (name, p) in policies {
        let object = sign_schema_policy(&p, &usa_root).expect("sign schema policy");
        add("schema_policy", name, object.encode_to_vec());
    }

    out
}
