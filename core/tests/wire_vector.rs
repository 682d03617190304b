//! The worked example of docs/wire-contract.md ("Worked example"): one
//! sealed batch built from fixed inputs with the functions real producers
//! use (`keys::SigningKeyPair::from_seed`, `certificate::issue_certificate`,
//! `batch::seal_batch`), and the exact bytes another implementation must
//! produce from the same inputs.
//!
//! What it checks:
//!
//! - every value the doc lists, frozen as hex; a change to the encoding,
//!   the hashing or the key derivation fails here and the doc must change
//!   with it;
//! - the documented rules, recomputed here independently of the code under
//!   test: key ids are SHA-256 of the raw FIPS 204 public key (not of the
//!   `PublicKey` message); a leaf is `SHA-256(0x00 || RecordHeader bytes)`;
//!   an inner node is `SHA-256(0x01 || left || right)` with the RFC 6962
//!   split; a certificate's digest is SHA-256 of the `SignedCertificate`
//!   bytes; the `Coalition-Key-Id` header and the audit `key_id`;
//! - the encoded sizes the doc quotes.
//!
//! Signing is hedged in coalition-core (fresh randomness per signature), so
//! the signatures a producer makes differ every time. For a reproducible
//! vector the two signatures here (the root's over the certificate, the
//! producer's over the batch header) are made again with FIPS 204's
//! deterministic variant (`rnd` = 32 zero bytes) through the `ml-dsa` crate
//! directly, and replace the hedged ones; both kinds verify the same way, and
//! the test checks that the batch verifies with either.
use std::collections::BTreeMap;

use bytes::Bytes;
use coalition_core::batch::{decode_batch, open_batch, seal_batch, RecordDraft};
use coalition_core::certificate::{
    certificate_digest, issue_certificate, CertificateCache, CertificateRequest, TrustAnchors,
};
use coalition_core::context;
use coalition_core::envelope::{MessageType, ProducerIdentity};
use coalition_core::keys::{Algorithm, SigningKeyPair};
use coalition_core::label::Label;
use coalition_schemas::v1;
use ml_dsa::{ExpandedSigningKey, MlDsa65};
use prost::Message;
use sha2::{Digest, Sha256};

/// The national root's FIPS 204 seed: bytes 0x00, 0x01, ..., 0x1f.
const ROOT_SEED: [u8; 32] = seq_bytes(0x00);
/// The producer's seed: bytes 0x20, 0x21, ..., 0x3f.
const PRODUCER_SEED: [u8; 32] = seq_bytes(0x20);
const NOT_BEFORE_MS: i64 = 1_800_000_000_000;
const NOT_AFTER_MS: i64 = 1_900_000_000_000;
const PRODUCED_AT_MS: i64 = 1_800_000_000_000;
const SEALED_AT_MS: i64 = 1_800_000_000_100;

/// The frozen values (docs/wire-contract.md, "Worked example").
mod expected {
    pub const ROOT_KEY_SHA256: &str =
        "d666806e11cee19a7c989f7445f90dd419cf4d2d51db8c0fdb4c0f0a542238c9";
    pub const PRODUCER_KEY_SHA256: &str =
        "408071bcaf4fe051b0b68f8e5b2a9dbbc15dabd9440757bf197a677bbca50b9b";
    /// `Coalition-Key-Id`: the producer key id's first 16 bytes, in hex.
    pub const KEY_ID_HEADER: &str = "408071bcaf4fe051b0b68f8e5b2a9dbb";
    pub const INNER_CERTIFICATE_SHA256: &str =
        "197e52c35d6407744fda84bb76ee51d45275f8b445d0db02df7d8c822889ffb3";
    pub const CERTIFICATE_SIGNATURE_SHA256: &str =
        "a168142f7d5813e71b777dabcbabe7f373fed538ea3db488c8c588ccf63a002d";
    pub const CERTIFICATE_SHA256: &str =
        "d701a56df2622b561b09889e7d74221c9346cba1798b186af99ee4e9f2af16b7";
    pub const RECORD_HEADER: &str = "080112140a0355534112065345435245541a034742523001180122201901da1c9f699b48f6b2636e65cbf73abf99d0441ef67f5c540a42f7051dec6f2880a0f1c2b1344203542d31";
    pub const LEAF: &str = "d376420d55fd37e9ce679fbdc17046520dddd8e0a4358ec14bfb4e20a69bf34d";
    pub const BATCH_HEADER: &str = "080112035553411a0772616461722d312206747261636b73280130013a20d376420d55fd37e9ce679fbdc17046520dddd8e0a4358ec14bfb4e20a69bf34d4220d701a56df2622b561b09889e7d74221c9346cba1798b186af99ee4e9f2af16b748e4a0f1c2b134";
    pub const BATCH_SIGNATURE_SHA256: &str =
        "597105d6f3a8bdf51cc4032935274d79423d6a8b2e8c4f11f74582f778bec229";
    pub const BATCH_SHA256: &str =
        "95a21686ff872ed5999eb5bbf61f588dad1c7159310942319f284024362cc2e7";
    pub const THREE_LEAVES: [&str; 3] = [
        "d376420d55fd37e9ce679fbdc17046520dddd8e0a4358ec14bfb4e20a69bf34d",
        "f862302c2747e280cc4876c9ba8f6ad131561efde1eb615d7960aadeb713ac15",
        "635edd62ac65b5f53e6c94b8eee1b1132e6b07a7732a51d51fd7a51a85151335",
    ];
    pub const THREE_ROOT: &str = "96b7f023c7ef5ae97e2c41573698985b51f9c2e72fe87ee07a3c4fd61677c820";

