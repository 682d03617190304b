#!/usr/bin/env python3
"""Verify a Coalition Mesh sealed batch without the Rust SDK (issue 17).

Written from docs/wire-contract.md ("The batch", "Certificates travel by
reference", "INBOUND: InboundBatch", "Keys and certificates", "Worked
example") and the field numbers in schemas/proto/coalition/v1/*.proto. The
protobuf is decoded by hand (varints and length-delimited fields); ML-DSA-65
is dilithium-py's pure-Python FIPS 204 implementation, pinned in
requirements.txt next to this file.

    verify_batch.py [--batch] [--subject SUBJECT] [--now-ms MS]
                    ROOT_PUB CERTIFICATE MESSAGE

ROOT_PUB     the producing nation's root public key: an encoded `PublicKey`
             (a `.pub` file), the trust anchor.
CERTIFICATE  the producer's encoded `SignedCertificate` (what
             `ControlMessage.certificate` carries on
             `ctl.certificate.<nation>.<producer>.<hex>`).
MESSAGE      one message's bytes as stored in a nation's INBOUND stream: an
             encoded `InboundBatch`; with --batch, an encoded `Batch` (as on
             `out.`, `rel.` subjects).
--subject    the subject the message was read from; checked against the
             signed header (`subject_mismatch`).
--now-ms     the time the certificate must be valid at (default: now).

Prints one line per verified record and exits 0; exits 1 with the deny
reason and why on stderr if anything fails; 2 on bad usage.
"""

import argparse
import hashlib
import sys
import time

CONTEXT_CERTIFICATE = b"coalition-mesh/v1/producer-certificate"
CONTEXT_BATCH = {1: b"coalition-mesh/v1/track-batch", 2: b"coalition-mesh/v1/alert-batch"}
KIND = {1: "track", 2: "alert"}
ML_DSA_65 = 1  # SignatureAlgorithm.SIGNATURE_ALGORITHM_ML_DSA_65
RAW_KEY_LEN = 1952
SIGNATURE_LEN = 3309
MAX_BATCH = 4096
RESERVED_PRODUCERS = {"bridge", "revocation-authority", "root"}


class Refused(Exception):
    """A verification failure: a deny reason (docs/wire-contract.md) and why."""

    def __init__(self, reason, why):
        super().__init__(f"{reason}: {why}")
        self.reason = reason
        self.why = why


# --- protobuf, by hand ---------------------------------------------------

VARINT, I64, LEN, I32 = 0, 1, 2, 5


def read_varint(buf, pos, what):
    value, shift = 0, 0
    while True:
        if pos >= len(buf):
            raise ValueError(f"{what}: truncated varint")
        b = buf[pos]
        pos += 1
        value |= (b & 0x7F) << shift
        if not b & 0x80:
            break
        shift += 7
        if shift >= 64:
            raise ValueError(f"{what}: varint longer than 10 bytes")
    if value >= 1 << 64:
        raise ValueError(f"{what}: varint above 64 bits")
    return value, pos


def fields(buf, what):
    """Yields (field number, wire type, value): an int for a varint, bytes
    for a length-delimited or fixed field."""
    pos = 0
    while pos < len(buf):
        key, pos = read_varint(buf, pos, what)
        number, wire = key >> 3, key & 7
        if number == 0:
            raise ValueError(f"{what}: field number 0")
        if wire == VARINT:
            value, pos = read_varint(buf, pos, what)
        elif wire == LEN:
            n, pos = read_varint(buf, pos, what)
            if pos + n > len(buf):
                raise ValueError(f"{what}: field {number} runs past the end")
            value, pos = bytes(buf[pos : pos + n]), pos + n
        elif wire in (I64, I32):
            n = 8 if wire == I64 else 4
            if pos + n > len(buf):
                raise ValueError(f"{what}: field {number} runs past the end")
            value, pos = bytes(buf[pos : pos + n]), pos + n
        else:
            raise ValueError(f"{what}: field {number} has wire type {wire} (groups are not used)")
        yield number, wire, value


