//! The body of the `batch` fuzz target: any bytes as a sealed batch.
//!
//! - `scan`, `peek_header` and `decode_batch` on the raw bytes. Where
//!   `decode_batch` accepts, `scan` must find the same signed header bytes
//!   and record count and `peek_header` the same header: the bridge's shell
//!   loads certificates and feed positions by what `peek_header` says,
//!   while the decision verifies what `decode_batch` says. (Checked last,
//!   so the checks below run on every input.)
//! - For a batch that decodes: the re-encoding round trip; `open_batch`
//!   against [`World::certificates`](crate::World) at [`NOW_MS`] (one ML-DSA
//!   verification), `verify_batch` at `i64::MIN` and `i64::MAX` (asserted
//!   `certificate_expired`) and against every other certificate of the
//!   world (asserted `certificate_mismatch`); per record, the leaf index,
//!   `msg_id`, the label and `check_within_certificate`.
//! - `DecodedBatch::subset` with fixed keep lists (all, first, last, every
//!   other, all but the first) and two pseudo-random ones derived from the
//!   input's hash, plus invalid ones (empty, out of range, repeated,
//!   decreasing), which must be refused. A valid keep list gives a subset
//!   exactly when `computed_root` gives a root; the subset decodes, carries
//!   the producer's header and signature unchanged and exactly the kept
//!   records, and gives the same root; keeping every record re-encodes the
//!   batch as `encode` does. A subset of a batch that verified must verify
//!   too (asserted with `open_batch` for up to three subsets per input).
use coalition_core::batch::{
    decode_batch, open_batch, peek_header, scan, verify_batch, DecodedBatch,
};
use coalition_core::envelope::check_within_certificate;
use coalition_core::DenyReason;

use crate::{world, CERTIFICATES, NOW_MS};

/// How many subsets of one verified batch are verified (each costs an
/// ML-DSA verification).
const SUBSET_VERIFICATIONS: usize = 3;

