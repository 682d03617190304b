//! One nation of a test mesh run as if on a machine of its own: its
//! nats-servers, its bridge and a producer as separate processes in the
//! idle scheduling class (`SCHED_IDLE`, by `chrt`: they run only when no
//! other process wants the CPU, and give it up at once when one does), so
//! that what they do takes no CPU time the other nations' processes want.
//!
//! Its JetStream stores can be put on a disk of their own too
//! ([`mesh_with_own_store`]). In deployment every nation runs on its own
//! hardware. A test that asks how one nation's load affects another's
//! latency (`tests/flood.rs`) would otherwise measure how the two share
//! this machine's 2 cores, its one disk and one tokio runtime, not what the
//! receiving bridge lets through.
//!
//! The producer is this test binary run again, with [`PRODUCER_ENV`] set: the
//! test it runs sees [`producer_role`] and serves commands on stdin
//! ([`ProducerProcess`]) instead of testing.
use std::io::Write as _;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use coalition_sdk::{load_producer_identity, load_trust_anchor, Label, Producer, ProducerOptions};
use coalition_topology::ClientsConfig;
use nats_harness::Mesh;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};

use super::{label, track, within, WAIT};

/// Set (to `<mesh dir>|<nation>|<producer>|<clients file>`) in the
/// environment of a producer process.
pub const PRODUCER_ENV: &str = "COALITION_TEST_PRODUCER_PROCESS";

/// Starts each answer of a producer process on its stdout.
const REPLY: &str = "producer process: ";

/// Starts `toml`'s mesh with `nation`'s JetStream stores on a disk of its
/// own: a RAM-backed folder (`/dev/shm`), so that its writes and fsyncs do
/// not queue with the other nations' on this machine's one disk. Returns
/// the mesh and the folders to keep until it stops.
pub async fn mesh_with_own_store(toml: &str, nation: &str) -> (Mesh, [tempfile::TempDir; 2]) {
    let topology = coalition_topology::parse_topology(toml, std::path::Path::new("<test>"))
        .expect("test topology is valid");
    let servers = topology.nation(nation).expect("nation in topology").servers;
    let dir = tempfile::Builder::new()
        .prefix("coalition-mesh-")
        .tempdir()
        .expect("temporary folder");
    let shm = std::path::Path::new("/dev/shm");
    assert!(shm.is_dir(), "this test needs a RAM-backed /dev/shm");
    let ram = tempfile::Builder::new()
        .prefix("coalition-store-")
        .tempdir_in(shm)
        .expect("folder in /dev/shm");
    let stores = dir.path().join("jetstream");
    std::fs::create_dir_all(&stores).expect("create the stores folder");
    for i in 0..servers {
        let id = coalition_topology::ServerId::new(nation, i).to_string();
        std::fs::create_dir(ram.path().join(&id)).expect("create a RAM store");
        std::os::unix::fs::symlink(ram.path().join(&id), stores.join(&id))
            .expect("link the RAM store");
    }
    let mesh = within("mesh start", Mesh::start_in(topology, dir.path()))
        .await
        .expect("mesh starts");
    (mesh, [dir, ram])
}

/// Puts every thread of a process this test started in the idle
/// scheduling class.
pub fn lower_priority(pid: u32) {
    let status = std::process::Command::new("chrt")
        .args(["--all-tasks", "--idle", "--pid", "0", &pid.to_string()])
        .stdout(Stdio::null())
        .status()
        .expect("run chrt");
    assert!(
        status.success(),
        "chrt --all-tasks --idle --pid 0 {pid}: {status}"
    );
}

/// A command run in the idle scheduling class (its threads inherit it).
fn idle(program: impl AsRef<std::ffi::OsStr>) -> Command {
    let mut command = Command::new("chrt");
    command.args(["--idle", "0"]).arg(program);
    command
}

/// Lowers the priority of every nats-server of `nation`.
pub fn lower_servers_priority(mesh: &Mesh, nation: &str) {
    let pids = mesh.server_pids(nation);
    assert!(!pids.is_empty(), "{nation} has running servers");
    for pid in pids {
        lower_priority(pid);
    }
}

