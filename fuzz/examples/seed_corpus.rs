//! Writes the seed corpus to `fuzz/seeds/<target>/`: objects signed by the
//! fixed world's keys (see `src/lib.rs`) and the repository's topologies.
//! Run from `fuzz/`: `cargo run --release --example seed_corpus`.
//!
//! The `batch` seeds name the committed producer certificates of
//! `fixtures/certificates/` by digest. `-- --certificates` issues those
//! certificates afresh instead (new hedged signatures, so new bytes and new
//! digests) and writes nothing else: run it only if they no longer verify
//! (a change to the certificate format or to the fixture keys), then run
//! this again without it, so the seeds name the new certificates.
use std::path::Path;

fn main() -> std::io::Result<()> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    if std::env::args().any(|a| a == "--certificates") {
        let dir = root.join("fixtures").join("certificates");
        std::fs::create_dir_all(&dir)?;
        for c in &coalition_fuzz::CERTIFICATES {
            std::fs::write(dir.join(c.file), c.issue())?;
        }
        println!(
            "certificates written under {}; now regenerate the seeds: \
             cargo run --release --example seed_corpus",
            dir.display()
        );
        return Ok(());
    }
    for (target, name, bytes) in coalition_fuzz::seed_corpus() {
        let dir = root.join("seeds").join(target);
        std::fs::create_dir_all(&dir)?;
        std::fs::write(dir.join(name), bytes)?;
    }
    let dir = root.join("seeds").join("topology");
    std::fs::create_dir_all(&dir)?;
    for entry in std::fs::read_dir(root.join("../topologies"))? {
        let path = entry?.path();
        if path.extension().is_some_and(|e| e == "toml") {
            std::fs::copy(&path, dir.join(path.file_name().expect("file name")))?;
        }
    }
    println!("seeds written under {}", root.join("seeds").display());
    Ok(())
}
