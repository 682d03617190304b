//! Compiles `proto/` with protox (pure Rust), so no `protoc` binary is needed.
use std::path::PathBuf;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let files = [
        "proto/coalition/v1/label.proto",
        "proto/coalition/v1/keys.proto",
        "proto/coalition/v1/envelope.proto",
        "proto/coalition/v1/track.proto",
        "proto/coalition/v1/alert.proto",
        "proto/coalition/v1/policy.proto",
        "proto/coalition/v1/schema_policy.proto",
        "proto/coalition/v1/audit.proto",
    ];
    for f in &files {
        println!("cargo:rerun-if-changed={f}");
    }
    let descriptors = protox::compile(files, ["proto"])?;
    let out = PathBuf::from(std::env::var("OUT_DIR")?);
    prost_build::Config::new()
        .bytes(["."])
        .out_dir(&out)
        .compile_fds(descriptors)?;
    Ok(())
}
