//! The exercise folder: everything `coalition exercise prepare` writes, and
//! reading it back for the commands that follow.
//!
//! ```text
//! <dir>/exercise.json        project name and server count (this file)
//! <dir>/docker-compose.yml   every container (crate::compose_file)
//! <dir>/mesh/                generated configs and development PKI, mounted read-only
//! <dir>/mesh/topology.toml   the topology the mesh was generated from
//! <dir>/data/<SERVER>/       JetStream stores
//! <dir>/ledger/              what agents, sidecars and the driver wrote
//! <dir>/logs/                container logs, saved after a run
//! <dir>/report.md, timeline.svg, timeline.png
//! ```
use std::path::{Path, PathBuf};

use coalition_topology::{generate, parse_topology, Credentials, FeedKind, Rate, Topology};
use serde::{Deserialize, Serialize};

use crate::ledger::LedgerDir;
use crate::plan::Plan;
use crate::scenario::PartnerQuota;
use crate::{compose_file, now_ms, ExerciseError};

const MARKER: &str = "exercise.json";

/// What `exercise.json` holds.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Manifest {
    project: String,
    servers: Option<usize>,
    /// A scenario's ingress quota, applied over the topology file's.
    #[serde(default)]
    quota: Option<PartnerQuota>,
}

/// A prepared exercise folder.
#[derive(Debug, Clone)]
pub struct Exercise {
    /// The folder (absolute).
    pub dir: PathBuf,
    /// Its containers.
    pub plan: Plan,
}

impl Exercise {
    /// Writes a fresh exercise for the topology file `topology` into `dir`,
    /// refusing a folder that holds anything but an earlier exercise.
    pub fn prepare(
        dir: &Path,
        topology: &Path,
        project: &str,
        servers: Option<usize>,
    ) -> Result<Exercise, ExerciseError> {
        Exercise::prepare_with_quota(dir, topology, project, servers, None)
    }

    /// [`Exercise::prepare`], with a scenario's ingress quota on one
    /// partner written into the bridge configs of every nation that
    /// receives from it (`partner-flood`).
    pub fn prepare_with_quota(
        dir: &Path,
        topology: &Path,
        project: &str,
        servers: Option<usize>,
        quota: Option<&PartnerQuota>,
    ) -> Result<Exercise, ExerciseError> {
        // A topology file that cannot be read is the caller's to fix
        // (exit 2), like one that does not parse.
        let text = std::fs::read_to_string(topology).map_err(|e| {
            ExerciseError::Usage(format!(
                "cannot read the topology file {}: {e}",
                topology.display()
            ))
        })?;
        let first = parse_topology(&text, topology)?;
        let text = with_alert_feeds(&text, &first);
        let parsed = with_quota(parse_topology(&text, topology)?, quota);
        let plan = Plan::new(project, parsed, servers)?;
        let dir = absolute(dir)?;
        clear(&dir)?;
        let mesh = dir.join("mesh");
        write_mesh(&mesh, &plan.topology, &plan)?;
        write(&mesh.join("topology.toml"), text.as_bytes(), false)?;
        for id in plan.topology.servers() {
            mkdir(&dir.join(Plan::data_dir(&id)))?;
        }
        mkdir(&dir.join("ledger").join("links"))?;
        mkdir(&dir.join("logs"))?;
        write(
            &dir.join("docker-compose.yml"),
            compose_file::render(&plan, &dir).as_bytes(),
            false,
        )?;
        let manifest = Manifest {
            project: project.to_string(),
            servers,
            quota: quota.cloned(),
        };
        let json = serde_json::to_vec_pretty(&manifest)
            .map_err(|e| ExerciseError::Runtime(format!("cannot encode {MARKER}: {e}")))?;
        write(&dir.join(MARKER), &json, false)?;
        Ok(Exercise { dir, plan })
    }

    /// Opens a folder made by [`Exercise::prepare`].
    pub fn open(dir: &Path) -> Result<Exercise, ExerciseError> {
        let dir = absolute(dir)?;
        let path = dir.join(MARKER);
        let text = std::fs::read_to_string(&path).map_err(|_| {
            ExerciseError::Usage(format!(
                "{} is not an exercise folder (no {MARKER}); make one with `coalition exercise prepare --dir {}`",
                dir.display(),
                dir.display()
            ))
        })?;
        let manifest: Manifest = serde_json::from_str(&text)
            .map_err(|e| ExerciseError::Usage(format!("{}: {e}", path.display())))?;
        let topology_path = dir.join("mesh").join("topology.toml");
        let topology = with_quota(
            coalition_topology::parse_topology_file(&topology_path)?,
            manifest.quota.as_ref(),
        );
        let plan = Plan::new(&manifest.project, topology, manifest.servers)?;
        Ok(Exercise { dir, plan })
    }

    /// The compose file.
    pub fn compose_file(&self) -> PathBuf {
        self.dir.join("docker-compose.yml")
    }

