//! The Wycheproof-style vector file: loading it, checking each vector's
//! result, and regenerating it (`--ignored regenerate_vectors`).
use super::*;

/// One vector, as in the file.
#[derive(Debug, Clone)]
struct Vector {
    tc_id: u64,
    comment: String,
    parameter_set: String,
    public_key: Vec<u8>,
    message: Vec<u8>,
    context: String,
    signature: Vec<u8>,
    valid: bool,
    flags: Vec<String>,
}

/// What the verifier says of a vector: `true` if it accepts. A public key
/// that does not decode is a rejection.
fn accepts(v: &Vector) -> bool {
    let algorithm = match v.parameter_set.as_str() {
        "ML-DSA-65" => v1::SignatureAlgorithm::MlDsa65 as i32,
        "ML-DSA-87" => v1::SignatureAlgorithm::MlDsa87 as i32,
        other => panic!("tcId {}: unknown parameter set {other}", v.tc_id),
    };
    match public_key(algorithm, &v.public_key) {
        Ok(pk) => pk.verify(&v.message, v.context.as_bytes(), &v.signature),
        Err(_) => false,
    }
}

fn load_vectors() -> Vec<Vector> {
    let text = std::fs::read_to_string(VECTORS).expect("read the vector file");
    let root = serde_json::from_str::<json::Value>(&text).expect("the vector file is JSON");
    let header = root
        .get("header")
        .and_then(json::Value::as_array)
        .expect("header");
    let header: Vec<&str> = header.iter().filter_map(json::Value::as_str).collect();
    assert!(
        header.join(" ").contains("not the upstream Wycheproof"),
        "the file must say it is project-generated"
    );
    let tests = root
        .get("tests")
        .and_then(json::Value::as_array)
        .expect("tests");
    let declared = root
        .get("numberOfTests")
        .and_then(json::Value::as_u64)
        .expect("numberOfTests");
    assert_eq!(declared as usize, tests.len());
    let hex_field = |t: &json::Value, f: &str| {
        hex::decode(
            t.get(f)
                .and_then(json::Value::as_str)
                .unwrap_or_else(|| panic!("{f}")),
        )
        .unwrap_or_else(|e| panic!("{f}: {e}"))
    };
    let str_field = |t: &json::Value, f: &str| {
        t.get(f)
            .and_then(json::Value::as_str)
            .unwrap_or_else(|| panic!("{f}"))
            .to_string()
    };
    tests
        .iter()
        .map(|t| Vector {
            tc_id: t.get("tcId").and_then(json::Value::as_u64).expect("tcId"),
            comment: str_field(t, "comment"),
            parameter_set: str_field(t, "parameterSet"),
            public_key: hex_field(t, "publicKey"),
            message: hex_field(t, "message"),
            context: str_field(t, "context"),
            signature: hex_field(t, "signature"),
            valid: match str_field(t, "result").as_str() {
                "valid" => true,
                "invalid" => false,
                other => panic!("result {other}"),
            },
            flags: t
                .get("flags")
                .and_then(json::Value::as_array)
                .expect("flags")
                .iter()
                .map(|f| f.as_str().expect("flag").to_string())
                .collect(),
        })
        .collect()
}

/// Every flag the file must cover, for each parameter set.
const FLAGS: [&str; 12] = [
    "Valid",
    "BitFlip",
    "ModifiedMessage",
    "WrongContext",
    "TruncatedSignature",
    "ExtendedSignature",
    "EmptySignature",
    "ZeroSignature",
    "MalformedSignature",
    "WrongKey",
    "WrongParameterSet",
    "InvalidPublicKey",
];

#[test]
fn wycheproof_style_vectors_give_their_expected_result() {
    let vectors = load_vectors();
    let mut ids = std::collections::BTreeSet::new();
    let mut wrong = Vec::new();
    for v in &vectors {
        assert!(ids.insert(v.tc_id), "tcId {} twice", v.tc_id);
        assert!(!v.flags.is_empty(), "tcId {} has no flag", v.tc_id);
        if accepts(v) != v.valid {
            wrong.push(format!(
                "tcId {} ({}): {}",
                v.tc_id, v.parameter_set, v.comment
            ));
        }
    }
    assert!(
        wrong.is_empty(),
        "vectors with the wrong result:\n{}",
        wrong.join("\n")
    );
    for set in ["ML-DSA-65", "ML-DSA-87"] {
        for flag in FLAGS {
            assert!(
                vectors
                    .iter()
                    .any(|v| v.parameter_set == set && v.flags.iter().any(|f| f == flag)),
                "{set}: no vector flagged {flag}"
            );
        }
        assert!(vectors.iter().any(|v| v.parameter_set == set && v.valid));
    }
}

