//! Checks that every committed seed in `fuzz/seeds/` verifies against the
//! fixed world (but the two meant as refusals), so the fuzzers start past
//! the signature checks.
//! Run from `fuzz/`: `cargo run --release --example check_seeds`.
use std::path::Path;

use coalition_core::certificate::CertificateCache;
use coalition_core::envelope::open;
use coalition_core::revocation::{verify_heartbeat, verify_notice};
use coalition_core::schema::verify_schema_policy;
use coalition_core::translator::verify_translator;
use coalition_fuzz::{world, NOW_MS};
use coalition_schemas::v1;
use prost::Message;

fn main() {
    let w = world();
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("seeds");
    let mut failures = 0;
    for target in ["envelope", "translator", "revocation", "schema_policy"] {
        for entry in std::fs::read_dir(root.join(target)).expect("seeds") {
            let path = entry.expect("entry").path();
            let bytes = std::fs::read(&path).expect("read");
            let name = path.file_name().unwrap().to_string_lossy().to_string();
            let object = || v1::SignedObject::decode(bytes.as_slice()).map_err(|e| e.to_string());
            let result: Result<(), String> = match target {
                "envelope" => open(&bytes, &CertificateCache::new(w.anchors.clone()), NOW_MS)
                    .map(|_| ())
                    .map_err(|r| format!("{r:?}")),
                "translator" => object().and_then(|o| {
                    verify_translator(&o, &w.anchors)
                        .map(|_| ())
                        .map_err(|e| e.to_string())
                }),
                "revocation" => object().and_then(|o| {
                    verify_notice(&o, &w.anchors)
                        .map(|_| ())
                        .or_else(|_| verify_heartbeat(&o, &w.anchors, NOW_MS).map(|_| ()))
                        .map_err(|e| e.to_string())
                }),
                _ => object().and_then(|o| {
                    verify_schema_policy(&o, &w.anchors)
                        .map(|_| ())
                        .map_err(|e| e.to_string())
                }),
            };
            // Two seeds are refusals on purpose: a feed the certificate does
            // not allow, and a translator only one of its nations signed.
            let expect_ok = !matches!(name.as_str(), "track-unknown-feed" | "signed-by-usa-only");
            match (result, expect_ok) {
                (Ok(()), true) => println!("{target}/{name}: verifies"),
                (Err(e), false) => println!("{target}/{name}: refused as meant: {e}"),
                (Ok(()), false) => {
                    println!("{target}/{name}: verifies, but is meant to be refused");
                    failures += 1;
                }
                (Err(e), true) => {
                    println!("{target}/{name}: refused: {e}");
                    failures += 1;
                }
            }
        }
    }
    std::process::exit(if failures == 0 { 0 } else { 1 });
}
