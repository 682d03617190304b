//! Schema policies: any bytes as a `SignedObject` through
//! `verify_schema_policy` (body decode, root signature, rule checks) against
//! the fixed trust anchors; a policy that verifies goes into a `SchemaBook`
//! and its rules through `phase`, `check_version` and `versions_to_serve`.
//! The body is also read alone as a `SchemaPolicyDocument` through
//! `SchemaPolicy::try_from`, whose windows are then evaluated at extreme
//! instants.
#![no_main]

use coalition_core::envelope::MessageType;
use coalition_core::schema::{
    check_version, phase, verify_schema_policy, versions_to_serve, SchemaBook, SchemaPolicy,
};
use coalition_fuzz::{world, NOW_MS};
use coalition_schemas::v1;
use libfuzzer_sys::fuzz_target;
use prost::Message;

fn exercise(policy: &SchemaPolicy) {
    for rule in &policy.rules {
        for now in [i64::MIN, NOW_MS, i64::MAX] {
            let p = phase(rule, now);
            let serve = versions_to_serve(&p);
            assert!(!serve.is_empty(), "a phase serves at least one version");
            for v in serve {
                assert!(check_version(&p, v).is_ok(), "a served version is accepted");
            }
            for v in 0..4 {
                let _ = check_version(&p, v);
            }
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let w = world();
    if let Ok(doc) = v1::SchemaPolicyDocument::decode(data) {
        if let Ok(policy) = SchemaPolicy::try_from(doc) {
            let back = SchemaPolicy::try_from(policy.to_document()).expect("re-checks");
            assert_eq!(back, policy);
            exercise(&policy);
        }
    }
    let Ok(object) = v1::SignedObject::decode(data) else {
        return;
    };
    if let Ok(policy) = verify_schema_policy(&object, &w.anchors) {
        exercise(&policy);
        let book = SchemaBook::new();
        let nation = policy.nation.clone();
        assert!(matches!(book.insert(policy.clone()), Ok(true)));
        assert!(matches!(book.insert(policy), Ok(false)));
        let _ = book.rule(&nation, MessageType::Track);
        let _ = book.rule(&nation, MessageType::Alert);
    }
});