/// `nation`'s bridge as the `coalition-bridge` binary, in the idle scheduling class, logging
/// to `<mesh>/logs/<nation>-bridge.log`; killed when dropped.
pub fn spawn_bridge(mesh: &Mesh, nation: &str) -> Child {
    let log_path = mesh.dir().join("logs").join(format!("{nation}-bridge.log"));
    let log = std::fs::File::create(&log_path)
        .unwrap_or_else(|e| panic!("create {}: {e}", log_path.display()));
    idle(env!("CARGO_BIN_EXE_coalition-bridge"))
        .arg("--config")
        .arg(mesh.bridge_config_path(nation))
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log)
        .kill_on_drop(true)
        .spawn()
        .expect("start the coalition-bridge binary")
}

/// What a producer process published for one command.
#[derive(Debug, Clone, Copy)]
pub struct Sent {
    /// First and last feed seq published (inclusive).
    pub first: u64,
    pub last: u64,
    /// From the first publish to the last one stored.
    pub took: Duration,
}

impl Sent {
    pub fn count(&self) -> u64 {
        self.last + 1 - self.first
    }
}

/// A producer in a process of its own in the idle scheduling class, publishing on command.
pub struct ProducerProcess {
    child: Child,
    log_path: PathBuf,
    stdin: ChildStdin,
    replies: tokio::io::Lines<BufReader<ChildStdout>>,
}

impl ProducerProcess {
    /// Runs `test` of this test binary again as `nation`'s `producer`.
    pub fn spawn(mesh: &Mesh, nation: &str, producer: &str, test: &str) -> Self {
        let clients = mesh
            .clients_config_path(nation)
            .expect("the nation has a clients file");
        let role = format!(
            "{}|{nation}|{producer}|{}",
            mesh.dir().display(),
            clients.display()
        );
        let log_path = mesh
            .dir()
            .join("logs")
            .join(format!("{nation}-{producer}.log"));
        let log = std::fs::File::create(&log_path)
            .unwrap_or_else(|e| panic!("create {}: {e}", log_path.display()));
        let mut child = idle(std::env::current_exe().expect("this test binary"))
            .args(["--exact", test, "--nocapture", "--test-threads", "1"])
            .env(PRODUCER_ENV, role)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(log)
            .kill_on_drop(true)
            .spawn()
            .expect("start the producer process");
        let stdin = child.stdin.take().expect("piped stdin");
        let stdout = child.stdout.take().expect("piped stdout");
        ProducerProcess {
            child,
            log_path,
            stdin,
            replies: BufReader::new(stdout).lines(),
        }
    }

    /// Publishes one message (to see the links deliver).
    pub async fn one(&mut self) -> Sent {
        self.command("one").await
    }

    /// Publishes `per_sec` messages a second, one at a time, for `secs`.
    pub async fn steady(&mut self, per_sec: u32, secs: u64) -> Sent {
        self.command(&format!("steady {per_sec} {secs}")).await
    }

    /// Publishes `per_sec` messages a second in pipelined batches (twenty a
    /// second), for `secs`.
    pub async fn flood(&mut self, per_sec: u32, secs: u64) -> Sent {
        self.command(&format!("flood {per_sec} {secs}")).await
    }

    async fn command(&mut self, line: &str) -> Sent {
        self.stdin
            .write_all(format!("{line}\n").as_bytes())
            .await
            .expect("write to the producer process");
        // The child's test harness prints lines of its own too.
        let limit = WAIT * 2;
        let reply = tokio::time::timeout(limit, async {
            loop {
                match self.replies.next_line().await.expect("read the producer") {
                    // The harness's "test <name> ... " may start the line.
                    Some(l) => match l.split_once(REPLY) {
                        Some((_, reply)) => return reply.to_string(),
                        None => continue,
                    },
                    None => return format!("error the process exited during `{line}`"),
                }
            }
        })
        .await
        .unwrap_or_else(|_| {
            panic!(
                "no answer to `{line}` within {limit:?}; the process's log ({}):\n{}",
                self.log_path.display(),
                std::fs::read_to_string(&self.log_path).unwrap_or_default()
            )
        });
        let fields: Vec<&str> = reply.split(' ').collect();
        match fields.as_slice() {
            ["sent", first, last, micros] => Sent {
                first: first.parse().expect("first seq"),
                last: last.parse().expect("last seq"),
                took: Duration::from_micros(micros.parse().expect("microseconds")),
            },
            _ => panic!(
                "the producer process answered `{line}` with: {reply}; its log ({}):\n{}",
                self.log_path.display(),
                std::fs::read_to_string(&self.log_path).unwrap_or_default()
            ),
        }
    }

