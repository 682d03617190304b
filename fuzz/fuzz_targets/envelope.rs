//! Envelopes: any bytes through `envelope::open` (decode, certificate chain
//! against the fixed trust anchors, producer signature, payload digest) at a
//! fixed instant, then the certificate-ceiling check; and through
//! `decode_envelope` alone, as the bridge does to name a refused message.
#![no_main]

use coalition_core::certificate::CertificateCache;
use coalition_core::envelope::{check_within_certificate, decode_envelope, open};
use coalition_fuzz::{world, NOW_MS};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let w = world();
    if let Ok(decoded) = decode_envelope(data) {
        let _ = decoded.header.msg_id();
        let _ = decoded.header.label.display();
    }
    // A fresh cache per input keeps each run independent of earlier inputs.
    let cache = CertificateCache::new(w.anchors.clone());
    for now in [NOW_MS, i64::MIN, i64::MAX] {
        if let Ok(verified) = open(data, &cache, now) {
            let _ =
                check_within_certificate(&verified.envelope.header, &verified.certificate, &w.usa);
        }
    }
});
