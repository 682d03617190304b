//! `coalition revoke`, `coalition translator` and `coalition policy`: the
//! policy plane from the command line.
//!
//! - `revoke` signs a revocation notice with a nation's revocation-authority
//!   key (its root only when asked for by name: the emergency path) and
//!   puts it on that nation's CONTROL stream, at the nation's next epoch.
//!   The nation's bridge applies it at once and forwards it to its partners.
//! - `translator issue` signs a translator spec (TOML) as one of its two
//!   nations; `translator cosign` adds the other nation's signature.
//! - `policy sign` signs a nation policy document spec (TOML).
//! - `control publish` puts a signed policy or translator file on the mesh.
//!
//! `revoke` and `control publish` reach the nation through a mesh folder
//! or a deployed nation's clients file ([`crate::attach`]), as its
//! operator user; `revoke`'s default keys are in the mesh folder's keys/
//! or the `--keys` folder (same layout).
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use clap::{Args, Subcommand};
use coalition_core::certificate::verify_certificate;
use coalition_core::keys::SigningKeyPair;
use coalition_core::label::NationPolicy;
use coalition_core::policy::sign_policy;
use coalition_core::revocation::{ProductKey, Revoked, REVOCATION_AUTHORITY_IDENTITY};
use coalition_core::translator::{cosign_translator, sign_translator, Translator};
use coalition_schemas::v1::{control_message::Body, ControlMessage, SignedObject};
use coalition_sdk::ControlPublisher;
use coalition_topology::ClientsConfig;
use prost::Message;
use serde::Deserialize;

use crate::attach::{Attach, AttachArgs, Keys};
use crate::error::CliError;

mod signer;

/// Signing key and notice options shared by every `revoke` command.
#[derive(Debug, Args)]
pub struct RevokeArgs {
    #[command(flatten)]
    pub attach: AttachArgs,
    /// The nation's revocation-authority private key (default:
    /// keys/<NATION>/revocation-authority.key in the mesh folder, or
    /// <KEYS>/<NATION>/revocation-authority.key with --clients).
    #[arg(long, conflicts_with = "emergency_root_key")]
    pub authority_key: Option<PathBuf>,
    /// Its certificate, issued by the nation's root (default:
    /// keys/<NATION>/revocation-authority.cert in the mesh folder, or
    /// <KEYS>/<NATION>/revocation-authority.cert with --clients).
    #[arg(long, conflicts_with = "emergency_root_key")]
    pub authority_cert: Option<PathBuf>,
    /// EMERGENCY ONLY: sign with the nation's root private key instead of
    /// the revocation authority, when the authority key is lost, expired
    /// or compromised (docs/runbooks/key-ceremony.md).
    #[arg(long, value_name = "ROOT_KEY")]
    pub emergency_root_key: Option<PathBuf>,
    /// In force from this instant, Unix ms (default: now).
    #[arg(long)]
    pub effective_from_ms: Option<i64>,
    /// Why, for the audit log and the partners' operators.
    #[arg(long, default_value = "revoked by operator")]
    pub reason: String,
    #[command(subcommand)]
    pub what: RevokeWhat,
}

/// What to revoke.
#[derive(Debug, Subcommand)]
pub enum RevokeWhat {
    /// A translator this nation is a party to (either party may).
    Translator {
        /// Translator id, e.g. USA-GBR.
        #[arg(long)]
        id: String,
        /// One version; every version if omitted.
        #[arg(long)]
        version: Option<u32>,
    },
    /// A producer key of this nation (from its certificate file).
    ProducerKey {
        /// The producer's id; its certificate is keys/<NATION>/producers/<id>.cert
        /// in the mesh folder (<KEYS>/<NATION>/producers/<id>.cert with --clients).
        #[arg(long)]
        producer: String,
        /// The certificate file, if not in the keys folder.
        #[arg(long)]
        cert: Option<PathBuf>,
    },
    /// Retract a product (every delta of a track, or an alert) of this nation.
    Product {
        /// Producer id.
        #[arg(long)]
        producer: String,
        /// Feed.
        #[arg(long, default_value = "tracks")]
        feed: String,
        /// Track id or alert id.
        #[arg(long)]
        product_id: String,
    },
    /// Suspend the partnership with a nation: no release to it, no admission from it.
    Suspend {
        /// The partner's code.
        #[arg(long)]
        partner: String,
    },
    /// Lift an earlier suspension.
    Reinstate {
        /// The partner's code.
        #[arg(long)]
        partner: String,
    },
    /// Revoke a revocation-authority key of this nation (compromised, or
    /// replaced at a renewal): it signs no notice of a later epoch.
    AuthorityKey {
        /// Its certificate (default: keys/<NATION>/revocation-authority.cert).
        #[arg(long)]
        cert: Option<PathBuf>,
    },
}

