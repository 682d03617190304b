//! What the fuzz targets share: a fixed trust world (root and producer keys
//! derived from fixed seeds, and producer certificates committed under
//! `fixtures/certificates/`, so the committed seed corpus under `seeds/`
//! keeps verifying), the builders of that seed corpus
//! (`examples/seed_corpus.rs`), and the bodies of the `batch`, `merkle` and
//! `feed_position` targets (in modules, so `examples/check_seeds.rs` can run
//! the `batch` body over the seeds on the stable toolchain too).
//!
//! ML-DSA signing in coalition-core is hedged (fresh randomness per
//! signature), so regenerating the seeds gives different bytes that verify
//! just the same; the keys themselves are deterministic. Batches name their
//! producer's certificate by the SHA-256 of its bytes, so those bytes are
//! committed rather than re-signed at every start: a certificate issued
//! afresh would have another digest, and every batch seed would then name
//! an unknown certificate.
#![forbid(unsafe_code)]

pub mod batch;
pub mod feed_position;
pub mod merkle;

use std::collections::BTreeMap;
use std::sync::OnceLock;

use bytes::Bytes;
use coalition_core::batch::{decode_batch, seal_batch, RecordDraft};
use coalition_core::certificate::{
    issue_certificate, CertificateCache, CertificateRequest, TrustAnchors,
};
use coalition_core::envelope::{MessageType, ProducerIdentity, SourceRef};
use coalition_core::keys::{Algorithm, SigningKeyPair};
use coalition_core::label::{Label, NationPolicy};
use coalition_core::revocation::{
    sign_heartbeat, sign_notice, Heartbeat, Notice, NoticeSigner, ProductKey, Revoked,
    BRIDGE_IDENTITY, REVOCATION_AUTHORITY_IDENTITY,
};
use coalition_core::signed::CertifiedKey;
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
    /// Every certificate of [`CERTIFICATES`], added (root signature
    /// checked) once. Nothing else is ever added, so no input depends on an
    /// earlier one.
    pub certificates: CertificateCache,
}

/// A producer certificate of the fixed world, committed under
/// `fixtures/certificates/<file>`.
#[derive(Debug, Clone, Copy)]
pub struct FixtureCertificate {
    /// The issuing nation (its root signs).
    pub nation: &'static str,
    /// The producer.
    pub producer_id: &'static str,
    /// The feeds it may publish.
    pub feeds: &'static [&'static str],
    /// Start of validity, Unix ms.
    pub not_before_ms: i64,
    /// End of validity, Unix ms.
    pub not_after_ms: i64,
    /// File name under `fixtures/certificates/`.
    pub file: &'static str,
    /// The committed bytes (an encoded `SignedCertificate`).
    pub bytes: &'static [u8],
}

const DAY_MS: i64 = 86_400_000;

/// The producer certificates of the fixed world. All but the last are valid
/// at [`NOW_MS`]; `USA/radar-old` expired a day before it.
pub const CERTIFICATES: [FixtureCertificate; 4] = [
    FixtureCertificate {
        nation: "USA",
        producer_id: "radar-1",
        feeds: &["tracks", "alerts"],
        not_before_ms: NOW_MS - 3_600_000,
        not_after_ms: NOW_MS + 365 * DAY_MS,
        file: "USA-radar-1.cert",
        bytes: include_bytes!("../fixtures/certificates/USA-radar-1.cert"),
    },
    FixtureCertificate {
        nation: "GBR",
        producer_id: "sonar-2",
        feeds: &["tracks"],
        not_before_ms: NOW_MS - 3_600_000,
        not_after_ms: NOW_MS + 365 * DAY_MS,
        file: "GBR-sonar-2.cert",
        bytes: include_bytes!("../fixtures/certificates/GBR-sonar-2.cert"),
    },
    FixtureCertificate {
        nation: "FRA",
        producer_id: "awacs-1",
        feeds: &["tracks", "alerts"],
        not_before_ms: NOW_MS - 3_600_000,
        not_after_ms: NOW_MS + 365 * DAY_MS,
        file: "FRA-awacs-1.cert",
        bytes: include_bytes!("../fixtures/certificates/FRA-awacs-1.cert"),
    },
    FixtureCertificate {
        nation: "USA",
        producer_id: "radar-old",
        feeds: &["tracks"],
        not_before_ms: NOW_MS - 30 * DAY_MS,
        not_after_ms: NOW_MS - DAY_MS,
        file: "USA-radar-old.cert",
        bytes: include_bytes!("../fixtures/certificates/USA-radar-old.cert"),
    },
];