    /// The ledger folder.
    pub fn ledger(&self) -> LedgerDir {
        LedgerDir(self.dir.join("ledger"))
    }

    /// Empties the ledger, the stores and the logs for a new run, keeping
    /// the configs and keys.
    pub fn reset_run_state(&self) -> Result<(), ExerciseError> {
        for sub in ["ledger", "data", "logs"] {
            let path = self.dir.join(sub);
            if path.exists() {
                std::fs::remove_dir_all(&path)
                    .map_err(ExerciseError::io(format!("clear {}", path.display())))?;
            }
        }
        for id in self.plan.topology.servers() {
            mkdir(&self.dir.join(Plan::data_dir(&id)))?;
        }
        mkdir(&self.dir.join("ledger").join("links"))?;
        mkdir(&self.dir.join("logs"))
    }
}

/// The feed every exercise producer raises alerts on, beside its tracks.
pub const ALERT_FEED: &str = "alerts";

/// The topology file's text with an alert feed ([`ALERT_FEED`]) added for
/// every producer that has a track feed and no alert feed: exercise
/// producers raise alerts too, so every scenario shows alerts crossing
/// beside the tracks (in their own lane). The mesh is generated from this
/// text, so the producers' certificates and permissions cover the feed.
pub fn with_alert_feeds(text: &str, topology: &Topology) -> String {
    let mut out = text.to_string();
    let mut added = std::collections::BTreeSet::new();
    for f in &topology.feeds {
        let has_alerts = topology
            .feeds
            .iter()
            .any(|g| g.nation == f.nation && g.producer == f.producer && g.kind == FeedKind::Alert);
        if has_alerts || !added.insert((f.nation.clone(), f.producer.clone())) {
            continue;
        }
        if added.len() == 1 {
            out.push_str("\n# Added by the exercise: every producer also raises alerts.\n");
        }
        out.push_str(&format!(
            "[[feed]]\nnation = \"{}\"\nproducer = \"{}\"\nname = \"{ALERT_FEED}\"\nkind = \"alert\"\n",
            f.nation, f.producer
        ));
    }
    out
}

/// `topology` with `quota` set on every nation that receives from its
/// partner.
pub fn with_quota(mut topology: Topology, quota: Option<&PartnerQuota>) -> Topology {
    let Some(q) = quota else {
        return topology;
    };
    let receivers: Vec<String> = topology
        .links
        .iter()
        .filter(|l| l.from == q.partner)
        .map(|l| l.to.clone())
        .collect();
    for nation in topology
        .nations
        .iter_mut()
        .filter(|n| receivers.contains(&n.code))
    {
        nation.rate_limits.partners.insert(
            q.partner.clone(),
            Rate {
                msgs_per_sec: q.tracks_per_sec,
                burst: q.tracks_per_sec,
            },
        );
    }
    topology
}

fn absolute(dir: &Path) -> Result<PathBuf, ExerciseError> {
    if dir.is_absolute() {
        return Ok(dir.to_path_buf());
    }
    let cwd = std::env::current_dir().map_err(ExerciseError::io("read the current folder"))?;
    Ok(cwd.join(dir))
}

/// Removes an earlier exercise in `dir`; refuses a folder with other files.
fn clear(dir: &Path) -> Result<(), ExerciseError> {
    if dir.exists() {
        let empty = std::fs::read_dir(dir)
            .map(|mut d| d.next().is_none())
            .unwrap_or(false);
        if !empty && !dir.join(MARKER).exists() {
            return Err(ExerciseError::Usage(format!(
                "{} exists and is not an exercise folder; pass another --dir",
                dir.display()
            )));
        }
        std::fs::remove_dir_all(dir)
            .map_err(ExerciseError::io(format!("clear {}", dir.display())))?;
    }
    mkdir(dir)
}

fn write_mesh(mesh: &Path, topology: &Topology, plan: &Plan) -> Result<(), ExerciseError> {
    let generated = generate(topology, &plan.addressing(), &mut Credentials::random())?;
    for file in generated.files() {
        write(
            &mesh.join(&file.path),
            file.contents.as_bytes(),
            file.is_private(),
        )?;
    }
    nats_harness::generate_dev_pki(mesh, topology, now_ms())?;
    Ok(())
}

fn write(path: &Path, bytes: &[u8], private: bool) -> Result<(), ExerciseError> {
    Ok(nats_harness::write_key_file(path, bytes, private)?)
}

