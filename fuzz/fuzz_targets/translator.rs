//! Translators: any bytes as a `SignedObject` through `verify_translator`
//! (body decode, shape check, both roots' signatures) against the fixed
//! trust anchors; a translator that verifies is inserted into a
//! `TranslatorSet`, selected and applied. The body is also checked alone
//! with `Translator::from_wire`, whose refusals come before any signature.
#![no_main]

use coalition_core::revocation::RevocationState;
use coalition_core::translator::{verify_translator, Translator, TranslatorSet};
use coalition_fuzz::{sample_label, world, NOW_MS};
use coalition_schemas::v1;
use libfuzzer_sys::fuzz_target;
use prost::Message;

fuzz_target!(|data: &[u8]| {
    let w = world();
    if let Ok(wire) = v1::Translator::decode(data) {
        if let Ok(t) = Translator::from_wire(wire) {
            let back = Translator::from_wire(t.to_wire()).expect("a checked translator re-checks");
            assert_eq!(back, t);
            let _ = t.translate(&sample_label(), &w.gbr);
            let _ = t.is_valid_at(NOW_MS);
        }
    }
    let Ok(object) = v1::SignedObject::decode(data) else {
        return;
    };
    if let Ok(t) = verify_translator(&object, &w.anchors) {
        let set = TranslatorSet::new();
        let (from, to) = (t.from.clone(), t.to.clone());
        let _ = set.insert(t.clone());
        assert!(
            matches!(set.insert(t), Ok(false)),
            "re-inserting the same translator must change nothing"
        );
        let revocations = RevocationState::new();
        if let Ok(sel) = set.select(&from, &to, 1, 1, &revocations, NOW_MS) {
            let _ = sel.translate(&sample_label(), &w.gbr);
        }
    }
});
