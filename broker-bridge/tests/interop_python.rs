//! Interop (issue 17): a client written without the Rust SDK verifies what a
//! subscriber receives. USA's radar-1 publishes one track through a real
//! mesh; the raw message in GBR's INBOUND, USA's root public key and the
//! producer's certificate as GBR's CONTROL holds it go to
//! `interop/python/verify_batch.py`, a Python verifier written from
//! docs/wire-contract.md alone (hand-decoded protobuf, a pure-Python
//! ML-DSA-65 from PyPI, pinned in `interop/python/requirements.txt`). It must
//! accept the message, and refuse it with a reason when one byte of the
//! record's payload, or of the producer's signature, is flipped.
//!
//! The Python comes from `COALITION_INTEROP_PYTHON` (scripts/test sets it);
//! without it the test runs `scripts/interop-python.sh` itself.
mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use coalition_schemas::v1::{control_message::Body, Batch, ControlMessage, InboundBatch};
use common::*;
use prost::Message;
use sha2::{Digest, Sha256};

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the crate is in the workspace")
        .to_path_buf()
}

/// The interop venv's Python.
fn interop_python() -> PathBuf {
    nats_harness::interop_python().expect("the interop Python environment")
}

/// Runs the verifier on the three files: (exit code, stdout, stderr).
fn verify(python: &Path, root_pub: &Path, cert: &Path, message: &Path) -> (i32, String, String) {
    let script = workspace_root().join("interop/python/verify_batch.py");
    let out = Command::new(python)
        .arg("-B")
        .arg(script)
        .args(["--subject", "in.track.USA.radar-1.tracks.v1"])
        .arg(root_pub)
        .arg(cert)
        .arg(message)
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .output()
        .expect("runs the Python verifier");
    (
        out.status.code().expect("the verifier exits"),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Where `needle` starts in `haystack`; it must occur exactly once.
fn unique_offset(haystack: &[u8], needle: &[u8], what: &str) -> usize {
    let hits: Vec<usize> = haystack
        .windows(needle.len())
        .enumerate()
        .filter(|(_, w)| *w == needle)
        .map(|(i, _)| i)
        .collect();
    assert_eq!(hits.len(), 1, "{what} occurs once in the message");
    hits[0]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_python_verifier_without_the_sdk_verifies_a_delivered_inbound_batch() {
    // First, so a fresh venv's setup is not counted against the mesh's waits.
    let python = interop_python();
    // The verifier's own encoder and ML-DSA reproduce the documented worked
    // example (deterministic signatures included) and accept it.
    let out = Command::new(&python)
        .arg("-B")
        .arg(workspace_root().join("interop/python/verify_batch.py"))
        .arg("--worked-example")
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .output()
        .expect("runs the Python verifier");
    assert!(
        out.status.success(),
        "the worked example of docs/wire-contract.md:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );

    let mut s = scene(USA_TO_GBR).await;
    let seq = publish(&s.usa, &label("USA", "SECRET", &["GBR"]), "INTEROP-1").await;
    let d = next_delivery(&mut s.gbr_tracks).await;
    assert_eq!((track_id(&d), d.seq), ("INTEROP-1", seq));

    // The raw message GBR's subscriber received, as INBOUND stores it.
    let home = s.mesh.bridge_config("GBR").expect("config").home.clone();
    let js = jetstream_as(&s.mesh, "GBR", home).await;
    let inbound = within("INBOUND", js.get_stream("INBOUND"))
        .await
        .expect("INBOUND");
    let raw = within(
        "the INBOUND message",
        inbound.get_last_raw_message_by_subject("in.track.USA.radar-1.tracks.v1"),
    )
    .await
    .expect("stored")
    .payload;

    // The producer's certificate as GBR's CONTROL holds it, named by the
    // digest of the certificate file the producer was given.
    let (_, cert_path) = s.mesh.producer_key_paths("USA", "radar-1");
    let cert_file = std::fs::read(&cert_path).expect("certificate file");
    let digest = hex::encode(Sha256::digest(&cert_file));
    let control = within("CONTROL", js.get_stream("CONTROL"))
        .await
        .expect("CONTROL");
    let stored = within(
        "the certificate on GBR's CONTROL",
        control.get_last_raw_message_by_subject(&format!("ctl.certificate.USA.radar-1.{digest}")),
    )
    .await
    .expect("GBR's bridge stored the certificate");
    let certificate = match ControlMessage::decode(stored.payload)
        .expect("control message")
        .body
    {
        Some(Body::Certificate(c)) => c,
        other => panic!("expected a certificate, got {other:?}"),
    };
    assert_eq!(&certificate[..], &cert_file[..]);
    s.bridges.shutdown().await;

    let dir = tempfile::tempdir().expect("temp dir");
    let root_pub = dir.path().join("USA-root.pub");
    std::fs::copy(s.mesh.root_public_key_path("USA"), &root_pub).expect("root key copied");
    let cert = dir.path().join("radar-1.cert");
    std::fs::write(&cert, certificate).expect("certificate written");
    let message = dir.path().join("inbound.bin");
    std::fs::write(&message, &raw).expect("message written");

    let (code, out, err) = verify(&python, &root_pub, &cert, &message);
    assert_eq!(code, 0, "the verifier accepts it:\n{out}\n{err}");
    eprint!("{out}");
    assert!(
        out.lines()
            .any(|l| l.contains(&format!("seq={seq} ")) && l.contains("verified")),
        "names the verified record's seq {seq}:\n{out}"
    );

    // One byte of the record's payload flipped, then one of the signature.
    let batch = Batch::decode(
        InboundBatch::decode(raw.clone())
            .expect("InboundBatch")
            .batch,
    )
    .expect("Batch");
    let payload_at = unique_offset(&raw, &batch.records[0].payload, "the payload");
    let signature_at = unique_offset(&raw, &batch.signature, "the signature");
    for (what, at, reason) in [
        (
            "payload",
            payload_at + batch.records[0].payload.len() / 2,
            "payload_digest_mismatch",
        ),
        (
            "signature",
            signature_at + batch.signature.len() / 2,
            "bad_signature",
        ),
    ] {
        let mut tampered = raw.to_vec();
        tampered[at] ^= 0x01;
        std::fs::write(&message, tampered).expect("message written");
        let (code, out, err) = verify(&python, &root_pub, &cert, &message);
        assert_eq!(code, 1, "a flipped {what} byte is refused:\n{out}\n{err}");
        assert!(
            err.contains(reason),
            "a flipped {what} byte is refused as {reason}:\n{out}\n{err}"
        );
    }
}
