//! Simulating a machine crash of a nats-server that runs with lazy fsync.
//!
//! `kill -9` of the server process alone loses nothing on Linux: whatever it
//! wrote is in the kernel's page cache, which outlives the process. A power
//! cut or kernel panic also loses the page cache: everything written since
//! the last fsync. With nats-server's default (`sync_interval` 2 minutes)
//! that can be acknowledged messages; with `sync_interval: always` it never
//! is. [`Blocks`] models the crash on a stopped server: it puts a stream's
//! message blocks back to the sizes they had at a snapshot, as if nothing
//! written after the snapshot had reached the disk.
//!
//! How nats-server 2.15.1 recovers (checked by hand and by
//! `tests/negative_control.rs`): message blocks (`msgs/<n>.blk`) are
//! append-only records, so a block cut back to an earlier size is a valid
//! shorter block and the server restores the messages in it. The stream
//! state file `msgs/index.db` is written on clean shutdown and periodically;
//! if one written after the snapshot is kept, the server notices the last
//! block disagrees and rebuilds, but keeps the state's `last_seq` (the lost
//! messages become deleted sequences): that would model a crash in which the
//! state file reached the disk and the blocks did not. It is removed
//! instead, modelling the plainer crash in which nothing written after the
//! snapshot did, and the server rebuilds the state from the blocks alone. Consumer state (`obs/`) is left
//! as it is: a consumer delivered past the end of the shortened stream is
//! reset by the server ("delivered sequence past last stream sequence").
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use nats_harness::Mesh;

/// The JetStream store folder of server `index` of `nation`, read from its
/// generated config (`store_dir: "..."`).
pub fn store_dir(mesh: &Mesh, nation: &str, index: usize) -> PathBuf {
    let config = mesh
        .dir()
        .join("nats")
        .join(format!("{nation}-{index}.conf"));
    let text = std::fs::read_to_string(&config)
        .unwrap_or_else(|e| panic!("read {}: {e}", config.display()));
    let line = text
        .lines()
        .map(str::trim)
        .find_map(|l| l.strip_prefix("store_dir:"))
        .unwrap_or_else(|| panic!("no store_dir in {}", config.display()));
    PathBuf::from(line.trim().trim_matches('"'))
}

/// Where server `index` of `nation` keeps `stream` of `account`:
/// `<store_dir>/jetstream/<account>/streams/<stream>`.
pub fn stream_dir(mesh: &Mesh, nation: &str, index: usize, account: &str, stream: &str) -> PathBuf {
    store_dir(mesh, nation, index)
        .join("jetstream")
        .join(account)
        .join("streams")
        .join(stream)
}

/// The sizes of a stream's message blocks at one moment.
#[derive(Debug, Clone)]
pub struct Blocks {
    msgs: PathBuf,
    sizes: BTreeMap<String, u64>,
}

/// What [`Blocks::lose_unsynced_writes`] threw away.
#[derive(Debug, Default)]
pub struct Lost {
    /// Bytes cut from the ends of blocks or in blocks deleted.
    pub bytes: u64,
    /// Blocks created after the snapshot, deleted.
    pub blocks_deleted: usize,
    /// Whether a stream state file (`index.db`) was removed.
    pub state_removed: bool,
}

fn block_sizes(msgs: &Path) -> BTreeMap<String, u64> {
    let entries =
        std::fs::read_dir(msgs).unwrap_or_else(|e| panic!("list {}: {e}", msgs.display()));
    entries
        .map(|e| e.expect("directory entry"))
        .filter(|e| e.file_name().to_string_lossy().ends_with(".blk"))
        .map(|e| {
            let len = e.metadata().expect("block metadata").len();
            (e.file_name().to_string_lossy().into_owned(), len)
        })
        .collect()
}

impl Blocks {
    /// The current sizes of the blocks of the stream in `stream_dir`
    /// (which must hold at least one block).
    pub fn snapshot(stream_dir: &Path) -> Blocks {
        let msgs = stream_dir.join("msgs");
        let sizes = block_sizes(&msgs);
        assert!(!sizes.is_empty(), "no message blocks in {}", msgs.display());
        Blocks { msgs, sizes }
    }

    /// Total bytes in the blocks.
    pub fn total(&self) -> u64 {
        self.sizes.values().sum()
    }

    /// On a server that is not running: cuts every block back to its size
    /// at the snapshot, deletes blocks created since and the stream state
    /// file, so the server rebuilds the stream from what is left.
    pub fn lose_unsynced_writes(&self) -> Lost {
        let mut lost = Lost::default();
        let current = block_sizes(&self.msgs);
        if let Some(gone) = self.sizes.keys().find(|b| !current.contains_key(*b)) {
            panic!(
                "{} existed at the snapshot and is gone: the server removed it, \
                 so cutting blocks back models nothing",
                self.msgs.join(gone).display()
            );
        }
        for (name, now) in current {
            let path = self.msgs.join(&name);
            match self.sizes.get(&name) {
                Some(&then) if then <= now => {
                    let file = std::fs::OpenOptions::new()
                        .write(true)
                        .open(&path)
                        .unwrap_or_else(|e| panic!("open {}: {e}", path.display()));
                    file.set_len(then)
                        .unwrap_or_else(|e| panic!("truncate {}: {e}", path.display()));
                    file.sync_all().expect("sync truncated block");
                    lost.bytes += now - then;
                }
                Some(&then) => panic!(
                    "{} shrank from {then} to {now} bytes since the snapshot: \
                     the server rewrote it (compaction?), so cutting it back models nothing",
                    path.display()
                ),
                None => {
                    std::fs::remove_file(&path)
                        .unwrap_or_else(|e| panic!("delete {}: {e}", path.display()));
                    lost.bytes += now;
                    lost.blocks_deleted += 1;
                }
            }
        }
        let state = self.msgs.join("index.db");
        if state.exists() {
            std::fs::remove_file(&state)
                .unwrap_or_else(|e| panic!("delete {}: {e}", state.display()));
            lost.state_removed = true;
        }
        lost
    }
}
