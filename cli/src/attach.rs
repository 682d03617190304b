//! Where a command that connects to a nation finds it: a mesh folder
//! (`--dir D --nation N`, from `coalition run` or `coalition topology
//! generate`), or a deployed nation's generated clients file
//! (`--clients FILE`) with a keys folder (`--keys DIR`). Used by
//! `publish`, `subscribe`, `forward`, `revoke`, `control publish` and
//! `audit`.
//!
//! With `--clients`, the TLS paths in the file are taken relative to the
//! file's folder (as the generator writes them), the nation is the file's
//! `nation`, and `--keys DIR` has the layout of a mesh folder's `keys/`:
//! `<DIR>/<NATION>/root.pub` for every nation whose producers are trusted
//! (subscribe, forward, audit verify, revoke), `<DIR>/<NATION>/producers/
//! <id>.key|.cert` for `publish`, `<DIR>/<NATION>/revocation-authority.
//! key|.cert` for `revoke`. A command that reads no key ([`Keys::Unused`]:
//! `control publish`, `audit dump|show|tail`) does not ask for `--keys`.
//! This module only resolves paths and loads files; it does not connect.
use std::path::{Path, PathBuf};

use clap::Args;
use coalition_core::keys::PublicKey;
use coalition_core::revocation::REVOCATION_AUTHORITY_IDENTITY;
use coalition_sdk::{load_trust_anchor, TrustAnchors};
use coalition_topology::ClientsConfig;

use crate::error::CliError;

/// The flags that say where the nation is. Exactly one of `--dir` (with
/// `--nation`) and `--clients` (with `--keys`, where keys are read).
#[derive(Debug, Clone, Default, Args)]
pub struct AttachArgs {
    /// A mesh folder (e.g. run/coalition-3), with --nation.
    #[arg(long)]
    pub dir: Option<PathBuf>,
    /// The nation to act in, with --dir.
    #[arg(long)]
    pub nation: Option<String>,
    /// A deployed nation's generated clients file (clients/<NATION>.toml);
    /// its TLS paths are relative to its folder. Instead of --dir/--nation;
    /// needs --keys wherever a key is read (all but control publish and
    /// audit dump|show|tail).
    #[arg(long)]
    pub clients: Option<PathBuf>,
    /// With --clients: a keys folder in the layout of a mesh folder's keys/:
    /// <KEYS>/<NATION>/root.pub for each trusted nation (subscribe, forward,
    /// audit verify, revoke), <KEYS>/<NATION>/producers/<id>.key and .cert
    /// (publish), <KEYS>/<NATION>/revocation-authority.key and .cert
    /// (revoke).
    #[arg(long)]
    pub keys: Option<PathBuf>,
}

/// A resolved [`AttachArgs`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Attach {
    /// A mesh folder and one of its nations.
    Dir {
        /// The folder.
        dir: PathBuf,
        /// The nation.
        nation: String,
    },
    /// A deployed nation's clients file and a keys folder.
    Clients {
        /// The clients file.
        file: PathBuf,
        /// The keys folder; absent only for a command that reads no key.
        keys: Option<PathBuf>,
    },
}

/// Whether a command reads keys (roots, producer or authority keys): with
/// `--clients`, `--keys` is required only if it does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Keys {
    /// The command verifies or signs: `--clients` needs `--keys`.
    Needed,
    /// It only connects and reads or publishes what is already signed;
    /// `--keys`, if given, is not read.
    Unused,
}

const EXACTLY_ONE: &str =
    "give either --dir DIR --nation NATION (a mesh folder) or --clients FILE --keys DIR (a deployed nation)";

impl AttachArgs {
    /// Checks the combination of flags for a command that reads keys.
    /// Pure: no file is read.
    pub fn resolve(&self) -> Result<Attach, CliError> {
        self.resolve_for(Keys::Needed)
    }

