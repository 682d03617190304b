//! ML-DSA (FIPS 204) keys: generation, signing, verification and key files.
//!
//! ML-DSA-65 is the default; ML-DSA-87 is available for national roots. The
//! parameter set is an enum matched exhaustively. Signing is hedged (fresh
//! randomness from the OS per signature, FIPS 204's default variant).
//! `Debug` never prints key material.
use bytes::Bytes;
use coalition_schemas::v1;
use ml_dsa::common::getrandom::SysRng;
use ml_dsa::{EncodedVerifyingKey, ExpandedSigningKey, MlDsa65, MlDsa87, Signature, VerifyingKey};
use prost::Message;
use rand::RngCore;
use sha2::{Digest, Sha256};

use crate::CoreError;

/// An ML-DSA parameter set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Algorithm {
    /// ML-DSA-65 (NIST category 3): the default.
    MlDsa65,
    /// ML-DSA-87 (NIST category 5).
    MlDsa87,
}

impl Algorithm {
    fn to_wire(self) -> v1::SignatureAlgorithm {
        match self {
            Algorithm::MlDsa65 => v1::SignatureAlgorithm::MlDsa65,
            Algorithm::MlDsa87 => v1::SignatureAlgorithm::MlDsa87,
        }
    }

    fn from_wire(value: i32) -> Result<Self, CoreError> {
        match v1::SignatureAlgorithm::try_from(value) {
            Ok(v1::SignatureAlgorithm::MlDsa65) => Ok(Algorithm::MlDsa65),
            Ok(v1::SignatureAlgorithm::MlDsa87) => Ok(Algorithm::MlDsa87),
            _ => Err(CoreError::InvalidKey(format!(
                "unknown signature algorithm {value}; expected ML-DSA-65 or ML-DSA-87"
            ))),
        }
    }
}

enum SigningInner {
    MlDsa65(Box<ExpandedSigningKey<MlDsa65>>),
    MlDsa87(Box<ExpandedSigningKey<MlDsa87>>),
}

/// A private signing key and its public half.
pub struct SigningKeyPair {
    inner: SigningInner,
    seed: [u8; 32],
    public: PublicKey,
}

impl std::fmt::Debug for SigningKeyPair {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKeyPair")
            .field("public", &self.public)
            .finish_non_exhaustive()
    }
}

impl SigningKeyPair {
    /// A fresh key pair from OS randomness.
    pub fn generate(algorithm: Algorithm, owner: &str) -> Self {
        let mut seed = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut seed);
        Self::from_seed(algorithm, seed, owner)
    }

    /// The key pair derived from a 32-byte FIPS 204 seed.
    pub fn from_seed(algorithm: Algorithm, seed: [u8; 32], owner: &str) -> Self {
        let (inner, encoded) = match algorithm {
            Algorithm::MlDsa65 => {
                let sk = ExpandedSigningKey::<MlDsa65>::from_seed(&seed.into());
                let vk = sk.verifying_key().encode().to_vec();
                (SigningInner::MlDsa65(Box::new(sk)), vk)
            }
            Algorithm::MlDsa87 => {
                let sk = ExpandedSigningKey::<MlDsa87>::from_seed(&seed.into());
                let vk = sk.verifying_key().encode().to_vec();
                (SigningInner::MlDsa87(Box::new(sk)), vk)
            }
        };
        let public = PublicKey::decode_parts(algorithm, Bytes::from(encoded), owner)
            .expect("a freshly derived verifying key always decodes");
        SigningKeyPair {
            inner,
            seed,
            public,
        }
    }

    /// The public half.
    pub fn public_key(&self) -> &PublicKey {
        &self.public
    }

    /// Signs `message` under the domain-separation `context`.
    pub fn sign(&self, message: &[u8], context: &[u8]) -> Result<Bytes, CoreError> {
        let sig = match &self.inner {
            SigningInner::MlDsa65(sk) => sk
                .sign_randomized(message, context, &mut SysRng)
                .map(|s| s.encode().to_vec()),
            SigningInner::MlDsa87(sk) => sk
                .sign_randomized(message, context, &mut SysRng)
                .map(|s| s.encode().to_vec()),
        };
        sig.map(Bytes::from).map_err(|_| CoreError::Signing)
    }

    /// The private key file bytes (write them with 0600 permissions).
    pub fn to_private_file(&self) -> Vec<u8> {
        v1::PrivateKeyFile {
            algorithm: self.public.algorithm.to_wire() as i32,
            seed: Bytes::copy_from_slice(&self.seed),
            owner: self.public.owner.clone(),
        }
        .encode_to_vec()
    }

    /// Reads a private key file.
    pub fn from_private_file(bytes: &[u8]) -> Result<Self, CoreError> {
        let file = v1::PrivateKeyFile::decode(bytes)
            .map_err(|e| CoreError::InvalidKey(format!("not a private key file: {e}")))?;
        let algorithm = Algorithm::from_wire(file.algorithm)?;
        let seed: [u8; 32] = file.seed.as_ref().try_into().map_err(|_| {
            CoreError::InvalidKey(format!("seed is {} bytes, expected 32", file.seed.len()))
        })?;
        Ok(Self::from_seed(algorithm, seed, &file.owner))
    }
}

#[derive(Clone)]
enum VerifyInner {
    MlDsa65(Box<VerifyingKey<MlDsa65>>),
    MlDsa87(Box<VerifyingKey<MlDsa87>>),
}

/// A decoded public key, ready to verify; decode once and cache it.
#[derive(Clone)]
pub struct PublicKey {
    algorithm: Algorithm,
    inner: VerifyInner,
    encoded: Bytes,
    owner: String,
    id: [u8; 32],
}