impl FixtureCertificate {
    /// Issues this certificate afresh with its nation's root (a new hedged
    /// signature, so new bytes and a new digest): for
    /// `seed_corpus --certificates` only.
    pub fn issue(&self) -> Bytes {
        issue_certificate(
            &root_key(self.nation),
            &CertificateRequest {
                nation: self.nation.into(),
                producer_id: self.producer_id.into(),
                public_key: producer_key(self.nation, self.producer_id)
                    .public_key()
                    .clone(),
                not_before_ms: self.not_before_ms,
                not_after_ms: self.not_after_ms,
                feeds: self.feeds.iter().map(|f| f.to_string()).collect(),
                max_classification: "SECRET".into(),
            },
        )
        .expect("certificate")
    }
}

/// The signing identity of a producer of [`CERTIFICATES`], with the
/// committed certificate.
pub fn identity(nation: &str, producer_id: &str) -> ProducerIdentity {
    let fixture = CERTIFICATES
        .iter()
        .find(|c| c.nation == nation && c.producer_id == producer_id)
        .expect("a producer of the fixed world");
    ProducerIdentity {
        nation: nation.into(),
        producer_id: producer_id.into(),
        key: producer_key(nation, producer_id),
        certificate: Bytes::from_static(fixture.bytes),
    }
}