    /// Checks the combination of flags; `keys` says whether `--clients`
    /// needs `--keys`. Pure: no file is read.
    pub fn resolve_for(&self, keys: Keys) -> Result<Attach, CliError> {
        let usage = |m: &str| Err(CliError::Usage(format!("{m}: {EXACTLY_ONE}")));
        match (&self.dir, &self.nation, &self.clients, &self.keys) {
            (Some(dir), Some(nation), None, None) => Ok(Attach::Dir {
                dir: dir.clone(),
                nation: nation.clone(),
            }),
            (None, None, Some(file), Some(k)) => Ok(Attach::Clients {
                file: file.clone(),
                keys: Some(k.clone()),
            }),
            (None, None, Some(file), None) if keys == Keys::Unused => Ok(Attach::Clients {
                file: file.clone(),
                keys: None,
            }),
            (None, None, None, None) => usage("no nation to act in"),
            (Some(_), _, Some(_), _) => usage("--dir and --clients cannot be used together"),
            (Some(_), None, None, _) => usage("--dir needs --nation"),
            (None, Some(_), None, _) => usage("--nation needs --dir"),
            (Some(_), Some(_), None, Some(_)) => usage(
                "--keys goes with --clients (a mesh folder's keys are under its keys/ folder)",
            ),
            (None, Some(_), Some(_), _) => usage(
                "--nation goes with --dir (with --clients the nation is the clients file's `nation`)",
            ),
            (None, None, Some(_), None) => usage("--clients needs --keys"),
            (None, None, None, Some(_)) => usage("--keys needs --clients"),
        }
    }
}

impl Attach {
    /// The clients file's path.
    pub fn clients_path(&self) -> PathBuf {
        match self {
            Attach::Dir { dir, nation } => dir.join("clients").join(format!("{nation}.toml")),
            Attach::Clients { file, .. } => file.clone(),
        }
    }

    /// The nation acted in: `--nation`, or the clients file's `nation`
    /// (which is then loaded).
    pub fn nation(&self) -> Result<String, CliError> {
        match self {
            Attach::Dir { nation, .. } => Ok(nation.clone()),
            Attach::Clients { .. } => Ok(self.clients()?.nation),
        }
    }

    /// Loads the clients file (TLS paths resolved against its folder).
    pub fn clients(&self) -> Result<ClientsConfig, CliError> {
        let path = self.clients_path();
        if let Attach::Dir { dir, .. } = self {
            if !dir.is_dir() {
                return Err(CliError::Usage(format!(
                    "{}: no such folder (expected a mesh folder from `coalition run` or `coalition topology generate`)",
                    dir.display()
                )));
            }
        }
        if !path.is_file() {
            return Err(CliError::Usage(match self {
                Attach::Dir { dir, nation } => format!(
                    "{} not found: is {} a mesh folder, and {nation} one of its nations?",
                    path.display(),
                    dir.display()
                ),
                Attach::Clients { .. } => format!(
                    "--clients {}: no such file (give the generated clients/<NATION>.toml)",
                    path.display()
                ),
            }));
        }
        let cfg = ClientsConfig::load(&path)?;
        if let Attach::Dir { nation, .. } = self {
            if &cfg.nation != nation {
                return Err(CliError::Usage(format!(
                    "{} is the clients file of {}, not {nation}",
                    path.display(),
                    cfg.nation
                )));
            }
        }
        Ok(cfg)
    }

    /// `nation`'s folder of keys: its root.pub, producers/ and
    /// revocation-authority files.
    pub fn nation_keys(&self, nation: &str) -> Result<PathBuf, CliError> {
        match self {
            Attach::Dir { dir, .. } => Ok(nats_harness::nation_key_dir(dir, nation)),
            Attach::Clients { keys, .. } => Ok(keys_folder(keys)?.join(nation)),
        }
    }

    /// The default revocation-authority key and certificate of `nation`.
    pub fn revocation_authority_files(&self, nation: &str) -> Result<(PathBuf, PathBuf), CliError> {
        let dir = self.nation_keys(nation)?;
        let file = |ext: &str| dir.join(format!("{REVOCATION_AUTHORITY_IDENTITY}.{ext}"));
        Ok((file("key"), file("cert")))
    }