    /// Stops the process.
    pub async fn stop(mut self) {
        drop(self.stdin);
        let _ = within("producer process exits", self.child.wait()).await;
    }
}

/// The role this process was started in, if it is a producer process.
pub fn producer_role() -> Option<String> {
    std::env::var(PRODUCER_ENV).ok()
}

/// Serves a parent's commands (see [`ProducerProcess`]) until stdin closes.
pub async fn serve_producer(role: &str) {
    let [dir, nation, producer_id, clients] = role.split('|').collect::<Vec<_>>()[..] else {
        panic!("{PRODUCER_ENV} is not dir|nation|producer|clients: {role}");
    };
    let dir = PathBuf::from(dir);
    let root = load_trust_anchor(&nats_harness::nation_key_dir(&dir, nation).join("root.pub"))
        .expect("root key");
    let (key, cert) = nats_harness::producer_files(&dir, nation, producer_id);
    let identity = load_producer_identity(&key, &cert, nation, &root).expect("producer identity");
    let clients = ClientsConfig::load(std::path::Path::new(clients)).expect("clients file");
    let producer = within(
        "producer connect",
        ProducerOptions::from_clients(&clients, producer_id)
            .expect("producer in clients file")
            .connect(identity),
    )
    .await
    .expect("producer connects");
    eprintln!("producer process: {nation} {producer_id} connected");
    let label = label(nation, "SECRET", &["GBR"]);
    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        eprintln!("producer process: command {line}");
        let words: Vec<&str> = line.split_whitespace().collect();
        let reply = match words.as_slice() {
            ["one"] => publish_at(&producer, &label, 1, 1, 1).await,
            ["steady", per_sec, secs] => match (per_sec.parse(), secs.parse()) {
                (Ok(r), Ok(s)) => publish_at(&producer, &label, r, s, 1).await,
                _ => Err(format!("bad command: {line}")),
            },
            ["flood", per_sec, secs] => match (per_sec.parse::<u32>(), secs.parse()) {
                (Ok(r), Ok(s)) => publish_at(&producer, &label, r, s, (r / 20).max(1)).await,
                _ => Err(format!("bad command: {line}")),
            },
            _ => Err(format!("unknown command: {line}")),
        };
        let reply = match reply {
            Ok(sent) => format!(
                "{REPLY}sent {} {} {}\n",
                sent.first,
                sent.last,
                sent.took.as_micros()
            ),
            Err(e) => format!("{REPLY}error {e}\n"),
        };
        // Straight to the pipe: the test harness may capture `println!`.
        let mut out = std::io::stdout().lock();
        out.write_all(reply.as_bytes())
            .and_then(|()| out.flush())
            .expect("answer the parent");
    }
}

/// Publishes `per_sec` messages a second for `secs` (at least one batch),
/// `batch` at a time (pipelined when more than one).
async fn publish_at(
    producer: &Producer,
    label: &Label,
    per_sec: u32,
    secs: u64,
    batch: u32,
) -> Result<Sent, String> {
    let started = Instant::now();
    let until = started + Duration::from_secs(secs);
    let mut tick = tokio::time::interval(Duration::from_secs(1) * batch / per_sec.max(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let (mut first, mut last) = (None, 0);
    while first.is_none() || Instant::now() < until {
        tick.tick().await;
        let tracks: Vec<_> = (0..batch)
            .map(|i| (label.clone(), track(&format!("own-machine-{i}"))))
            .collect();
        let receipts = producer
            .publish_all(
                "tracks",
                tracks
                    .iter()
                    .map(|(l, t)| coalition_sdk::Record::track(l, t))
                    .collect(),
            )
            .await
            .map_err(|e| e.to_string())?;
        first = first.or(receipts.first().map(|r| r.seq));
        last = receipts.last().map_or(last, |r| r.seq);
    }
    Ok(Sent {
        first: first.unwrap_or(0),
        last,
        took: started.elapsed(),
    })
}