    /// Encoded sizes in bytes.
    pub const PUBLIC_KEY_FILE: usize = 1_970;
    pub const INNER_CERTIFICATE: usize = 2_051;
    pub const CERTIFICATE: usize = 5_366;
    pub const RECORD_HEADER_LEN: usize = 72;
    pub const BATCH_HEADER_LEN: usize = 103;
    pub const BATCH: usize = 3_697;
}

const fn seq_bytes(start: u8) -> [u8; 32] {
    let mut out = [0u8; 32];
    let mut i = 0;
    while i < 32 {
        out[i] = start + i as u8;
        i += 1;
    }
    out
}

fn sha256(parts: &[&[u8]]) -> [u8; 32] {
    let mut h = Sha256::new();
    for p in parts {
        h.update(p);
    }
    h.finalize().into()
}

/// FIPS 204 ML-DSA.Sign, deterministic variant, ML-DSA-65.
fn sign_deterministic(seed: [u8; 32], message: &[u8], ctx: &[u8]) -> Bytes {
    let key = ExpandedSigningKey::<MlDsa65>::from_seed(&seed.into());
    let signature = key
        .sign_deterministic(message, ctx)
        .expect("a context under 256 bytes always signs");
    Bytes::from(signature.encode().to_vec())
}

/// Compares each value with its frozen form; on any difference, fails
/// listing every value as computed, so a deliberate change is frozen by
/// copying them.
#[derive(Default)]
struct Checks {
    lines: Vec<String>,
    failed: bool,
}

impl Checks {
    fn hex(&mut self, name: &str, actual: &[u8], expected: &str) {
        let actual = hex::encode(actual);
        self.failed |= actual != expected;
        self.lines.push(format!("{name} = {actual}"));
    }

    fn size(&mut self, name: &str, actual: usize, expected: usize) {
        self.failed |= actual != expected;
        self.lines.push(format!("{name} = {actual}"));
    }

    fn finish(self) {
        assert!(
            !self.failed,
            "the worked example changed; as computed:\n{}",
            self.lines.join("\n")
        );
    }
}

/// The one record of the example.
fn draft() -> RecordDraft {
    RecordDraft {
        schema_version: 1,
        label: Label::new("USA", "SECRET", &["GBR"]),
        payload: Bytes::from((0..200u8).collect::<Vec<u8>>()),
        corrects_seq: None,
        product_id: "T-1".into(),
        derived_from: Vec::new(),
        produced_at_ms: PRODUCED_AT_MS,
    }
}

/// The certificate as `issue_certificate` makes it, with the root's hedged
/// signature replaced by the deterministic one over the same inner bytes.
fn certificate(root: &SigningKeyPair, producer: &SigningKeyPair) -> (Bytes, Bytes) {
    let issued = issue_certificate(
        root,
        &CertificateRequest {
            nation: "USA".into(),
            producer_id: "radar-1".into(),
            public_key: producer.public_key().clone(),
            not_before_ms: NOT_BEFORE_MS,
            not_after_ms: NOT_AFTER_MS,
            feeds: vec!["tracks".into()],
            max_classification: "SECRET".into(),
        },
    )
    .unwrap();
    let signed = v1::SignedCertificate::decode(issued.as_ref()).unwrap();
    let signature = sign_deterministic(
        ROOT_SEED,
        &signed.certificate,
        context::PRODUCER_CERTIFICATE,
    );
    let deterministic = v1::SignedCertificate {
        certificate: signed.certificate.clone(),
        signature,
    }
    .encode_to_vec();
    assert_eq!(
        deterministic.len(),
        issued.len(),
        "signatures are fixed-size"
    );
    (signed.certificate, deterministic.into())
}