/// Translator files.
#[derive(Debug, Subcommand)]
pub enum TranslatorCommand {
    /// Sign a translator spec (TOML) as one of its nations.
    Issue {
        /// The spec: see docs/policy.md.
        #[arg(long)]
        spec: PathBuf,
        /// The signing nation (the spec's `from` or `to`).
        #[arg(long)]
        nation: String,
        /// That nation's root private key.
        #[arg(long)]
        key: PathBuf,
        /// Where to write the signed translator (.ctl).
        #[arg(long)]
        out: PathBuf,
    },
    /// Add the other nation's signature to a signed translator.
    Cosign {
        /// The translator signed by the first nation.
        #[arg(long = "in")]
        input: PathBuf,
        /// The co-signing nation.
        #[arg(long)]
        nation: String,
        /// Its root private key.
        #[arg(long)]
        key: PathBuf,
        /// Where to write the result.
        #[arg(long)]
        out: PathBuf,
    },
}

/// Nation policy documents.
#[derive(Debug, Subcommand)]
pub enum PolicyCommand {
    /// Sign a policy document spec (TOML) with the nation's root key.
    Sign {
        /// The spec: see docs/policy.md.
        #[arg(long)]
        spec: PathBuf,
        /// The nation's root private key.
        #[arg(long)]
        key: PathBuf,
        /// Where to write the signed document (.ctl).
        #[arg(long)]
        out: PathBuf,
    },
}

/// Put a signed object on the mesh.
#[derive(Debug, Args)]
pub struct PublishControlArgs {
    #[command(flatten)]
    pub attach: AttachArgs,
    /// A signed policy document or translator (.ctl).
    #[arg(long)]
    pub file: PathBuf,
}

pub(crate) fn usage(path: &Path, what: impl std::fmt::Display) -> CliError {
    CliError::Usage(format!("{}: {what}", path.display()))
}

fn read(path: &Path) -> Result<Vec<u8>, CliError> {
    std::fs::read(path).map_err(|e| usage(path, format!("cannot read: {e}")))
}

pub(crate) fn load_key(path: &Path) -> Result<SigningKeyPair, CliError> {
    SigningKeyPair::from_private_file(&read(path)?).map_err(|e| usage(path, e))
}

/// The control publisher, connected as the nation's operator: a user that
/// may publish only on `ctl.>` (`clients/<NATION>.toml`), never the
/// bridge's credentials.
async fn publisher(clients: &ClientsConfig) -> Result<ControlPublisher, CliError> {
    Ok(ControlPublisher::connect(&clients.servers, &clients.nation, &clients.operator).await?)
}

/// `coalition revoke ...`
pub async fn revoke(args: RevokeArgs) -> Result<(), CliError> {
    let attach = args.attach.resolve()?;
    let nation = attach.nation()?;
    let signer = signer::load(&args, &attach, &nation)?;
    let revoked = revoked(&args, &attach, &nation)?;
    let notice = publisher(&attach.clients()?)
        .await?
        .revoke(
            signer.as_notice_signer(),
            revoked,
            args.effective_from_ms,
            &args.reason,
        )
        .await?;
    println!("published {}", notice.summary());
    Ok(())
}

