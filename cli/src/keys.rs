//! `coalition keys`: national root keys, the revocation authority's
//! certificate (the key ceremony, docs/runbooks/key-ceremony.md) and
//! producer certificates. Private key files are written with 0600
//! permissions.
use std::path::{Path, PathBuf};

use clap::{Subcommand, ValueEnum};
use coalition_core::certificate::{issue_certificate, verify_certificate, CertificateRequest};
use coalition_core::keys::{Algorithm, PublicKey, SigningKeyPair};
use nats_harness::write_key_file;

use crate::error::CliError;

/// ML-DSA parameter sets on the command line.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum AlgorithmArg {
    /// ML-DSA-65 (default).
    #[value(name = "ml-dsa-65")]
    MlDsa65,
    /// ML-DSA-87.
    #[value(name = "ml-dsa-87")]
    MlDsa87,
}

/// Key and certificate commands.
#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Generate a national root key pair: <out>/root.key (0600) and <out>/root.pub.
    Root {
        /// Nation code, e.g. USA.
        #[arg(long)]
        nation: String,
        /// Output folder.
        #[arg(long)]
        out: PathBuf,
        /// Parameter set.
        #[arg(long, value_enum, default_value = "ml-dsa-65")]
        algorithm: AlgorithmArg,
    },
    /// Generate a producer key and issue its certificate with a root key.
    Producer {
        /// Nation code of the issuing root.
        #[arg(long)]
        nation: String,
        /// Producer id (lower-case letters, digits, '-').
        #[arg(long)]
        producer: String,
        /// The root's private key file.
        #[arg(long)]
        root_key: PathBuf,
        /// A feed the producer may publish (repeat for several).
        #[arg(long = "feed", required = true)]
        feeds: Vec<String>,
        /// Highest classification the producer may use.
        #[arg(long)]
        max_classification: String,
        /// Validity in days from now.
        #[arg(long, default_value_t = 30)]
        valid_days: u32,
        /// Output folder: <out>/<producer>.key (0600) and <out>/<producer>.cert.
        #[arg(long)]
        out: PathBuf,
    },
    /// Generate a revocation-authority key and certify it with the root (the
    /// key ceremony): <out>/revocation-authority.key (0600) and .cert. The
    /// authority signs the nation's revocation notices, so the root can
    /// stay offline. Refuses to overwrite an existing key.
    Authority {
        /// Nation code of the issuing root.
        #[arg(long)]
        nation: String,
        /// The root's private key file.
        #[arg(long)]
        root_key: PathBuf,
        /// Validity in days from now (at most 366: renew before it ends).
        #[arg(long, default_value_t = 90, value_parser = clap::value_parser!(u32).range(1..=366))]
        valid_days: u32,
        /// Output folder.
        #[arg(long)]
        out: PathBuf,
    },
    /// Check a producer certificate against a root public key and print it.
    Verify {
        /// The certificate file.
        #[arg(long)]
        cert: PathBuf,
        /// The issuing nation's root.pub.
        #[arg(long)]
        root: PathBuf,
        /// The issuing nation.
        #[arg(long)]
        nation: String,
    },
}