def decode(buf, what, schema):
    """Decodes `buf` with `schema`: {number: (name, kind, repeated)}, kind one
    of 'uint', 'int64', 'bytes', 'string', or a nested schema dict. Unknown
    fields are skipped (proto3); a singular field seen twice is refused."""
    out = {}
    for name, kind, repeated in schema.values():
        out[name] = [] if repeated else default(kind)
    seen = set()
    for number, wire, value in fields(buf, what):
        if number not in schema:
            continue
        name, kind, repeated = schema[number]
        want = VARINT if kind in ("uint", "int64") else LEN
        if wire != want:
            raise ValueError(f"{what}: {name} has wire type {wire}, expected {want}")
        if kind == "int64":
            value = value - (1 << 64) if value >= 1 << 63 else value
        elif kind == "string":
            try:
                value = value.decode("utf-8")
            except UnicodeDecodeError:
                raise ValueError(f"{what}: {name} is not UTF-8") from None
        elif isinstance(kind, dict):
            value = decode(value, f"{what}.{name}", kind)
        if repeated:
            out[name].append(value)
        else:
            if name in seen:
                raise ValueError(f"{what}: {name} appears twice")
            seen.add(name)
            out[name] = value
    return out


def default(kind):
    if kind in ("uint", "int64"):
        return 0
    if kind == "bytes":
        return b""
    if kind == "string":
        return ""
    return None  # an absent nested message


# Field numbers from schemas/proto/coalition/v1/{keys,label,envelope}.proto.
PUBLIC_KEY = {1: ("algorithm", "uint", False), 2: ("key", "bytes", False), 3: ("owner", "string", False)}
SIGNED_CERTIFICATE = {1: ("certificate", "bytes", False), 2: ("signature", "bytes", False)}
PRODUCER_CERTIFICATE = {
    1: ("nation", "string", False),
    2: ("producer_id", "string", False),
    3: ("public_key", PUBLIC_KEY, False),
    4: ("not_before_ms", "int64", False),
    5: ("not_after_ms", "int64", False),
    6: ("feeds", "string", True),
    7: ("max_classification", "string", False),
    8: ("issuer_key_sha256", "bytes", False),
}
LABEL = {
    1: ("policy_id", "string", False),
    2: ("classification", "string", False),
    3: ("releasable_to", "string", True),
    4: ("caveats", "string", True),
    5: ("informative", "string", True),
    6: ("policy_version", "uint", False),
}
BATCH_HEADER = {
    1: ("message_type", "uint", False),
    2: ("origin", "string", False),
    3: ("producer_id", "string", False),
    4: ("feed", "string", False),
    5: ("first_seq", "uint", False),
    6: ("last_seq", "uint", False),
    7: ("merkle_root", "bytes", False),
    8: ("producer_cert_sha256", "bytes", False),
    9: ("sealed_at_ms", "int64", False),
}
SOURCE_REF = {
    1: ("origin", "string", False),
    2: ("producer_id", "string", False),
    3: ("feed", "string", False),
    4: ("seq", "uint", False),
    5: ("label", LABEL, False),
    6: ("translator", "string", False),
}
RECORD_HEADER = {
    1: ("schema_version", "uint", False),
    2: ("label", LABEL, False),
    3: ("seq", "uint", False),
    4: ("payload_sha256", "bytes", False),
    5: ("produced_at_ms", "int64", False),
    6: ("corrects_seq", "uint", False),
    7: ("derived_from", SOURCE_REF, True),
    8: ("product_id", "string", False),
}
RECORD = {1: ("header", "bytes", False), 2: ("payload", "bytes", False)}
BATCH = {
    1: ("header", "bytes", False),
    2: ("signature", "bytes", False),
    3: ("records", RECORD, True),
    4: ("proof", "bytes", True),
}
INBOUND_RECORD = {
    1: ("translated_label", LABEL, False),
    2: ("translator", "string", False),
    3: ("source_policy_version", "uint", False),
    4: ("target_policy_version", "uint", False),
    5: ("transcoded_payload", "bytes", False),
    6: ("lossy_fields", "string", True),
}
INBOUND_BATCH = {
    1: ("batch", "bytes", False),
    2: ("version", "uint", False),
    3: ("records", INBOUND_RECORD, True),
}