    /// `nation`'s own root public key: the anchor in its bridge config
    /// (mesh folder), or `<KEYS>/<NATION>/root.pub`.
    pub fn own_anchor(&self, nation: &str) -> Result<PublicKey, CliError> {
        match self {
            Attach::Dir { dir, .. } => {
                let path = dir.join("bridges").join(format!("{nation}.toml"));
                self.trust_anchors()?.remove(nation).ok_or_else(|| {
                    CliError::Usage(format!(
                        "{}: has no trust anchor for {nation} itself",
                        path.display()
                    ))
                })
            }
            Attach::Clients { keys, .. } => {
                let keys = keys_folder(keys)?;
                let path = keys.join(nation).join("root.pub");
                if !path.is_file() {
                    return Err(CliError::Usage(format!(
                        "--keys {}: no {nation}/root.pub in it ({}: not found); {nation}'s root public key certifies its keys",
                        keys.display(),
                        path.display()
                    )));
                }
                Ok(load_trust_anchor(&path)?)
            }
        }
    }

    /// Where [`Attach::own_anchor`] reads `nation`'s root, for messages.
    pub fn own_anchor_source(&self, nation: &str) -> String {
        match self {
            Attach::Dir { .. } => format!("the trust anchor in bridges/{nation}.toml"),
            Attach::Clients { keys, .. } => match keys {
                Some(k) => k.join(nation).join("root.pub").display().to_string(),
                None => format!("<KEYS>/{nation}/root.pub"),
            },
        }
    }

    /// The trust anchors of a subscriber: in a mesh folder, the roots its
    /// nation's bridge trusts (bridges/<NATION>.toml); with `--keys`, every
    /// `<KEYS>/<NATION>/root.pub` there is.
    pub fn trust_anchors(&self) -> Result<TrustAnchors, CliError> {
        let mut anchors = TrustAnchors::new();
        match self {
            Attach::Dir { dir, nation } => {
                let bridge_path = dir.join("bridges").join(format!("{nation}.toml"));
                let bridge = coalition_topology::BridgeConfig::load(&bridge_path)?;
                for code in bridge.trust_anchors.keys() {
                    if let Some(path) = bridge.anchor_path(&bridge_path, code) {
                        anchors.insert(code.clone(), load_trust_anchor(&path)?);
                    }
                }
            }
            Attach::Clients { keys, .. } => {
                for (code, path) in root_keys(keys_folder(keys)?)? {
                    anchors.insert(code, load_trust_anchor(&path)?);
                }
            }
        }
        Ok(anchors)
    }
}

/// The `--keys` folder; a usage error if it was not given (only a
/// command resolved with [`Keys::Unused`] gets this far without one).
fn keys_folder(keys: &Option<PathBuf>) -> Result<&Path, CliError> {
    keys.as_deref().ok_or_else(|| {
        CliError::Usage(format!(
            "--clients needs --keys here (this command reads keys): {EXACTLY_ONE}"
        ))
    })
}