/// What `args` revokes; a key is read from its certificate, checked
/// against the nation's root.
fn revoked(args: &RevokeArgs, attach: &Attach, nation: &str) -> Result<Revoked, CliError> {
    let nation = nation.to_string();
    Ok(match &args.what {
        RevokeWhat::Translator { id, version } => Revoked::Translator {
            id: id.clone(),
            version: version.unwrap_or(0),
        },
        RevokeWhat::ProducerKey { producer, cert } => {
            let path = match cert {
                Some(path) => path.clone(),
                None => attach
                    .nation_keys(&nation)?
                    .join("producers")
                    .join(format!("{producer}.cert")),
            };
            certified_key(attach, &nation, &path, producer)?
        }
        RevokeWhat::AuthorityKey { cert } => {
            let path = match cert {
                Some(path) => path.clone(),
                None => attach.revocation_authority_files(&nation)?.1,
            };
            certified_key(attach, &nation, &path, REVOCATION_AUTHORITY_IDENTITY)?
        }
        RevokeWhat::Product {
            producer,
            feed,
            product_id,
        } => Revoked::Product(ProductKey {
            origin: nation,
            producer_id: producer.clone(),
            feed: feed.clone(),
            product_id: product_id.clone(),
        }),
        RevokeWhat::Suspend { partner } => Revoked::SuspendPartner(partner.clone()),
        RevokeWhat::Reinstate { partner } => Revoked::ReinstatePartner(partner.clone()),
    })
}

/// The revocation of the key certified by `path`, which must be this
/// nation's certificate for `identity`.
fn certified_key(
    attach: &Attach,
    nation: &str,
    path: &Path,
    identity: &str,
) -> Result<Revoked, CliError> {
    let anchors = attach.trust_anchors()?;
    let cert = verify_certificate(&read(path)?, &anchors).map_err(|r| usage(path, r))?;
    if cert.nation != *nation || cert.producer_id != identity {
        return Err(usage(
            path,
            format!("is the certificate of {}/{}", cert.nation, cert.producer_id),
        ));
    }
    Ok(Revoked::ProducerKey {
        nation: nation.to_string(),
        producer_id: identity.to_string(),
        key_sha256: *cert.key.id(),
    })
}

/// A translator spec, as written by people.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TranslatorSpec {
    id: String,
    version: u32,
    from: String,
    to: String,
    source_policy_versions: [u32; 2],
    target_policy_versions: [u32; 2],
    not_before_ms: i64,
    not_after_ms: i64,
    classifications: BTreeMap<String, String>,
    #[serde(default)]
    categories: BTreeMap<String, String>,
    #[serde(default)]
    required_categories: BTreeSet<String>,
    #[serde(default)]
    forbidden_categories: BTreeSet<String>,
}

/// A nation policy spec.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PolicySpec {
    nation: String,
    version: u32,
    classifications: Vec<String>,
    #[serde(default)]
    caveats: BTreeMap<String, bool>,
    #[serde(default)]
    informative: Vec<String>,
}

pub(crate) fn parse_spec<T: for<'de> Deserialize<'de>>(path: &Path) -> Result<T, CliError> {
    let text = String::from_utf8(read(path)?).map_err(|_| usage(path, "not UTF-8 text"))?;
    toml::from_str(&text).map_err(|e| {
        let line = e
            .span()
            .map_or(0, |s| text[..s.start].matches('\n').count() + 1);
        usage(path, format!("line {line}: {}", e.message()))
    })
}

pub(crate) fn write_object(path: &Path, body: Body) -> Result<(), CliError> {
    let bytes = ControlMessage { body: Some(body) }.encode_to_vec();
    std::fs::write(path, bytes).map_err(|e| usage(path, format!("cannot write: {e}")))
}

fn read_object(path: &Path) -> Result<Body, CliError> {
    ControlMessage::decode(read(path)?.as_slice())
        .ok()
        .and_then(|m| m.body)
        .ok_or_else(|| usage(path, "not a signed control object (.ctl)"))
}