def encode_varint(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def encode_bytes_field(number, value):
    if not value:
        return b""
    return encode_varint(number << 3 | LEN) + encode_varint(len(value)) + value


def encode(message, schema):
    """Standard protobuf encoding of a dict decoded with `schema`: fields in
    field-number order, defaults omitted (used only by --worked-example)."""
    out = bytearray()
    for number in sorted(schema):
        name, kind, repeated = schema[number]
        values = message.get(name, [] if repeated else default(kind))
        for value in values if repeated else [values]:
            if kind in ("uint", "int64"):
                if value or repeated:
                    out += encode_varint(number << 3 | VARINT) + encode_varint(value % (1 << 64))
                continue
            if isinstance(kind, dict):
                if value is None:
                    continue
                value = encode(value, kind)
                out += encode_varint(number << 3 | LEN) + encode_varint(len(value)) + value
                continue
            if kind == "string":
                value = value.encode("utf-8")
            if value or repeated:
                out += encode_varint(number << 3 | LEN) + encode_varint(len(value)) + value
    return bytes(out)


# --- hashing -------------------------------------------------------------


def sha256(data):
    return hashlib.sha256(data).digest()


def leaf_hash(record_header_bytes):
    return sha256(b"\x00" + record_header_bytes)


def node_hash(left, right):
    return sha256(b"\x01" + left + right)


def split(n):
    """The largest power of two smaller than n (n > 1)."""
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def merkle_root_from(carried, proof, size):
    """Rebuilds the root of a tree of `size` leaves from the carried leaves
    ({index: leaf hash}) and the multiproof: a subtree holding a carried leaf
    is recursed into, one holding none takes the next proof hash."""
    proof = list(proof)
    used = [0]

    def walk(lo, hi):
        if not any(lo <= i < hi for i in carried):
            if used[0] >= len(proof):
                raise Refused("bad_proof", "the multiproof has too few hashes")
            h = proof[used[0]]
            used[0] += 1
            if len(h) != 32:
                raise Refused("bad_proof", f"a proof hash has {len(h)} bytes, not 32")
            return h
        if hi - lo == 1:
            return carried[lo]
        mid = lo + split(hi - lo)
        return node_hash(walk(lo, mid), walk(mid, hi))

    root = walk(0, size)
    if used[0] != len(proof):
        raise Refused("bad_proof", f"{len(proof) - used[0]} proof hash(es) left unused")
    return root


# --- ML-DSA-65 -----------------------------------------------------------


def mldsa65_verify(public_key, message, signature, context):
    from dilithium_py.ml_dsa import ML_DSA_65 as scheme

    if len(public_key) != RAW_KEY_LEN or len(signature) != SIGNATURE_LEN:
        return False
    try:
        return bool(scheme.verify(public_key, message, signature, ctx=context))
    except (ValueError, IndexError):
        return False


# --- the checks ----------------------------------------------------------


def load_root(data):
    try:
        root = decode(data, "root PublicKey", PUBLIC_KEY)
    except ValueError as e:
        raise Refused("unknown_issuer", f"the root key file is not an encoded PublicKey: {e}") from None
    if root["algorithm"] != ML_DSA_65 or len(root["key"]) != RAW_KEY_LEN:
        raise Refused(
            "unknown_issuer",
            f"the root key is not ML-DSA-65 (algorithm {root['algorithm']}, {len(root['key'])} bytes)",
        )
    return root


def verify_certificate(root, signed_bytes, now_ms):
    """The producer's certificate, checked against the root: returns
    (certificate, its digest)."""
    try:
        signed = decode(signed_bytes, "SignedCertificate", SIGNED_CERTIFICATE)
        cert = decode(signed["certificate"], "ProducerCertificate", PRODUCER_CERTIFICATE)
    except ValueError as e:
        raise Refused("bad_certificate", str(e)) from None
    canonical = encode_bytes_field(1, signed["certificate"]) + encode_bytes_field(2, signed["signature"])
    if canonical != bytes(signed_bytes):
        raise Refused("bad_certificate", "the SignedCertificate is not in its canonical encoding")
    root_id = sha256(root["key"])
    if cert["issuer_key_sha256"] != root_id:
        raise Refused(
            "unknown_issuer",
            f"issued by key {cert['issuer_key_sha256'].hex()}, the root given is {root_id.hex()}",
        )
    if not mldsa65_verify(root["key"], signed["certificate"], signed["signature"], CONTEXT_CERTIFICATE):
        raise Refused("bad_certificate", "the root's signature over the certificate does not verify")
    key = cert["public_key"]
    if key is None or key["algorithm"] != ML_DSA_65 or len(key["key"]) != RAW_KEY_LEN:
        raise Refused("bad_certificate", "the certified key is not an ML-DSA-65 public key")
    if not cert["not_before_ms"] <= now_ms < cert["not_after_ms"]:
        raise Refused(
            "certificate_expired",
            f"valid {cert['not_before_ms']}..{cert['not_after_ms']} ms, now is {now_ms}",
        )
    return cert, sha256(signed_bytes)


def verify_batch(batch_bytes, cert, cert_digest, subject_parts):
    """Verifies an encoded Batch; returns (header, [(record header,
    payload)])."""
    try:
        batch = decode(batch_bytes, "Batch", BATCH)
    except ValueError as e:
        raise Refused("malformed_batch", str(e)) from None
    try:
        header = decode(batch["header"], "BatchHeader", BATCH_HEADER)
    except ValueError as e:
        raise Refused("malformed_header", str(e)) from None
    if header["message_type"] not in CONTEXT_BATCH:
        raise Refused("unknown_schema", f"message type {header['message_type']}")
    first, last = header["first_seq"], header["last_seq"]
    if first == 0 or last < first or last - first + 1 > MAX_BATCH:
        raise Refused("malformed_header", f"seq range {first}..={last}")
    if not (header["origin"] and header["producer_id"] and header["feed"]):
        raise Refused("malformed_header", "an empty origin, producer or feed")
    if len(header["merkle_root"]) != 32 or len(header["producer_cert_sha256"]) != 32:
        raise Refused("malformed_header", "the Merkle root or certificate digest is not 32 bytes")
    records = []
    previous = None
    for i, record in enumerate(batch["records"]):
        try:
            rh = decode(record["header"], f"RecordHeader #{i}", RECORD_HEADER)
        except ValueError as e:
            raise Refused("malformed_header", str(e)) from None
        seq = rh["seq"]
        if not first <= seq <= last or (previous is not None and seq <= previous):
            raise Refused("malformed_batch", f"record seq {seq} out of order or outside {first}..={last}")
        previous = seq
        records.append((rh, record))
    if not records:
        raise Refused("malformed_batch", "the batch carries no record")
    if subject_parts is not None:
        kind, origin, producer, feed = subject_parts
        if (kind, origin, producer, feed) != (
            KIND[header["message_type"]],
            header["origin"],
            header["producer_id"],
            header["feed"],
        ):
            raise Refused("subject_mismatch", "the subject does not match the signed header")
    if header["producer_cert_sha256"] != cert_digest:
        raise Refused(
            "certificate_mismatch",
            f"the batch names certificate {header['producer_cert_sha256'].hex()}, "
            f"the one given is {cert_digest.hex()}",
        )
    if cert["nation"] != header["origin"] or cert["producer_id"] != header["producer_id"]:
        raise Refused(
            "producer_mismatch",
            f"certificate of {cert['nation']}/{cert['producer_id']}, "
            f"batch of {header['origin']}/{header['producer_id']}",
        )
    if header["producer_id"] in RESERVED_PRODUCERS:
        raise Refused("producer_mismatch", f"{header['producer_id']!r} is a reserved identity")
    if header["feed"] not in cert["feeds"]:
        raise Refused("feed_not_permitted", f"feed {header['feed']!r} is not in the certificate")
    context = CONTEXT_BATCH[header["message_type"]]
    if not mldsa65_verify(cert["public_key"]["key"], batch["header"], batch["signature"], context):
        raise Refused(
            "bad_signature",
            f"the producer's ML-DSA-65 signature over the header does not verify (context {context.decode()})",
        )
    carried = {rh["seq"] - first: leaf_hash(record["header"]) for rh, record in records}
    root = merkle_root_from(carried, batch["proof"], last - first + 1)
    if root != header["merkle_root"]:
        raise Refused("bad_proof", "the records and proof do not give the signed Merkle root")
    for rh, record in records:
        if sha256(record["payload"]) != rh["payload_sha256"]:
            raise Refused("payload_digest_mismatch", f"record seq {rh['seq']}: the payload does not match its digest")
    return header, records


def parse_subject(subject, inbound):
    """(kind, origin, producer, feed) and the version of an `in.` subject.

    Alert subjects carry two more tokens, the alert's topic
    (`<category>.<severity>`), after the feed; this verifier checks their
    shape only, not that they match each record's payload.
    """
    parts = subject.split(".")
    topic = 2 if len(parts) > 1 and parts[1] == "alert" else 0
    if "" in parts:
        raise Refused("subject_mismatch", f"{subject!r} has an empty token")
    if inbound:
        if len(parts) != 6 + topic or parts[0] != "in" or not parts[-1].startswith("v"):
            raise Refused("subject_mismatch", f"{subject!r} is not in.<kind>.<origin>.<producer>.<feed>[.<category>.<severity>].v<version>")
        return tuple(parts[1:5]), parts[-1][1:]
    if len(parts) == 4 + topic and parts[0] == "out":
        return (parts[1], None, parts[2], parts[3]), None
    if len(parts) == 5 + topic and parts[0] == "rel":
        return tuple(parts[1:5]), None
    raise Refused("subject_mismatch", f"{subject!r} is not an out., rel. or in. subject")


def run(args):
    root = load_root(read(args.root_pub))
    cert, digest = verify_certificate(root, read(args.certificate), args.now_ms)
    message = read(args.message)
    subject_parts, version_text = (None, None)
    if args.subject:
        subject_parts, version_text = parse_subject(args.subject, not args.batch)
    if args.batch:
        batch_bytes, inbound = message, None
    else:
        try:
            inbound = decode(message, "InboundBatch", INBOUND_BATCH)
        except ValueError as e:
            raise Refused("malformed_batch", str(e)) from None
        batch_bytes = inbound["batch"]
        if version_text is not None and version_text != str(inbound["version"]):
            raise Refused("subject_mismatch", f"subject version v{version_text}, message version {inbound['version']}")
    if subject_parts is not None and subject_parts[1] is None:  # out.: origin is the producer's nation
        subject_parts = (subject_parts[0], cert["nation"], subject_parts[2], subject_parts[3])
    header, records = verify_batch(batch_bytes, cert, digest, subject_parts)
    if inbound is not None:
        if len(inbound["records"]) != len(records):
            raise Refused("malformed_batch", f"{len(inbound['records'])} InboundRecords for {len(records)} records")
        for (rh, _), ir in zip(records, inbound["records"]):
            if rh["schema_version"] != inbound["version"]:
                raise Refused(
                    "untranscodable_payload",
                    f"record seq {rh['seq']} was produced in version {rh['schema_version']} and served in "
                    f"{inbound['version']}: this verifier does not transcode",
                )
            if ir["transcoded_payload"]:
                raise Refused("payload_digest_mismatch", f"record seq {rh['seq']}: a transcoded payload for a record not transcoded")
    kind = KIND[header["message_type"]]
    for i, (rh, record) in enumerate(records):
        label = rh["label"] or default_label()
        line = (
            f"verified {kind} {header['origin']}/{header['producer_id']}/{header['feed']} seq={rh['seq']} "
            f"schema=v{rh['schema_version']} product={rh['product_id']} "
            f"label={label['policy_id']}/v{label['policy_version']} {label['classification']} "
            f"REL TO {','.join(label['releasable_to']) or '-'} payload={len(record['payload'])}B"
        )
        if inbound is not None:
            ir = inbound["records"][i]
            tl = ir["translated_label"] or default_label()
            line += f" as {tl['policy_id'] or '-'} {tl['classification'] or '-'} via {ir['translator'] or '-'}"
        print(line)
    print(
        f"batch {header['first_seq']}..={header['last_seq']}: {len(records)} record(s) verified, "
        f"signed by {header['origin']}/{header['producer_id']} key {sha256(cert['public_key']['key']).hex()[:32]}, "
        f"certificate {digest.hex()}"
    )


WORKED_EXAMPLE = {
    "root key id": "d666806e11cee19a7c989f7445f90dd419cf4d2d51db8c0fdb4c0f0a542238c9",
    "producer key id": "408071bcaf4fe051b0b68f8e5b2a9dbbc15dabd9440757bf197a677bbca50b9b",
    "ProducerCertificate sha256": "197e52c35d6407744fda84bb76ee51d45275f8b445d0db02df7d8c822889ffb3",
    "root signature sha256": "a168142f7d5813e71b777dabcbabe7f373fed538ea3db488c8c588ccf63a002d",
    "certificate digest": "d701a56df2622b561b09889e7d74221c9346cba1798b186af99ee4e9f2af16b7",
    "RecordHeader": "080112140a0355534112065345435245541a034742523001180122201901da1c9f699b48f6b2636e65cbf73abf99d0441ef67f5c540a42f7051dec6f2880a0f1c2b1344203542d31",
    "leaf": "d376420d55fd37e9ce679fbdc17046520dddd8e0a4358ec14bfb4e20a69bf34d",
    "BatchHeader": "080112035553411a0772616461722d312206747261636b73280130013a20d376420d55fd37e9ce679fbdc17046520dddd8e0a4358ec14bfb4e20a69bf34d4220d701a56df2622b561b09889e7d74221c9346cba1798b186af99ee4e9f2af16b748e4a0f1c2b134",
    "producer signature sha256": "597105d6f3a8bdf51cc4032935274d79423d6a8b2e8c4f11f74582f778bec229",
    "Batch sha256": "95a21686ff872ed5999eb5bbf61f588dad1c7159310942319f284024362cc2e7",
    "leaf 1 (seq 2)": "f862302c2747e280cc4876c9ba8f6ad131561efde1eb615d7960aadeb713ac15",
    "leaf 2 (seq 3)": "635edd62ac65b5f53e6c94b8eee1b1132e6b07a7732a51d51fd7a51a85151335",
    "three-record root": "96b7f023c7ef5ae97e2c41573698985b51f9c2e72fe87ee07a3c4fd61677c820",
}


def worked_example():
    """Rebuilds docs/wire-contract.md's worked example from its inputs with
    this file's encoder and dilithium-py, compares every documented value,
    and runs the verifier on the result. Returns the mismatches."""
    from dilithium_py.ml_dsa import ML_DSA_65 as scheme

    got = {}
    root_pk, root_sk = scheme.key_derive(bytes(range(0x00, 0x20)))
    prod_pk, prod_sk = scheme.key_derive(bytes(range(0x20, 0x40)))
    got["root key id"] = sha256(root_pk).hex()
    got["producer key id"] = sha256(prod_pk).hex()
    producer_public = {"algorithm": ML_DSA_65, "key": prod_pk, "owner": "USA/radar-1"}
    cert_bytes = encode(
        {
            "nation": "USA",
            "producer_id": "radar-1",
            "public_key": producer_public,
            "not_before_ms": 1800000000000,
            "not_after_ms": 1900000000000,
            "feeds": ["tracks"],
            "max_classification": "SECRET",
            "issuer_key_sha256": sha256(root_pk),
        },
        PRODUCER_CERTIFICATE,
    )
    got["ProducerCertificate sha256"] = sha256(cert_bytes).hex()
    root_sig = scheme.sign(root_sk, cert_bytes, ctx=CONTEXT_CERTIFICATE, deterministic=True)
    got["root signature sha256"] = sha256(root_sig).hex()
    signed = encode({"certificate": cert_bytes, "signature": root_sig}, SIGNED_CERTIFICATE)
    got["certificate digest"] = sha256(signed).hex()
    payload = bytes(range(200))

    def record_header(seq):
        return encode(
            {
                "schema_version": 1,
                "label": {"policy_id": "USA", "classification": "SECRET", "releasable_to": ["GBR"], "policy_version": 1},
                "seq": seq,
                "payload_sha256": sha256(payload),
                "produced_at_ms": 1800000000000,
                "product_id": "T-1",
            },
            RECORD_HEADER,
        )

    rh = record_header(1)
    got["RecordHeader"] = rh.hex()
    got["leaf"] = leaf_hash(rh).hex()
    header = encode(
        {
            "message_type": 1,
            "origin": "USA",
            "producer_id": "radar-1",
            "feed": "tracks",
            "first_seq": 1,
            "last_seq": 1,
            "merkle_root": leaf_hash(rh),
            "producer_cert_sha256": sha256(signed),
            "sealed_at_ms": 1800000000100,
        },
        BATCH_HEADER,
    )
    got["BatchHeader"] = header.hex()
    sig = scheme.sign(prod_sk, header, ctx=CONTEXT_BATCH[1], deterministic=True)
    got["producer signature sha256"] = sha256(sig).hex()
    batch = encode({"header": header, "signature": sig, "records": [{"header": rh, "payload": payload}]}, BATCH)
    got["Batch sha256"] = sha256(batch).hex()
    leaves = [leaf_hash(record_header(s)) for s in (1, 2, 3)]
    got["leaf 1 (seq 2)"] = leaves[1].hex()
    got["leaf 2 (seq 3)"] = leaves[2].hex()
    got["three-record root"] = node_hash(node_hash(leaves[0], leaves[1]), leaves[2]).hex()
    wrong = [f"{k}: documented {v}, computed {got[k]}" for k, v in WORKED_EXAMPLE.items() if got[k] != v]
    sizes = {"root signature": (len(root_sig), 3309), "ProducerCertificate": (len(cert_bytes), 2051)}
    sizes.update({"SignedCertificate": (len(signed), 5366), "RecordHeader": (len(rh), 72)})
    sizes.update({"BatchHeader": (len(header), 103), "Batch": (len(batch), 3697)})
    sizes["producer .pub"] = (len(encode(producer_public, PUBLIC_KEY)), 1970)
    wrong += [f"{k}: documented {want} bytes, computed {n}" for k, (n, want) in sizes.items() if n != want]
    # The verifier itself on the example, and the 3-record proof for seq 2.
    root = {"algorithm": ML_DSA_65, "key": root_pk, "owner": "USA root"}
    cert, digest = verify_certificate(root, signed, 1850000000000)
    verify_batch(batch, cert, digest, ("track", "USA", "radar-1", "tracks"))
    if merkle_root_from({1: leaves[1]}, [leaves[0], leaves[2]], 3).hex() != WORKED_EXAMPLE["three-record root"]:
        wrong.append("the proof [leaf0, leaf2] for seq 2 does not give the three-record root")
    return wrong


def default_label():
    return decode(b"", "label", LABEL)


def read(path):
    with open(path, "rb") as f:
        return f.read()


def main(argv):
    parser = argparse.ArgumentParser(
        prog="verify_batch.py",
        description="Verify a Coalition Mesh batch (an INBOUND InboundBatch, or a Batch with --batch) "
        "from docs/wire-contract.md alone.",
    )
    parser.add_argument("root_pub", nargs="?", help="the producing nation's root public key (encoded PublicKey, .pub)")
    parser.add_argument("certificate", nargs="?", help="the producer's encoded SignedCertificate")
    parser.add_argument("message", nargs="?", help="one message's bytes: an encoded InboundBatch (or Batch with --batch)")
    parser.add_argument(
        "--worked-example",
        action="store_true",
        help="instead: rebuild docs/wire-contract.md's worked example and compare every documented value",
    )
    parser.add_argument("--batch", action="store_true", help="MESSAGE is an encoded Batch, not an InboundBatch")
    parser.add_argument("--subject", help="the subject MESSAGE was read from; checked against the signed header")
    parser.add_argument("--now-ms", type=int, default=None, help="check the certificate's validity at this time")
    args = parser.parse_args(argv)  # exits 2 on bad usage
    if args.worked_example:
        if args.root_pub or args.batch or args.subject or args.now_ms is not None:
            parser.error("--worked-example takes no other argument")
        try:
            wrong = worked_example()
        except Refused as e:
            wrong = [f"the verifier refuses the worked example: {e.reason}: {e.why}"]
        for w in wrong:
            print(f"WORKED EXAMPLE MISMATCH {w}", file=sys.stderr)
        if not wrong:
            print(f"worked example: all {len(WORKED_EXAMPLE)} documented values and 7 sizes reproduced; it verifies")
        return 1 if wrong else 0
    if not args.message:
        parser.error("ROOT_PUB, CERTIFICATE and MESSAGE are required")
    if args.now_ms is None:
        args.now_ms = int(time.time() * 1000)
    try:
        run(args)
    except OSError as e:
        print(f"verify_batch.py: {e}", file=sys.stderr)
        return 2
    except Refused as e:
        print(f"REFUSED {e.reason}: {e.why}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
