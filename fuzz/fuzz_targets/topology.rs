//! Topology files: any bytes, as UTF-8 (lossy), through `parse_topology`;
//! a topology that parses is addressed with `Addressing::sequential` (from
//! a low and a high base port, to reach the port saturation) and every
//! config is generated, with deterministic credentials.
#![no_main]

use std::path::Path;

use coalition_topology::{generate, parse_topology, Addressing, Credentials};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let Ok(topology) = parse_topology(&text, Path::new("fuzz.toml")) else {
        return;
    };
    for base_port in [4222, u16::MAX - 8] {
        let addressing = Addressing::sequential(
            &topology,
            "127.0.0.1",
            base_port,
            Path::new("/tmp/fuzz-store"),
            Path::new("/tmp/fuzz-tls"),
        );
        let _ = generate(&topology, &addressing, &mut Credentials::default());
    }
});