fn read(path: &Path) -> Result<Vec<u8>, CliError> {
    std::fs::read(path).map_err(|e| CliError::Usage(format!("cannot read {}: {e}", path.display())))
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

fn check_token(what: &str, value: &str) -> Result<(), CliError> {
    if coalition_topology::subjects::is_token(value) {
        Ok(())
    } else {
        Err(CliError::Usage(format!(
            "--{what} {value:?} must be letters, digits, '-' or '_'"
        )))
    }
}

/// Runs a keys command.
pub fn run(cmd: KeysCommand) -> Result<(), CliError> {
    match cmd {
        KeysCommand::Root {
            nation,
            out,
            algorithm,
        } => root(&nation, &out, algorithm),
        KeysCommand::Producer {
            nation,
            producer,
            root_key,
            feeds,
            max_classification,
            valid_days,
            out,
        } => {
            check_token("nation", &nation)?;
            check_token("producer", &producer)?;
            if coalition_schemas::identities::is_reserved(&producer) {
                return Err(CliError::Usage(format!(
                    "--producer {producer:?} is reserved for the system's own keys (reserved: {}); a producer certificate cannot take it",
                    coalition_schemas::identities::RESERVED.join(", ")
                )));
            }
            for f in &feeds {
                check_token("feed", f)?;
            }
            let root = SigningKeyPair::from_private_file(&read(&root_key)?)
                .map_err(|e| CliError::Usage(format!("{}: {e}", root_key.display())))?;
            let key = SigningKeyPair::generate(Algorithm::MlDsa65, &format!("{nation}/{producer}"));
            let now = now_ms();
            let request = CertificateRequest {
                nation,
                producer_id: producer.clone(),
                public_key: key.public_key().clone(),
                not_before_ms: now - 60_000,
                not_after_ms: now + i64::from(valid_days) * 86_400_000,
                feeds,
                max_classification,
            };
            let cert =
                issue_certificate(&root, &request).map_err(|e| CliError::Usage(e.to_string()))?;
            write_key_file(
                &out.join(format!("{producer}.key")),
                &key.to_private_file(),
                true,
            )?;
            write_key_file(&out.join(format!("{producer}.cert")), &cert, false)?;
            println!(
                "wrote {0}/{producer}.key (private, 0600) and {0}/{producer}.cert",
                out.display()
            );
            Ok(())
        }
        KeysCommand::Authority {
            nation,
            root_key,
            valid_days,
            out,
        } => authority(&nation, &root_key, valid_days, &out),
        KeysCommand::Verify { cert, root, nation } => verify(&cert, &root, nation),
    }
}

fn authority(nation: &str, root_key: &Path, valid_days: u32, out: &Path) -> Result<(), CliError> {
    check_token("nation", nation)?;
    let identity = coalition_core::revocation::REVOCATION_AUTHORITY_IDENTITY;
    let (key_path, cert_path) = (
        out.join(format!("{identity}.key")),
        out.join(format!("{identity}.cert")),
    );
    for path in [&key_path, &cert_path] {
        if path.exists() {
            return Err(CliError::Usage(format!(
                "{}: exists; move it away first (a renewal writes to a new folder, see docs/runbooks/key-ceremony.md)",
                path.display()
            )));
        }
    }
    let root = SigningKeyPair::from_private_file(&read(root_key)?)
        .map_err(|e| CliError::Usage(format!("{}: {e}", root_key.display())))?;
    let key = SigningKeyPair::generate(Algorithm::MlDsa65, &format!("{nation}/{identity}"));
    let now = now_ms();
    let request = CertificateRequest {
        nation: nation.to_string(),
        producer_id: identity.to_string(),
        public_key: key.public_key().clone(),
        not_before_ms: now - 60_000,
        not_after_ms: now + i64::from(valid_days) * 86_400_000,
        // Certificates name at least one feed; the authority publishes
        // only control objects.
        feeds: vec!["control".into()],
        max_classification: String::new(),
    };
    let cert = issue_certificate(&root, &request).map_err(|e| CliError::Usage(e.to_string()))?;
    write_key_file(&key_path, &key.to_private_file(), true)?;
    write_key_file(&cert_path, &cert, false)?;
    println!(
        "wrote {} (private, 0600) and {}",
        key_path.display(),
        cert_path.display()
    );
    println!("  {nation}/{identity} key id {}", hex_id(key.public_key()));
    println!("  certified by root key id {}", hex_id(root.public_key()));
    println!(
        "  valid until {} ms (Unix), {valid_days} days from now",
        request.not_after_ms
    );
    Ok(())
}

fn root(nation: &str, out: &Path, algorithm: AlgorithmArg) -> Result<(), CliError> {
    check_token("nation", nation)?;
    let alg = match algorithm {
        AlgorithmArg::MlDsa65 => Algorithm::MlDsa65,
        AlgorithmArg::MlDsa87 => Algorithm::MlDsa87,
    };
    let key = SigningKeyPair::generate(alg, &format!("{nation} root"));
    write_key_file(&out.join("root.key"), &key.to_private_file(), true)?;
    write_key_file(
        &out.join("root.pub"),
        &key.public_key().to_file_bytes(),
        false,
    )?;
    println!(
        "wrote {}/root.key (private, 0600) and root.pub",
        out.display()
    );
    println!("key id {}", hex_id(key.public_key()));
    Ok(())
}

fn verify(cert: &Path, root: &Path, nation: String) -> Result<(), CliError> {
    let root = PublicKey::from_file_bytes(&read(root)?)
        .map_err(|e| CliError::Usage(format!("{}: {e}", root.display())))?;
    let anchors = [(nation, root)].into_iter().collect();
    let c = verify_certificate(&read(cert)?, &anchors)
        .map_err(|r| CliError::CheckFailed(format!("{}: does not verify: {r}", cert.display())))?;
    println!("certificate of {}/{} OK", c.nation, c.producer_id);
    println!("  key id          {}", hex_id(&c.key));
    println!(
        "  feeds           {}",
        c.feeds.iter().cloned().collect::<Vec<_>>().join(", ")
    );
    println!("  max class.      {}", c.max_classification);
    println!("  valid now       {}", c.is_valid_at(now_ms()));
    println!(
        "  valid until     {} ms (Unix), {} days from now",
        c.not_after_ms,
        (c.not_after_ms - now_ms()) / 86_400_000
    );
    Ok(())
}

fn hex_id(key: &PublicKey) -> String {
    key.id()[..16].iter().map(|b| format!("{b:02x}")).collect()
}