/// Runs one input.
pub fn run(data: &[u8]) {
    let w = world();
    let scanned = scan(data);
    let peeked = peek_header(data);
    if let Ok(h) = &peeked {
        assert!(
            scanned.is_some(),
            "peek_header read a header scan did not find"
        );
        let _ = h.batch_id();
        assert!((1..=4096).contains(&h.leaf_count()));
    }
    let decoded = decode_batch(data);
    let opened = open_batch(data, &w.certificates, NOW_MS);
    let batch = match decoded {
        Ok(b) => b,
        Err(reason) => {
            assert_eq!(
                opened.err(),
                Some(reason),
                "open_batch refuses what decode_batch refuses, for the same reason"
            );
            return;
        }
    };

    let header = &batch.header;
    let leaf_count = header.leaf_count();
    assert!(batch.records.len() <= leaf_count);
    let _ = batch.is_complete();
    let computed = batch.computed_root();

    // The re-encoding carries the same batch.
    let again = decode_batch(&batch.encode()).expect("a decoded batch re-encodes to a batch");
    assert_same(
        &batch,
        &again,
        &(0..batch.records.len()).collect::<Vec<_>>(),
    );
    assert_eq!(again.computed_root(), computed);

    // Certificates: the named one (if the world has it), and every other.
    let certificate = w.certificates.get(&header.producer_cert_sha256);
    match (&certificate, &opened) {
        (None, r) => assert_eq!(
            r.as_ref().err(),
            Some(&DenyReason::UnknownCertificate),
            "a batch naming an unknown certificate opens"
        ),
        (Some(_), Err(DenyReason::UnknownCertificate)) => {
            panic!("open_batch did not find a cached certificate")
        }
        _ => {}
    }
    if let Some(cert) = &certificate {
        for now in [i64::MIN, i64::MAX] {
            assert_eq!(
                verify_batch(&batch, cert, now),
                Err(DenyReason::CertificateExpired),
                "verified at {now}"
            );
        }
        let policy = match header.origin.as_str() {
            "USA" => Some(&w.usa),
            "GBR" => Some(&w.gbr),
            _ => None,
        };
        for r in &batch.records {
            let _ = r.header.msg_id();
            let _ = r.header.label.display();
            for s in &r.header.derived_from {
                let _ = s.msg_id();
            }
            if let Some(policy) = policy {
                let _ = check_within_certificate(&r.header, cert, policy);
            }
        }
    }
    for other in &CERTIFICATES {
        let Some(other) = w
            .certificates
            .get(&coalition_core::certificate::certificate_digest(
                other.bytes,
            ))
        else {
            continue;
        };
        if other.digest != header.producer_cert_sha256 {
            assert_eq!(
                verify_batch(&batch, &other, NOW_MS),
                Err(DenyReason::CertificateMismatch)
            );
        }
    }
    for r in &batch.records {
        assert!(r.leaf_index(header) < leaf_count);
    }

    // Subsets.
    let n = batch.records.len();
    let mut lists: Vec<Vec<usize>> = vec![
        (0..n).collect(),
        vec![0],
        vec![n - 1],
        (0..n).step_by(2).collect(),
    ];
    if n > 1 {
        lists.push((1..n).collect());
    }
    let mut rng = Rng::new(data);
    for _ in 0..2 {
        let mut keep: Vec<usize> = (0..n).filter(|_| rng.next() & 1 == 1).collect();
        if keep.is_empty() {
            keep.push(usize::try_from(rng.next() % n as u64).unwrap_or(0));
        }
        lists.push(keep);
    }
    let mut verifications = 0;
    // The pseudo-random lists first, so they are among those verified.
    for keep in lists.iter().rev() {
        let subset = batch.subset(keep);
        assert_eq!(
            subset.is_ok(),
            computed.is_ok(),
            "subset {keep:?}: {subset:?}, but the root is {computed:?}"
        );
        let Ok(bytes) = subset else { continue };
        let sub = decode_batch(&bytes).expect("a subset decodes");
        assert_same(&batch, &sub, keep);
        assert_eq!(sub.computed_root(), computed, "a subset gives another root");
        assert_eq!(
            scan(&bytes).map(|(h, c)| (h.to_vec(), c)),
            Some((batch.header_bytes.to_vec(), keep.len()))
        );
        if keep.len() == n {
            assert_eq!(
                bytes,
                batch.encode(),
                "keeping every record changed the batch"
            );
        }
        // A subset of the subset: its first record alone.
        let first = sub.subset(&[0]).expect("a subset of a subset");
        assert_eq!(
            decode_batch(&first).expect("decodes").computed_root(),
            computed
        );
        if opened.is_ok() && verifications < SUBSET_VERIFICATIONS {
            verifications += 1;
            if let Err(reason) = open_batch(&bytes, &w.certificates, NOW_MS) {
                panic!("subset {keep:?} of a verified batch is refused: {reason:?}");
            }
        }
    }
    let mut invalid = vec![vec![], vec![n], vec![0, 0], vec![usize::MAX]];
    if n > 1 {
        invalid.push(vec![1, 0]);
        invalid.push(vec![0, n]);
    }
    for keep in invalid {
        assert!(
            batch.subset(&keep).is_err(),
            "subset {keep:?} of {n} records"
        );
    }

    // Last, so every check above has run on the input: what the shell reads
    // without decoding (certificate look-up, feed positions, pacing) must be
    // what the decision decodes and verifies.
    let Some((scanned_header, scanned_records)) = scanned else {
        panic!(
            "decode_batch accepted a batch that scan refuses (peek_header: {peeked:?}, \
             open_batch: {:?})",
            opened.as_ref().map(|_| ())
        );
    };
    assert_eq!(
        scanned_header,
        &batch.header_bytes[..],
        "scan found other header bytes than decode_batch"
    );
    assert_eq!(scanned_records, n, "scan counted other records");
    assert_eq!(
        peeked.as_ref().ok(),
        Some(&batch.header),
        "peek_header differs"
    );
}

/// `sub` is `batch` carrying only the records at `keep`.
fn assert_same(batch: &DecodedBatch, sub: &DecodedBatch, keep: &[usize]) {
    assert_eq!(sub.header, batch.header);
    assert_eq!(sub.header_bytes, batch.header_bytes);
    assert_eq!(sub.signature, batch.signature);
    assert_eq!(sub.records.len(), keep.len());
    for (r, k) in sub.records.iter().zip(keep) {
        let original = &batch.records[*k];
        assert_eq!(r.header_bytes, original.header_bytes);
        assert_eq!(r.header, original.header);
        assert_eq!(r.payload, original.payload);
        assert_eq!(r.leaf, original.leaf);
        assert_eq!(r.payload_matches, original.payload_matches);
    }
}

/// A small deterministic generator seeded by the input's FNV-1a hash, for
/// keep lists that change whenever the input does.
struct Rng(u64);

impl Rng {
    fn new(data: &[u8]) -> Self {
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for b in data {
            h ^= u64::from(*b);
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
        Rng(h | 1)
    }

    /// xorshift64*.
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}