/// The fixed world.
pub fn world() -> &'static World {
    static WORLD: OnceLock<World> = OnceLock::new();
    WORLD.get_or_init(|| {
        let anchors: TrustAnchors = NATIONS
            .iter()
            .map(|(n, _)| (n.to_string(), root_key(n).public_key().clone()))
            .collect();
        let certificates = CertificateCache::new(anchors.clone());
        for c in &CERTIFICATES {
            if let Err(reason) = certificates.add(c.bytes) {
                panic!(
                    "fixtures/certificates/{} does not verify ({reason:?}): \
                     regenerate with `cargo run --release --example seed_corpus -- \
                     --certificates`, then the seeds",
                    c.file
                );
            }
        }
        World {
            anchors,
            certificates,
            usa: usa_policy(),
            gbr: NationPolicy {
                nation: "GBR".into(),
                version: 1,
                classifications: vec!["OFFICIAL".into(), "SECRET".into(), "TOP SECRET".into()],
                caveats: vec![("UK EYES ONLY".into(), true), ("EXERCISE".into(), false)],
                informative: vec!["TRAINING".into()],
            },
            usa_to_gbr: usa_to_gbr(),
        }
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

    // batch
    for (name, bytes) in batch_seeds() {
        add("batch", &name, bytes);
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
    // Each kind signed by USA's revocation authority, and one by its root
    // (the emergency path).
    let usa_authority = CertifiedKey {
        nation: "USA".into(),
        key: producer_key("USA", REVOCATION_AUTHORITY_IDENTITY),
        certificate: certificate("USA", REVOCATION_AUTHORITY_IDENTITY, &["control"], ""),
    };
    for (name, n) in &notices {
        let object = sign_notice(n, NoticeSigner::Authority(&usa_authority)).expect("sign notice");
        add(
            "revocation",
            &format!("notice-{name}"),
            object.encode_to_vec(),
        );
    }
    let usa_root = root_key("USA");
    let object = sign_notice(&notices[0].1, NoticeSigner::Root(&usa_root)).expect("sign notice");
    add("revocation", "notice-by-root", object.encode_to_vec());
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

/// A record to seal into a batch seed: `i` picks its label, product and
/// payload.
fn draft(i: usize, corrects_seq: Option<u64>, derived_from: Vec<SourceRef>) -> RecordDraft {
    let label = match i % 3 {
        0 => sample_label(),
        1 => Label::new("USA", "UNCLASSIFIED", &["GBR", "FRA", "USA"]),
        _ => Label::new("USA", "SECRET", &["USA"]).with_caveat("NOFORN"),
    };
    RecordDraft {
        schema_version: 1,
        label,
        payload: Bytes::from(format!("\x08\x01\x12\x04T-{i:02}")),
        corrects_seq,
        product_id: format!("T-{i:02}"),
        derived_from,
        produced_at_ms: NOW_MS - 1000 + i as i64,
    }
}

/// `n` plain track records.
fn drafts(n: usize) -> Vec<RecordDraft> {
    (0..n).map(|i| draft(i, None, Vec::new())).collect()
}

/// The seeds of the `batch` target: `(file name, bytes)`. All but two
/// verify at [`NOW_MS`] against [`World::certificates`]; `unknown-feed`
/// (`feed_not_permitted`) and `expired-certificate`
/// (`certificate_expired`) are refusals on purpose.
pub fn batch_seeds() -> Vec<(String, Vec<u8>)> {
    let seal = |id: &ProducerIdentity, kind, feed: &str, first_seq, records: &[RecordDraft]| {
        seal_batch(id, kind, feed, first_seq, records, NOW_MS)
            .expect("seal")
            .bytes
    };
    let radar = identity("USA", "radar-1");
    let mut out: Vec<(String, Vec<u8>)> = Vec::new();
    let mut add = |name: &str, bytes: &[u8]| out.push((name.to_string(), bytes.to_vec()));

    add(
        "tracks-1",
        &seal(&radar, MessageType::Track, "tracks", 1, &drafts(1)),
    );
    let mut seven = drafts(7);
    seven[3].corrects_seq = Some(101);
    let tracks_7 = seal(&radar, MessageType::Track, "tracks", 100, &seven);
    add("tracks-7", &tracks_7);
    let decoded = decode_batch(&tracks_7).expect("decode");
    // Partial releases, as a bridge makes them: a multiproof, and one
    // record with its audit path.
    add(
        "tracks-7-subset",
        &decoded.subset(&[1, 4, 5]).expect("subset"),
    );
    add("tracks-7-last", &decoded.subset(&[6]).expect("subset"));
    // A payload that no longer matches its record header: that record is
    // refused on its own; the batch still verifies.
    let mut tampered = decoded.clone();
    tampered.records[2].payload = Bytes::from_static(b"not the signed payload");
    add("tracks-7-bad-payload", &tampered.encode());
    // 33 leaves: a tree that is not a power of two, and a sparse subset.
    let tracks_33 = seal(&radar, MessageType::Track, "tracks", 7_000, &drafts(33));
    add("tracks-33", &tracks_33);
    add(
        "tracks-33-subset",
        &decode_batch(&tracks_33)
            .expect("decode")
            .subset(&[0, 16, 31, 32])
            .expect("subset"),
    );
    let source = SourceRef {
        origin: "GBR".into(),
        producer_id: "sonar-2".into(),
        feed: "tracks".into(),
        seq: 3,
        label: Label::new("GBR", "OFFICIAL", &["USA", "GBR"]),
        translator: Some("GBR-USA@1".into()),
    };
    let alerts = [
        draft(0, None, vec![source.clone()]),
        draft(1, None, vec![source.clone(), source]),
    ];
    add(
        "alerts-composite",
        &seal(&radar, MessageType::Alert, "alerts", 42, &alerts),
    );
    add(
        "gbr-tracks-3",
        &seal(
            &identity("GBR", "sonar-2"),
            MessageType::Track,
            "tracks",
            1,
            &drafts(3),
        ),
    );
    // A certificate under FRA's ML-DSA-87 root.
    add(
        "fra-alerts-2",
        &seal(
            &identity("FRA", "awacs-1"),
            MessageType::Alert,
            "alerts",
            9,
            &drafts(2),
        ),
    );
    add(
        "unknown-feed",
        &seal(&radar, MessageType::Track, "other", 1, &drafts(2)),
    );
    add(
        "expired-certificate",
        &seal(
            &identity("USA", "radar-old"),
            MessageType::Track,
            "tracks",
            1,
            &drafts(2),
        ),
    );
    out
}