/// Writes `tests/vectors/mldsa_vectors.json`. Run once by hand (signatures
/// are hedged, so every run writes different, equally valid bytes):
/// `cargo test -p coalition-core --test mldsa_vectors -- --ignored regenerate_vectors`
#[test]
#[ignore = "regenerates the committed vector file"]
fn regenerate_vectors() {
    let mut tests = Vec::new();
    let mut id = 0u64;
    let mut push = |v: Vector| {
        id += 1;
        tests.push(Vector { tc_id: id, ..v });
    };
    for algorithm in ALGORITHMS {
        let set = name(algorithm).to_string();
        let kp = key(algorithm, 1);
        let pk = kp.public_key().to_wire().key.to_vec();
        let ctx = std::str::from_utf8(CONTEXT).unwrap().to_string();
        let sig = kp.sign(MESSAGE, CONTEXT).unwrap().to_vec();
        let (_, sig_len) = sizes(algorithm);
        let (c_len, hint_len) = layout(algorithm);
        let v = |comment: &str, flags: &[&str], valid: bool| Vector {
            tc_id: 0,
            comment: comment.to_string(),
            parameter_set: set.clone(),
            public_key: pk.clone(),
            message: MESSAGE.to_vec(),
            context: ctx.clone(),
            signature: sig.clone(),
            valid,
            flags: flags.iter().map(|f| f.to_string()).collect(),
        };
        push(v("valid signature", &["Valid"], true));
        let empty = kp.sign(b"", b"").unwrap().to_vec();
        push(Vector {
            message: Vec::new(),
            context: String::new(),
            signature: empty,
            ..v(
                "valid signature of an empty message, empty context",
                &["Valid"],
                true,
            )
        });
        let long_ctx = "c".repeat(255);
        let long_msg: Vec<u8> = (0..2048u32).map(|i| (i * 31 % 251) as u8).collect();
        push(Vector {
            message: long_msg.clone(),
            context: long_ctx.clone(),
            signature: kp.sign(&long_msg, long_ctx.as_bytes()).unwrap().to_vec(),
            ..v(
                "valid signature, 2048-byte message, 255-byte context",
                &["Valid"],
                true,
            )
        });
        for (bit, what) in [
            (0, "first bit of c~"),
            (c_len * 8 - 1, "last bit of c~"),
            (c_len * 8, "first bit of z"),
            ((sig_len - hint_len) * 8 / 2, "a bit in the middle of z"),
            ((sig_len - hint_len) * 8 - 1, "last bit of z"),
            ((sig_len - hint_len) * 8, "first bit of the hint"),
            (sig_len * 8 - 1, "last bit of the signature"),
        ] {
            let mut s = sig.clone();
            s[bit / 8] ^= 1 << (bit % 8);
            push(Vector {
                signature: s,
                ..v(&format!("flipped {what} (bit {bit})"), &["BitFlip"], false)
            });
        }
        let mut m = MESSAGE.to_vec();
        m[0] ^= 1;
        push(Vector {
            message: m,
            ..v("message: first bit flipped", &["ModifiedMessage"], false)
        });
        let mut m = MESSAGE.to_vec();
        m.push(0);
        push(Vector {
            message: m,
            ..v("message: a zero byte appended", &["ModifiedMessage"], false)
        });
        push(Vector {
            message: Vec::new(),
            ..v("message: empty", &["ModifiedMessage"], false)
        });
        for (c, what) in [
            ("", "empty context"),
            ("coalition-mesh/v1/alert", "another kind's context"),
            (
                "coalition-mesh/v1/Track",
                "context differing in one letter's case",
            ),
            ("coalition-mesh/v1/track/", "context with a byte appended"),
        ] {
            push(Vector {
                context: c.into(),
                ..v(&format!("wrong context: {what}"), &["WrongContext"], false)
            });
        }
        push(Vector {
            signature: sig[..sig_len - 1].to_vec(),
            ..v(
                "signature truncated by 1 byte",
                &["TruncatedSignature"],
                false,
            )
        });
        push(Vector {
            signature: [sig.as_slice(), &[0]].concat(),
            ..v(
                "signature extended by 1 zero byte",
                &["ExtendedSignature"],
                false,
            )
        });
        push(Vector {
            signature: Vec::new(),
            ..v("empty signature", &["EmptySignature"], false)
        });
        push(Vector {
            signature: vec![0; sig_len],
            ..v(
                "all-zero signature of the right length",
                &["ZeroSignature"],
                false,
            )
        });
        let mut s = sig.clone();
        s[sig_len - 1] = 0xff;
        push(Vector {
            signature: s,
            ..v(
                "hint: the last position count exceeds omega",
                &["MalformedSignature"],
                false,
            )
        });
        let mut s = sig.clone();
        for b in &mut s[c_len..c_len + 5] {
            *b = 0xff;
        }
        push(Vector {
            signature: s,
            ..v(
                "z: a coefficient at the edge of its range (|z| >= gamma1 - beta)",
                &["MalformedSignature"],
                false,
            )
        });
        push(Vector {
            public_key: key(algorithm, 2).public_key().to_wire().key.to_vec(),
            ..v(
                "signature by another key of the same parameter set",
                &["WrongKey"],
                false,
            )
        });
        let mut flipped_pk = pk.clone();
        flipped_pk[pk.len() / 2] ^= 1;
        push(Vector {
            public_key: flipped_pk,
            ..v("public key with one bit flipped", &["WrongKey"], false)
        });
        let cousin = key(other(algorithm), 1);
        push(Vector {
            signature: cousin.sign(MESSAGE, CONTEXT).unwrap().to_vec(),
            ..v(
                "signature made with the other parameter set",
                &["WrongParameterSet"],
                false,
            )
        });
        push(Vector {
            public_key: cousin.public_key().to_wire().key.to_vec(),
            ..v(
                "public key of the other parameter set",
                &["WrongParameterSet", "InvalidPublicKey"],
                false,
            )
        });
        push(Vector {
            public_key: pk[..pk.len() - 1].to_vec(),
            ..v(
                "public key truncated by 1 byte",
                &["InvalidPublicKey"],
                false,
            )
        });
        push(Vector {
            public_key: [pk.as_slice(), &[0]].concat(),
            ..v(
                "public key extended by 1 byte",
                &["InvalidPublicKey"],
                false,
            )
        });
    }
    // Every generated vector must already give its result.
    for t in &tests {
        assert_eq!(accepts(t), t.valid, "tcId {}: {}", t.tc_id, t.comment);
    }
    std::fs::create_dir_all(std::path::Path::new(VECTORS).parent().unwrap()).unwrap();
    std::fs::write(VECTORS, render(&tests)).unwrap();
}

