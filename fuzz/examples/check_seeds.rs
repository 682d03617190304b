//! Checks that every committed seed in `fuzz/seeds/` verifies against the
//! fixed world (but the three meant as refusals, which must be refused for
//! their reason), so the fuzzers start past the signature checks; and runs
//! every `batch` seed through the `batch` target's body (its assertions
//! included), so a broken harness shows without cargo-fuzz; and replays
//! every committed crash reproducer in `fuzz/artifacts/batch/` through the
//! same body, so a fixed finding stays fixed on the stable toolchain.
//! Run from `fuzz/`: `cargo run --release --example check_seeds`.
use std::path::Path;

use coalition_core::batch::open_batch;
use coalition_core::revocation::{verify_heartbeat, verify_notice, RevocationState};
use coalition_core::schema::verify_schema_policy;
use coalition_core::translator::verify_translator;
use coalition_fuzz::{world, NOW_MS};
use coalition_schemas::v1;
use prost::Message;

fn main() {
    let w = world();
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("seeds");
    let mut failures = 0;
    let mut batch_seeds = 0;
    for target in ["batch", "translator", "revocation", "schema_policy"] {
        let mut entries: Vec<_> = std::fs::read_dir(root.join(target))
            .expect("seeds")
            .map(|e| e.expect("entry").path())
            .collect();
        entries.sort();
        for path in entries {
            let bytes = std::fs::read(&path).expect("read");
            let name = path.file_name().unwrap().to_string_lossy().to_string();
            let object = || v1::SignedObject::decode(bytes.as_slice()).map_err(|e| e.to_string());
            let result: Result<(), String> = match target {
                "batch" => {
                    coalition_fuzz::batch::run(&bytes);
                    batch_seeds += 1;
                    open_batch(&bytes, &w.certificates, NOW_MS)
                        .map(|_| ())
                        .map_err(|r| r.as_str().to_string())
                }
                "translator" => object().and_then(|o| {
                    verify_translator(&o, &w.anchors)
                        .map(|_| ())
                        .map_err(|e| e.to_string())
                }),
                "revocation" => object().and_then(|o| {
                    verify_notice(&o, &w.anchors, &RevocationState::new())
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
            // Three seeds are refusals on purpose: a batch on a feed its
            // certificate does not allow, a batch under an expired
            // certificate, and a translator only one of its nations signed.
            let refusal = match (target, name.as_str()) {
                ("batch", "unknown-feed") => Some("feed_not_permitted"),
                ("batch", "expired-certificate") => Some("certificate_expired"),
                ("translator", "signed-by-usa-only") => Some(""),
                _ => None,
            };
            match (result, refusal) {
                (Ok(()), None) => println!("{target}/{name}: verifies"),
                (Err(e), Some(meant)) if e.contains(meant) => {
                    println!("{target}/{name}: refused as meant: {e}")
                }
                (Ok(()), Some(meant)) => {
                    println!("{target}/{name}: verifies, but is meant to be refused ({meant})");
                    failures += 1;
                }
                (Err(e), _) => {
                    println!("{target}/{name}: refused: {e}");
                    failures += 1;
                }
            }
        }
    }
    let artifacts = Path::new(env!("CARGO_MANIFEST_DIR")).join("artifacts/batch");
    if let Ok(dir) = std::fs::read_dir(&artifacts) {
        let mut reproducers: Vec<_> = dir.filter_map(|e| e.ok().map(|e| e.path())).collect();
        reproducers.sort();
        for path in reproducers {
            let bytes = std::fs::read(&path).expect("read");
            // The body panics if the finding is back.
            coalition_fuzz::batch::run(&bytes);
            println!(
                "artifacts/batch/{}: replays clean",
                path.file_name().unwrap_or_default().to_string_lossy()
            );
        }
    }
    if batch_seeds == 0 {
        println!("no batch seeds");
        failures += 1;
    }
    std::process::exit(if failures == 0 { 0 } else { 1 });
}
