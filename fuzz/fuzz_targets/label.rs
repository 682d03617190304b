//! Labels: any bytes as a wire `ConfidentialityLabel`, converted to the
//! domain `Label` and run through everything that reads a label: display,
//! the wire round trip, the label check of the release decision, the
//! translator, and the composite-label algebra (with its invariant that a
//! composite is at least as restrictive as each source). The same bytes are
//! also read as a `NationPolicyDocument` (the vocabulary labels are checked
//! against) through `NationPolicy::from_document`.
#![no_main]

use coalition_core::composite::{composite_label, is_at_least_as_restrictive};
use coalition_core::decision::check_label;
use coalition_core::label::{Label, NationPolicy};
use coalition_fuzz::{sample_label, world};
use coalition_schemas::v1;
use libfuzzer_sys::fuzz_target;
use prost::Message;

fuzz_target!(|data: &[u8]| {
    let w = world();
    if let Ok(wire) = v1::ConfidentialityLabel::decode(data) {
        let label = Label::from(wire);
        let _ = label.display();
        let back = v1::ConfidentialityLabel::from(&label);
        assert_eq!(
            Label::from(back),
            label,
            "wire round trip changed the label"
        );
        for policy in [&w.usa, &w.gbr] {
            let _ = policy.rank(&label.classification);
            for c in &label.caveats {
                let _ = policy.caveat_forbids_release(c);
            }
            for (to, ceiling) in [("GBR", "SECRET"), ("USA", "TOP SECRET"), ("", "")] {
                let _ = check_label(&label, policy, to, ceiling);
            }
        }
        let _ = w.usa_to_gbr.translate(&label, &w.gbr);
        let other = sample_label().in_version(label.policy_version);
        for sources in [vec![&label], vec![&label, &other]] {
            if let Ok(composite) = composite_label(&w.usa, &sources) {
                for s in &sources {
                    assert!(
                        is_at_least_as_restrictive(&w.usa, &composite, s),
                        "composite {composite:?} is less restrictive than source {s:?}"
                    );
                }
            }
        }
    }
    if let Ok(doc) = v1::NationPolicyDocument::decode(data) {
        if let Ok(policy) = NationPolicy::from_document(doc) {
            let back = NationPolicy::from_document(policy.to_document(0))
                .expect("a checked policy document re-checks");
            assert_eq!(back, policy);
            let _ = check_label(&sample_label(), &policy, "GBR", "SECRET");
        }
    }
});