/// `coalition translator ...`
pub fn translator(cmd: TranslatorCommand) -> Result<(), CliError> {
    match cmd {
        TranslatorCommand::Issue {
            spec,
            nation,
            key,
            out,
        } => {
            let s: TranslatorSpec = parse_spec(&spec)?;
            let t = Translator {
                id: s.id,
                version: s.version,
                from: s.from,
                to: s.to,
                source_versions: s.source_policy_versions[0]..=s.source_policy_versions[1],
                target_versions: s.target_policy_versions[0]..=s.target_policy_versions[1],
                classifications: s.classifications,
                categories: s.categories,
                required: s.required_categories,
                forbidden: s.forbidden_categories,
                not_before_ms: s.not_before_ms,
                not_after_ms: s.not_after_ms,
            };
            // Refuse what a bridge would refuse.
            Translator::from_wire(t.to_wire()).map_err(|e| usage(&spec, e))?;
            if nation != t.from && nation != t.to {
                return Err(usage(
                    &spec,
                    format!("{nation} is not a party ({} -> {})", t.from, t.to),
                ));
            }
            let signed =
                sign_translator(&t, &nation, &load_key(&key)?).map_err(|e| usage(&key, e))?;
            write_object(&out, Body::Translator(signed))?;
            println!(
                "signed {} as {nation}; the other party must cosign it",
                t.name()
            );
        }
        TranslatorCommand::Cosign {
            input,
            nation,
            key,
            out,
        } => {
            let Body::Translator(mut signed) = read_object(&input)? else {
                return Err(usage(&input, "is not a translator"));
            };
            cosign_translator(&mut signed, &nation, &load_key(&key)?)
                .map_err(|e| usage(&key, e))?;
            write_object(&out, Body::Translator(signed))?;
            println!("co-signed as {nation}");
        }
    }
    Ok(())
}

/// `coalition policy sign`
pub fn policy(cmd: PolicyCommand) -> Result<(), CliError> {
    let PolicyCommand::Sign { spec, key, out } = cmd;
    let s: PolicySpec = parse_spec(&spec)?;
    let policy = NationPolicy {
        nation: s.nation,
        version: s.version,
        classifications: s.classifications,
        caveats: s.caveats.into_iter().collect(),
        informative: s.informative,
    };
    NationPolicy::from_document(policy.to_document(0)).map_err(|e| usage(&spec, e))?;
    let signed =
        sign_policy(&policy, &load_key(&key)?, crate::now_ms()).map_err(|e| usage(&key, e))?;
    write_object(&out, Body::Policy(signed))?;
    println!("signed {} policy v{}", policy.nation, policy.version);
    Ok(())
}

/// `coalition control publish`
pub async fn publish(args: PublishControlArgs) -> Result<(), CliError> {
    let clients = args.attach.resolve_for(Keys::Unused)?.clients()?;
    let body = read_object(&args.file)?;
    let publisher = publisher(&clients).await?;
    let decode = |o: &SignedObject| o.body.clone();
    match &body {
        Body::Policy(o) => {
            let doc = coalition_schemas::v1::NationPolicyDocument::decode(decode(o))
                .map_err(|e| usage(&args.file, e))?;
            publisher
                .publish_policy(&doc.nation, doc.version, o.clone())
                .await?;
            println!("published {} policy v{}", doc.nation, doc.version);
        }
        Body::Translator(o) => {
            let t = coalition_schemas::v1::Translator::decode(decode(o))
                .map_err(|e| usage(&args.file, e))?;
            if o.signatures.len() < 2 {
                return Err(usage(
                    &args.file,
                    "has one signature; both nations must sign (translator cosign)",
                ));
            }
            publisher
                .publish_translator(&t.id, t.version, o.clone())
                .await?;
            println!("published translator {}@{}", t.id, t.version);
        }
        Body::SchemaPolicy(o) => {
            let doc = coalition_schemas::v1::SchemaPolicyDocument::decode(decode(o))
                .map_err(|e| usage(&args.file, e))?;
            publisher
                .publish_schema_policy(&doc.nation, doc.version, o.clone())
                .await?;
            println!("published {} schema policy v{}", doc.nation, doc.version);
        }
        _ => {
            return Err(usage(
                &args.file,
                "only policy documents, schema policies and translators are published this way",
            ))
        }
    }
    Ok(())
}
