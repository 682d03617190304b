//! Revocation notices and heartbeats: any bytes as a `SignedObject` through
//! `verify_notice` (body decode, issuer-authority checks, the issuer's
//! root or revocation-authority signature and certificate chain) and `verify_heartbeat` (body decode, bridge certificate chain,
//! certified signature) against the fixed trust anchors. Whatever verifies
//! is applied to a fresh `RevocationState`, which is then queried. The body
//! is also read alone as a `RevocationNotice` through `Notice::from_wire`.
#![no_main]

use coalition_core::revocation::{
    verify_heartbeat, verify_notice, Applied, Notice, ProductKey, RevocationState,
};
use coalition_fuzz::{world, NOW_MS};
use coalition_schemas::v1;
use libfuzzer_sys::fuzz_target;
use prost::Message;

fuzz_target!(|data: &[u8]| {
    let w = world();
    if let Ok(wire) = v1::RevocationNotice::decode(data) {
        if let Ok(notice) = Notice::from_wire(wire) {
            let back = Notice::from_wire(notice.to_wire()).expect("a checked notice re-checks");
            assert_eq!(back, notice);
            let _ = notice.summary();
            let state = RevocationState::new();
            assert_eq!(state.apply(&notice), Applied::New);
            assert_eq!(state.apply(&notice), Applied::Replay);
            let _ = state.epoch(&notice.issuer);
        }
    }
    let Ok(object) = v1::SignedObject::decode(data) else {
        return;
    };
    let state = RevocationState::new();
    if let Ok(notice) = verify_notice(&object, &w.anchors, &state) {
        assert_eq!(state.apply(&notice), Applied::New);
        let _ = state.is_translator_revoked(&w.usa_to_gbr, NOW_MS);
        let _ = state.is_key_revoked(&notice.issuer, &[0; 32], NOW_MS);
        let _ = state.is_product_retracted(
            &ProductKey {
                origin: notice.issuer.clone(),
                producer_id: "radar-1".into(),
                feed: "tracks".into(),
                product_id: "T-17".into(),
            },
            NOW_MS,
        );
        let _ = state.is_suspended("USA", "GBR", NOW_MS);
    }
    if let Ok((issuer, heartbeat)) = verify_heartbeat(&object, &w.anchors, NOW_MS) {
        state.heartbeat(&issuer, heartbeat);
        let _ = state.freshness(&issuer, NOW_MS, 60_000);
    }
});
