//! Reading a TLS 1.3 handshake off the wire: which key exchange group and
//! protocol version a server chose, from the bytes it sent (a
//! [`crate::LinkProxy`] keeps them). Tests use it to see what two
//! nats-servers agreed on, which neither of them reports.
//!
//! A nats-server sends its `INFO` line in plaintext before the handshake,
//! so the ServerHello is looked for after it. A HelloRetryRequest (a
//! ServerHello with the special random) is skipped: the group that counts
//! is the one in the ServerHello that follows it.

/// The TLS code of the hybrid key exchange X25519MLKEM768.
pub const X25519MLKEM768: u16 = 0x11ec;

/// The TLS code of protocol version 1.3.
pub const TLS13: u16 = 0x0304;

/// What a server's ServerHello says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServerHello {
    /// The key exchange group (`key_share` extension), if present.
    pub group: Option<u16>,
    /// The protocol version (`supported_versions` extension), if present.
    pub version: Option<u16>,
}

/// The random of a HelloRetryRequest (RFC 8446, 4.1.3).
const RETRY_RANDOM: [u8; 32] = [
    0xcf, 0x21, 0xad, 0x74, 0xe5, 0x9a, 0x61, 0x11, 0xbe, 0x1d, 0x8c, 0x02, 0x1e, 0x65, 0xb8, 0x91,
    0xc2, 0xa2, 0x11, 0x16, 0x7a, 0xbb, 0x8c, 0x5e, 0x07, 0x9e, 0x09, 0xe2, 0xc8, 0xa8, 0x33, 0x9c,
];

const HANDSHAKE_RECORD: u8 = 0x16;
const SERVER_HELLO: u8 = 0x02;
const KEY_SHARE: u16 = 0x0033;
const SUPPORTED_VERSIONS: u16 = 0x002b;

/// The first ServerHello (not a HelloRetryRequest) in `bytes`, the start of
/// what a server sent; an error says what is missing or malformed.
pub fn server_hello(bytes: &[u8]) -> Result<ServerHello, String> {
    let mut from = 0;
    loop {
        let at = find_server_hello_record(bytes, from)
            .ok_or_else(|| format!("no ServerHello in the {} bytes seen", bytes.len()))?;
        let (random, hello) = parse_record(&bytes[at..])?;
        if random != RETRY_RANDOM {
            return Ok(hello);
        }
        from = at + 1;
    }
}

/// Where a handshake record whose first message is a ServerHello starts.
fn find_server_hello_record(bytes: &[u8], from: usize) -> Option<usize> {
    (from..bytes.len().saturating_sub(5)).find(|&i| {
        bytes[i] == HANDSHAKE_RECORD
            && bytes[i + 1] == 0x03
            && (0x01..=0x04).contains(&bytes[i + 2])
            && bytes[i + 5] == SERVER_HELLO
    })
}

/// A cursor over a byte slice whose reads fail with what was being read.
struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize, what: &str) -> Result<&'a [u8], String> {
        let end = self.at.checked_add(n).filter(|&e| e <= self.bytes.len());
        let end = end.ok_or_else(|| format!("ServerHello truncated in {what}"))?;
        let out = &self.bytes[self.at..end];
        self.at = end;
        Ok(out)
    }

    fn u8(&mut self, what: &str) -> Result<u8, String> {
        Ok(self.take(1, what)?[0])
    }

    fn u16(&mut self, what: &str) -> Result<u16, String> {
        let b = self.take(2, what)?;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    }

    fn u24(&mut self, what: &str) -> Result<usize, String> {
        let b = self.take(3, what)?;
        Ok(usize::from(b[0]) << 16 | usize::from(b[1]) << 8 | usize::from(b[2]))
    }
}