fn mkdir(path: &Path) -> Result<(), ExerciseError> {
    std::fs::create_dir_all(path).map_err(ExerciseError::io(format!("create {}", path.display())))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn topology_file() -> PathBuf {
        nats_harness::workspace_root().join("topologies/coalition-3.toml")
    }

    #[test]
    fn prepare_writes_configs_keys_and_compose_and_open_reads_them_back() {
        let temp = tempfile::tempdir().unwrap();
        let dir = temp.path().join("ex");
        let ex = Exercise::prepare(&dir, &topology_file(), "cm-layout", Some(1)).unwrap();
        for f in [
            "docker-compose.yml",
            "mesh/nats/GBR-0.conf",
            "mesh/bridges/USA.toml",
            "mesh/clients/FRA.toml",
            "mesh/keys/USA/root.pub",
            "mesh/keys/USA/revocation-authority.cert",
            "mesh/topology.toml",
            "data/GBR-0",
            "ledger/links",
        ] {
            assert!(dir.join(f).exists(), "{f}");
        }
        assert!(
            !dir.join("mesh/nats/GBR-1.conf").exists(),
            "--servers 1 applies to GBR too"
        );
        let conf = std::fs::read_to_string(dir.join("mesh/nats/GBR-0.conf")).unwrap();
        assert!(
            conf.contains("cm-layout-link-usa-gbr-0:7422"),
            "GBR dials USA's sidecar"
        );
        assert!(conf.contains("store_dir: \"/data\""));
        let back = Exercise::open(&dir).unwrap();
        assert_eq!(back.plan.services, ex.plan.services);
        // A second prepare replaces the first.
        Exercise::prepare(&dir, &topology_file(), "cm-layout", None).unwrap();
        assert!(dir.join("mesh/nats/GBR-2.conf").exists());
    }

    #[test]
    fn a_quota_reaches_the_bridge_configs_of_the_partner_s_receivers_and_survives_open() {
        let temp = tempfile::tempdir().unwrap();
        let dir = temp.path().join("ex");
        let quota = PartnerQuota {
            partner: "USA".into(),
            tracks_per_sec: 200,
        };
        Exercise::prepare_with_quota(&dir, &topology_file(), "cm-quota", Some(1), Some(&quota))
            .unwrap();
        for receiver in ["GBR", "FRA"] {
            let config =
                std::fs::read_to_string(dir.join(format!("mesh/bridges/{receiver}.toml"))).unwrap();
            assert!(
                config.contains("[rate_limits.partners.USA]")
                    && config.contains("msgs_per_sec = 200"),
                "{receiver}: {config}"
            );
        }
        let usa = std::fs::read_to_string(dir.join("mesh/bridges/USA.toml")).unwrap();
        assert!(!usa.contains("[rate_limits.partners.USA]"), "{usa}");
        let back = Exercise::open(&dir).unwrap();
        let gbr = back.plan.topology.nation("GBR").unwrap();
        assert_eq!(gbr.rate_limits.partners["USA"].msgs_per_sec, 200);
        assert!(back
            .plan
            .topology
            .nation("USA")
            .unwrap()
            .rate_limits
            .partners
            .is_empty());
    }

    #[test]
    fn every_producer_gets_an_alert_feed_once_and_its_certificate_covers_it() {
        let temp = tempfile::tempdir().unwrap();
        let dir = temp.path().join("ex");
        let ex = Exercise::prepare(&dir, &topology_file(), "cm-alerts", Some(1)).unwrap();
        let alerts: Vec<_> = ex
            .plan
            .topology
            .feeds
            .iter()
            .filter(|f| f.kind == FeedKind::Alert)
            .map(|f| (f.nation.as_str(), f.producer.as_str(), f.name.as_str()))
            .collect();
        assert_eq!(
            alerts,
            [
                ("USA", "usa-radar-1", ALERT_FEED),
                ("GBR", "gbr-radar-1", ALERT_FEED),
                ("FRA", "fra-radar-1", ALERT_FEED)
            ]
        );
        // Still one producer container per producer.
        let producers = ex
            .plan
            .services
            .iter()
            .filter(|s| matches!(s.role, crate::plan::Role::Producer { .. }))
            .count();
        assert_eq!(producers, 3);
        // The text written is the text parsed: open sees the same feeds,
        // and a second pass adds nothing.
        let back = Exercise::open(&dir).unwrap();
        assert_eq!(back.plan.topology.feeds, ex.plan.topology.feeds);
        let text = std::fs::read_to_string(dir.join("mesh/topology.toml")).unwrap();
        assert_eq!(with_alert_feeds(&text, &back.plan.topology), text);
    }

    #[test]
    fn a_folder_that_is_not_an_exercise_is_left_alone() {
        let temp = tempfile::tempdir().unwrap();
        std::fs::write(temp.path().join("precious.txt"), "x").unwrap();
        let e = Exercise::prepare(temp.path(), &topology_file(), "cm-x", None).unwrap_err();
        assert!(e.to_string().contains("is not an exercise folder"), "{e}");
        assert!(temp.path().join("precious.txt").exists());
        let e = Exercise::open(temp.path()).unwrap_err();
        assert!(e.to_string().contains("coalition exercise prepare"), "{e}");
    }
}