/// Every `<keys>/<NATION>/root.pub`, by nation; an error if there is none.
fn root_keys(keys: &Path) -> Result<Vec<(String, PathBuf)>, CliError> {
    let entries = std::fs::read_dir(keys).map_err(|e| {
        CliError::Usage(format!(
            "--keys {}: cannot read the folder: {e}",
            keys.display()
        ))
    })?;
    let mut found = Vec::new();
    for entry in entries.flatten() {
        let root = entry.path().join("root.pub");
        if root.is_file() {
            found.push((entry.file_name().to_string_lossy().to_string(), root));
        }
    }
    found.sort();
    if found.is_empty() {
        return Err(CliError::Usage(format!(
            "--keys {}: no <NATION>/root.pub in it, so no producer could be trusted",
            keys.display()
        )));
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(dir: bool, nation: bool, clients: bool, keys: bool) -> AttachArgs {
        AttachArgs {
            dir: dir.then(|| "mesh".into()),
            nation: nation.then(|| "GBR".into()),
            clients: clients.then(|| "GBR.toml".into()),
            keys: keys.then(|| "keys".into()),
        }
    }

    #[test]
    fn exactly_one_way_to_attach_is_accepted() {
        assert_eq!(
            args(true, true, false, false).resolve().unwrap(),
            Attach::Dir {
                dir: "mesh".into(),
                nation: "GBR".into()
            }
        );
        assert_eq!(
            args(false, false, true, true).resolve().unwrap(),
            Attach::Clients {
                file: "GBR.toml".into(),
                keys: Some("keys".into())
            }
        );
        let refused = [
            ((false, false, false, false), "no nation to act in"),
            (
                (true, true, true, true),
                "--dir and --clients cannot be used together",
            ),
            (
                (true, false, true, false),
                "--dir and --clients cannot be used together",
            ),
            ((true, false, false, false), "--dir needs --nation"),
            ((false, true, false, false), "--nation needs --dir"),
            ((true, true, false, true), "--keys goes with --clients"),
            ((false, true, true, true), "--nation goes with --dir"),
            ((false, false, true, false), "--clients needs --keys"),
            ((false, false, false, true), "--keys needs --clients"),
        ];
        for ((d, n, c, k), want) in refused {
            let e = args(d, n, c, k).resolve().unwrap_err();
            assert_eq!(e.exit_code(), 2);
            let msg = e.to_string();
            assert!(msg.starts_with(want), "{d} {n} {c} {k}: {msg}");
            assert!(msg.contains("--clients FILE --keys DIR"), "{msg}");
        }
    }

    #[test]
    fn a_command_that_reads_no_key_takes_clients_without_keys() {
        let unused = |d, n, c, k| args(d, n, c, k).resolve_for(Keys::Unused);
        let file: PathBuf = "GBR.toml".into();
        assert_eq!(
            unused(false, false, true, false).unwrap(),
            Attach::Clients {
                file: file.clone(),
                keys: None
            }
        );
        assert_eq!(
            unused(false, false, true, true).unwrap(),
            Attach::Clients {
                file,
                keys: Some("keys".into())
            }
        );
        // Every other refusal is the same as for a command that reads keys.
        for (d, n, c, k) in [
            (false, false, false, false),
            (true, false, true, false),
            (false, true, true, false),
            (false, false, false, true),
        ] {
            assert_eq!(
                unused(d, n, c, k).unwrap_err().to_string(),
                args(d, n, c, k).resolve().unwrap_err().to_string()
            );
        }
        // A key asked for anyway is a usage error, not a panic.
        let keyless = unused(false, false, true, false).unwrap();
        let e = keyless.nation_keys("GBR").unwrap_err();
        assert_eq!(e.exit_code(), 2);
        assert!(e.to_string().starts_with("--clients needs --keys"), "{e}");
        assert!(keyless.trust_anchors().is_err());
    }

    #[test]
    fn keys_paths_follow_the_mesh_folder_layout() {
        let dir = Attach::Dir {
            dir: "m".into(),
            nation: "USA".into(),
        };
        assert_eq!(dir.nation_keys("USA").unwrap(), Path::new("m/keys/USA"));
        assert_eq!(
            dir.revocation_authority_files("USA").unwrap(),
            nats_harness::revocation_authority_files(Path::new("m"), "USA")
        );
        assert_eq!(dir.clients_path(), Path::new("m/clients/USA.toml"));
        let clients = Attach::Clients {
            file: "etc/USA.toml".into(),
            keys: Some("k".into()),
        };
        assert_eq!(clients.nation_keys("USA").unwrap(), Path::new("k/USA"));
        assert_eq!(
            clients.revocation_authority_files("USA").unwrap(),
            (
                PathBuf::from("k/USA/revocation-authority.key"),
                PathBuf::from("k/USA/revocation-authority.cert")
            )
        );
        assert_eq!(clients.clients_path(), Path::new("etc/USA.toml"));
    }
}