/// Parses one handshake record holding a ServerHello: its random and what
/// its extensions say.
fn parse_record(record: &[u8]) -> Result<([u8; 32], ServerHello), String> {
    let mut r = Reader {
        bytes: record,
        at: 3,
    };
    let len = usize::from(r.u16("the record length")?);
    let mut body = Reader {
        bytes: r.take(len, "the record")?,
        at: 1,
    };
    let hello_len = body.u24("the handshake length")?;
    let mut h = Reader {
        bytes: body.take(hello_len, "the handshake message")?,
        at: 2,
    };
    let mut random = [0u8; 32];
    random.copy_from_slice(h.take(32, "the random")?);
    let session_id = usize::from(h.u8("the session id length")?);
    h.take(
        session_id + 3,
        "the session id, cipher suite and compression",
    )?;
    let extensions = usize::from(h.u16("the extensions length")?);
    let mut e = Reader {
        bytes: h.take(extensions, "the extensions")?,
        at: 0,
    };
    let mut hello = ServerHello {
        group: None,
        version: None,
    };
    while e.at < e.bytes.len() {
        let kind = e.u16("an extension type")?;
        let len = usize::from(e.u16("an extension length")?);
        let mut data = Reader {
            bytes: e.take(len, "an extension")?,
            at: 0,
        };
        match kind {
            KEY_SHARE => hello.group = Some(data.u16("the key share group")?),
            SUPPORTED_VERSIONS => hello.version = Some(data.u16("the selected version")?),
            _ => {}
        }
    }
    Ok((random, hello))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A ServerHello record with `random` and the given extensions.
    fn record(random: [u8; 32], extensions: &[(u16, Vec<u8>)]) -> Vec<u8> {
        let mut ext = Vec::new();
        for (kind, data) in extensions {
            ext.extend_from_slice(&kind.to_be_bytes());
            ext.extend_from_slice(&(data.len() as u16).to_be_bytes());
            ext.extend_from_slice(data);
        }
        let mut hello = vec![0x03, 0x03];
        hello.extend_from_slice(&random);
        hello.push(2); // session id of 2 bytes
        hello.extend_from_slice(&[0xaa, 0xbb, 0x13, 0x01, 0x00]);
        hello.extend_from_slice(&(ext.len() as u16).to_be_bytes());
        hello.extend_from_slice(&ext);
        let mut body = vec![SERVER_HELLO];
        body.extend_from_slice(&(hello.len() as u32).to_be_bytes()[1..]);
        body.extend_from_slice(&hello);
        let mut rec = vec![HANDSHAKE_RECORD, 0x03, 0x03];
        rec.extend_from_slice(&(body.len() as u16).to_be_bytes());
        rec.extend_from_slice(&body);
        rec
    }

    fn hybrid(random: [u8; 32]) -> Vec<u8> {
        let mut share = X25519MLKEM768.to_be_bytes().to_vec();
        share.extend_from_slice(&[0x00, 0x02, 0x01, 0x02]);
        record(
            random,
            &[
                (SUPPORTED_VERSIONS, TLS13.to_be_bytes().to_vec()),
                (KEY_SHARE, share),
            ],
        )
    }

    #[test]
    fn reads_the_group_and_version_after_a_plaintext_info_line() {
        let mut wire = b"INFO {\"tls_required\":true}\r\n".to_vec();
        wire.extend_from_slice(&hybrid([7; 32]));
        wire.extend_from_slice(&[0x14, 0x03, 0x03, 0x00, 0x01, 0x01]);
        assert_eq!(
            server_hello(&wire),
            Ok(ServerHello {
                group: Some(X25519MLKEM768),
                version: Some(TLS13)
            })
        );
    }

    #[test]
    fn skips_a_hello_retry_request() {
        let retry = record(
            RETRY_RANDOM,
            &[(KEY_SHARE, 0x001du16.to_be_bytes().to_vec())],
        );
        let mut wire = retry;
        wire.extend_from_slice(&hybrid([9; 32]));
        assert_eq!(server_hello(&wire).unwrap().group, Some(X25519MLKEM768));
    }

    #[test]
    fn says_what_is_missing_or_truncated() {
        assert!(server_hello(b"INFO {}\r\n")
            .unwrap_err()
            .contains("no ServerHello in the 9 bytes"));
        let full = hybrid([1; 32]);
        for cut in [6, 12, 40, full.len() - 3] {
            let err = server_hello(&full[..cut]).unwrap_err();
            assert!(
                err.contains("truncated") || err.contains("no ServerHello"),
                "{cut}: {err}"
            );
        }
    }
}