/// RFC 6962 section 2.1, written out for three leaves: the split of n = 3
/// is at k = 2, so the root is `node(node(l0, l1), l2)`.
fn three_leaf_root(leaves: &[[u8; 32]; 3]) -> [u8; 32] {
    let node = |l: &[u8; 32], r: &[u8; 32]| sha256(&[&[0x01], l, r]);
    node(&node(&leaves[0], &leaves[1]), &leaves[2])
}

#[test]
fn the_worked_example_of_the_wire_contract_is_byte_exact() {
    let mut checks = Checks::default();
    let root = SigningKeyPair::from_seed(Algorithm::MlDsa65, ROOT_SEED, "USA root");
    let producer = SigningKeyPair::from_seed(Algorithm::MlDsa65, PRODUCER_SEED, "USA/radar-1");

    // Key ids: SHA-256 of the raw FIPS 204 public key, not of `PublicKey`.
    for key in [&root, &producer] {
        let raw = key.public_key().to_wire().key;
        assert_eq!(raw.len(), 1952, "an ML-DSA-65 public key");
        assert_eq!(key.public_key().id(), &sha256(&[&raw]));
        assert_ne!(
            key.public_key().id(),
            &sha256(&[&key.public_key().to_file_bytes()])
        );
    }
    let producer_id = *producer.public_key().id();
    checks.hex(
        "root key sha256",
        root.public_key().id(),
        expected::ROOT_KEY_SHA256,
    );
    checks.hex(
        "producer key sha256",
        &producer_id,
        expected::PRODUCER_KEY_SHA256,
    );
    checks.size(
        "public key file size",
        producer.public_key().to_file_bytes().len(),
        expected::PUBLIC_KEY_FILE,
    );

    // The certificate.
    let (inner, cert) = certificate(&root, &producer);
    let decoded = v1::ProducerCertificate::decode(inner.as_ref()).unwrap();
    assert_eq!(decoded.issuer_key_sha256.as_ref(), root.public_key().id());
    let cert_sig = v1::SignedCertificate::decode(cert.as_ref())
        .unwrap()
        .signature;
    assert_eq!(cert_sig.len(), 3309, "an ML-DSA-65 signature");
    assert!(root
        .public_key()
        .verify(&inner, context::PRODUCER_CERTIFICATE, &cert_sig));
    let cert_digest = sha256(&[&cert]);
    assert_eq!(certificate_digest(&cert), cert_digest);
    checks.hex(
        "inner certificate sha256",
        &sha256(&[&inner]),
        expected::INNER_CERTIFICATE_SHA256,
    );
    checks.hex(
        "certificate signature sha256",
        &sha256(&[&cert_sig]),
        expected::CERTIFICATE_SIGNATURE_SHA256,
    );
    checks.hex(
        "certificate sha256",
        &cert_digest,
        expected::CERTIFICATE_SHA256,
    );
    checks.size(
        "inner certificate size",
        inner.len(),
        expected::INNER_CERTIFICATE,
    );
    checks.size("certificate size", cert.len(), expected::CERTIFICATE);
    let anchors: TrustAnchors = BTreeMap::from([("USA".to_string(), root.public_key().clone())]);
    let cache = CertificateCache::new(anchors);
    let verified = cache.add(&cert).expect("the certificate verifies");
    assert_eq!(verified.digest, cert_digest);

    // The batch, sealed as a producer seals it (hedged signature).
    let identity = ProducerIdentity {
        nation: "USA".into(),
        producer_id: "radar-1".into(),
        key: producer,
        certificate: cert.clone(),
    };
    let sealed = seal_batch(
        &identity,
        MessageType::Track,
        "tracks",
        1,
        &[draft()],
        SEALED_AT_MS,
    )
    .unwrap();
    let opened =
        open_batch(&sealed.bytes, &cache, SEALED_AT_MS).expect("the hedged batch verifies");
    let wire = v1::Batch::decode(sealed.bytes.as_ref()).unwrap();
    assert_eq!(wire.records.len(), 1);
    assert!(wire.proof.is_empty());
    let record_header = &wire.records[0].header;
    let rh = v1::RecordHeader::decode(record_header.as_ref()).unwrap();
    assert_eq!(
        rh.payload_sha256.as_ref(),
        sha256(&[&wire.records[0].payload])
    );
    let leaf = sha256(&[&[0x00], record_header]);
    assert_eq!(opened.batch.records[0].leaf, leaf);
    let header = v1::BatchHeader::decode(wire.header.as_ref()).unwrap();
    assert_eq!(
        header.merkle_root.as_ref(),
        leaf,
        "a one-leaf tree's root is its leaf"
    );
    assert_eq!(header.producer_cert_sha256.as_ref(), cert_digest);
    checks.hex("record header", record_header, expected::RECORD_HEADER);
    checks.hex("leaf", &leaf, expected::LEAF);
    checks.hex("batch header", &wire.header, expected::BATCH_HEADER);
    checks.size(
        "record header size",
        record_header.len(),
        expected::RECORD_HEADER_LEN,
    );
    checks.size(
        "batch header size",
        wire.header.len(),
        expected::BATCH_HEADER_LEN,
    );
    checks.size("batch size", sealed.bytes.len(), expected::BATCH);

    // The same batch with the deterministic signature: the encoding around
    // the signature is unchanged, and it verifies the same way.
    let signature = sign_deterministic(PRODUCER_SEED, &wire.header, context::TRACK_BATCH);
    assert_eq!(signature.len(), 3309);
    assert_eq!(Bytes::from(wire.encode_to_vec()), sealed.bytes);
    let deterministic = Bytes::from(
        v1::Batch {
            signature: signature.clone(),
            ..wire.clone()
        }
        .encode_to_vec(),
    );
    assert_eq!(deterministic.len(), sealed.bytes.len());
    open_batch(&deterministic, &cache, SEALED_AT_MS).expect("the deterministic batch verifies");
    checks.hex(
        "batch signature sha256",
        &sha256(&[&signature]),
        expected::BATCH_SIGNATURE_SHA256,
    );
    checks.hex(
        "batch sha256",
        &sha256(&[&deterministic]),
        expected::BATCH_SHA256,
    );

    // What bridges show of the producer's key.
    assert_eq!(opened.certificate.key.id(), &producer_id);
    let audit_key_id = hex::encode(producer_id);
    let header_key_id = &audit_key_id[..32];
    assert_eq!(header_key_id, hex::encode(&producer_id[..16]));
    assert_eq!(header_key_id, expected::KEY_ID_HEADER);

    // The same record at seqs 1, 2 and 3: the inner-node rule and a
    // multiproof.
    let three = seal_batch(
        &identity,
        MessageType::Track,
        "tracks",
        1,
        &[draft(), draft(), draft()],
        SEALED_AT_MS,
    )
    .unwrap();
    let decoded = decode_batch(&three.bytes).unwrap();
    let leaves: [[u8; 32]; 3] = std::array::from_fn(|i| {
        let bytes = &decoded.records[i].header_bytes;
        assert_eq!(decoded.records[i].leaf, sha256(&[&[0x00], bytes]));
        decoded.records[i].leaf
    });
    assert_eq!(leaves[0], leaf, "seq 1 is the one-record example's leaf");
    let three_root = three_leaf_root(&leaves);
    assert_eq!(three.header.merkle_root, three_root);
    for (i, l) in leaves.iter().enumerate() {
        checks.hex(&format!("three leaf {i}"), l, expected::THREE_LEAVES[i]);
    }
    checks.hex("three root", &three_root, expected::THREE_ROOT);
    // Carrying seq 2 alone: its audit path, left to right (leaf 0, leaf 2).
    let middle = decoded.subset(&[1]).unwrap();
    let carried = v1::Batch::decode(middle.as_ref()).unwrap();
    let proof: Vec<&[u8]> = carried.proof.iter().map(|p| p.as_ref()).collect();
    assert_eq!(proof, vec![&leaves[0][..], &leaves[2][..]]);
    open_batch(&middle, &cache, SEALED_AT_MS).expect("the subset verifies");

    checks.finish();
}