fn render(tests: &[Vector]) -> String {
    let s = |text: &str| json::Value::from(text).to_string();
    let mut out = String::new();
    out.push_str("{\n  \"algorithm\": \"ML-DSA\",\n  \"schema\": \"mldsa_verify_schema.json\",\n");
    out.push_str("  \"generatorVersion\": \"coalition-core tests/mldsa_vectors.rs\",\n");
    out.push_str(&format!("  \"numberOfTests\": {},\n", tests.len()));
    out.push_str("  \"header\": [\n");
    let header = [
        "Project-generated ML-DSA-65 and ML-DSA-87 verification vectors in the Wycheproof JSON format:",
        "these are not the upstream Wycheproof suite, which could not be fetched where they were made.",
        "Keys come from fixed seeds; signatures are hedged (randomized) and were generated once by",
        "`cargo test -p coalition-core --test mldsa_vectors -- --ignored regenerate_vectors`.",
        "context is the ASCII domain-separation context string; the other byte fields are hex.",
    ];
    for (i, line) in header.iter().enumerate() {
        let comma = if i + 1 < header.len() { "," } else { "" };
        out.push_str(&format!("    {}{comma}\n", s(line)));
    }
    out.push_str("  ],\n  \"notes\": {\n");
    let notes = [
        (
            "Valid",
            "A signature of the message under the context by the key.",
        ),
        ("BitFlip", "One bit of a valid signature flipped."),
        (
            "ModifiedMessage",
            "The message differs from the one signed.",
        ),
        (
            "WrongContext",
            "The context differs from the one signed under.",
        ),
        (
            "TruncatedSignature",
            "A valid signature without its last byte.",
        ),
        (
            "ExtendedSignature",
            "A valid signature with a byte appended.",
        ),
        ("EmptySignature", "A zero-length signature."),
        ("ZeroSignature", "All-zero bytes of the right length."),
        (
            "MalformedSignature",
            "The right length, but the hint or z does not decode or is out of range.",
        ),
        (
            "WrongKey",
            "Verified with another key of the same parameter set.",
        ),
        (
            "WrongParameterSet",
            "Signature or key of the other parameter set.",
        ),
        (
            "InvalidPublicKey",
            "The public key does not decode for the parameter set: rejected as an error.",
        ),
    ];
    for (i, (flag, note)) in notes.iter().enumerate() {
        let comma = if i + 1 < notes.len() { "," } else { "" };
        out.push_str(&format!("    {}: {}{comma}\n", s(flag), s(note)));
    }
    out.push_str("  },\n  \"tests\": [\n");
    for (i, t) in tests.iter().enumerate() {
        let flags: Vec<String> = t.flags.iter().map(|f| s(f)).collect();
        out.push_str(&format!(
            "    {{\"tcId\": {}, \"comment\": {}, \"parameterSet\": {}, \"publicKey\": {}, \"message\": {}, \"context\": {}, \"signature\": {}, \"result\": {}, \"flags\": [{}]}}{}\n",
            t.tc_id,
            s(&t.comment),
            s(&t.parameter_set),
            s(&hex::encode(&t.public_key)),
            s(&hex::encode(&t.message)),
            s(&t.context),
            s(&hex::encode(&t.signature)),
            s(if t.valid { "valid" } else { "invalid" }),
            flags.join(", "),
            if i + 1 < tests.len() { "," } else { "" },
        ));
    }
    out.push_str("  ]\n}\n");
    out
}