impl std::fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PublicKey")
            .field("algorithm", &self.algorithm)
            .field("owner", &self.owner)
            .field("id", &hex::encode(&self.id[..8]))
            .finish()
    }
}

impl PartialEq for PublicKey {
    fn eq(&self, other: &Self) -> bool {
        self.algorithm == other.algorithm && self.encoded == other.encoded
    }
}

impl PublicKey {
    fn decode_parts(algorithm: Algorithm, encoded: Bytes, owner: &str) -> Result<Self, CoreError> {
        let wrong_len = |want: usize| {
            CoreError::InvalidKey(format!(
                "{algorithm:?} public key is {} bytes, expected {want}",
                encoded.len()
            ))
        };
        let inner = match algorithm {
            Algorithm::MlDsa65 => {
                let enc = EncodedVerifyingKey::<MlDsa65>::try_from(encoded.as_ref())
                    .map_err(|_| wrong_len(1952))?;
                VerifyInner::MlDsa65(Box::new(VerifyingKey::decode(&enc)))
            }
            Algorithm::MlDsa87 => {
                let enc = EncodedVerifyingKey::<MlDsa87>::try_from(encoded.as_ref())
                    .map_err(|_| wrong_len(2592))?;
                VerifyInner::MlDsa87(Box::new(VerifyingKey::decode(&enc)))
            }
        };
        let id = Sha256::digest(&encoded).into();
        Ok(PublicKey {
            algorithm,
            inner,
            encoded,
            owner: owner.to_string(),
            id,
        })
    }

    /// Decodes the wire form.
    pub fn from_wire(wire: &v1::PublicKey) -> Result<Self, CoreError> {
        let algorithm = Algorithm::from_wire(wire.algorithm)?;
        Self::decode_parts(algorithm, wire.key.clone(), &wire.owner)
    }

    /// The wire form.
    pub fn to_wire(&self) -> v1::PublicKey {
        v1::PublicKey {
            algorithm: self.algorithm.to_wire() as i32,
            key: self.encoded.clone(),
            owner: self.owner.clone(),
        }
    }

    /// Reads a `.pub` file (an encoded `PublicKey`).
    pub fn from_file_bytes(bytes: &[u8]) -> Result<Self, CoreError> {
        let wire = v1::PublicKey::decode(bytes)
            .map_err(|e| CoreError::InvalidKey(format!("not a public key file: {e}")))?;
        Self::from_wire(&wire)
    }

    /// The `.pub` file bytes.
    pub fn to_file_bytes(&self) -> Vec<u8> {
        self.to_wire().encode_to_vec()
    }

    /// SHA-256 of the raw key bytes (1,952 for ML-DSA-65), not of the
    /// `PublicKey` message: its identity.
    pub fn id(&self) -> &[u8; 32] {
        &self.id
    }

    /// Who holds the private half.
    pub fn owner(&self) -> &str {
        &self.owner
    }

    /// The parameter set.
    pub fn algorithm(&self) -> Algorithm {
        self.algorithm
    }

    /// Whether `signature` is a valid signature of `message` under `context`.
    /// Any malformed signature (wrong length, bad encoding) is simply invalid.
    pub fn verify(&self, message: &[u8], context: &[u8], signature: &[u8]) -> bool {
        match &self.inner {
            VerifyInner::MlDsa65(vk) => Signature::<MlDsa65>::try_from(signature)
                .is_ok_and(|s| vk.verify_with_context(message, context, &s)),
            VerifyInner::MlDsa87(vk) => Signature::<MlDsa87>::try_from(signature)
                .is_ok_and(|s| vk.verify_with_context(message, context, &s)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_verify_only_with_same_key_message_and_context() {
        for alg in [Algorithm::MlDsa65, Algorithm::MlDsa87] {
            let kp = SigningKeyPair::generate(alg, "test");
            let other = SigningKeyPair::generate(alg, "other");
            let sig = kp.sign(b"hello", b"ctx-a").unwrap();
            assert!(kp.public_key().verify(b"hello", b"ctx-a", &sig));
            assert!(!kp.public_key().verify(b"hellO", b"ctx-a", &sig));
            assert!(!kp.public_key().verify(b"hello", b"ctx-b", &sig));
            assert!(!other.public_key().verify(b"hello", b"ctx-a", &sig));
            assert!(!kp
                .public_key()
                .verify(b"hello", b"ctx-a", &sig[..sig.len() - 1]));
            let mut flipped = sig.to_vec();
            flipped[100] ^= 1;
            assert!(!kp.public_key().verify(b"hello", b"ctx-a", &flipped));
        }
    }

    #[test]
    fn key_files_round_trip_and_reject_garbage() {
        let kp = SigningKeyPair::generate(Algorithm::MlDsa65, "USA root");
        let back = SigningKeyPair::from_private_file(&kp.to_private_file()).unwrap();
        assert_eq!(back.public_key(), kp.public_key());
        let pk = PublicKey::from_file_bytes(&kp.public_key().to_file_bytes()).unwrap();
        assert_eq!(&pk, kp.public_key());
        assert_eq!(pk.owner(), "USA root");
        assert!(PublicKey::from_file_bytes(b"\x0a\x03abc").is_err());
        let mut wire = kp.public_key().to_wire();
        wire.key = wire.key.slice(1..);
        assert!(PublicKey::from_wire(&wire).is_err());
        wire.algorithm = 9;
        assert!(PublicKey::from_wire(&wire).is_err());
        assert!(
            format!("{kp:?}").len() < 200,
            "Debug must not dump key material"
        );
    }
}
