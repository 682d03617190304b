//! `coalition topology`: check a topology file, or generate every config of
//! a mesh (nats-server, bridges, clients) plus a development PKI, on fixed
//! loopback ports, for running the servers and bridges by hand.
use std::path::{Path, PathBuf};

use clap::Subcommand;
use coalition_topology::{generate, parse_topology_file, Addressing, Credentials, Topology};

use crate::error::CliError;

/// Topology commands.
#[derive(Debug, Subcommand)]
pub enum TopologyCommand {
    /// Validate a topology file and summarise it.
    Check {
        /// The topology TOML file.
        file: PathBuf,
    },
    /// Generate configs and a development PKI into a folder.
    Generate {
        /// The topology TOML file.
        file: PathBuf,
        /// Output folder (created; existing files are overwritten).
        #[arg(long)]
        out: PathBuf,
        /// First loopback port; each server takes 4 consecutive ports.
        #[arg(long, default_value_t = 14000)]
        base_port: u16,
    },
}

/// Runs a topology command.
pub fn run(cmd: TopologyCommand) -> Result<(), CliError> {
    match cmd {
        TopologyCommand::Check { file } => {
            let t = parse_topology_file(&file)?;
            print_summary(&t);
            Ok(())
        }
        TopologyCommand::Generate {
            file,
            out,
            base_port,
        } => {
            let t = parse_topology_file(&file)?;
            generate_into(&t, &out, base_port)?;
            print_summary(&t);
            println!(
                "wrote nats/, bridges/, clients/ and keys/ under {}",
                out.display()
            );
            println!(
                "start each server with `nats-server -c {}/nats/<SERVER>.conf`",
                out.display()
            );
            println!(
                "and each bridge with `coalition-bridge --config {}/bridges/<NATION>.toml`",
                out.display()
            );
            Ok(())
        }
    }
}

fn print_summary(t: &Topology) {
    println!(
        "mesh {:?}: {} nations, {} links, {} feeds",
        t.name,
        t.nations.len(),
        t.links.len(),
        t.feeds.len()
    );
    for n in &t.nations {
        let to: Vec<_> = t
            .links_from(&n.code)
            .map(|l| format!("{} (<= {})", l.to, l.max_classification))
            .collect();
        println!(
            "  {} ({} server{}) releases to: {}",
            n.code,
            n.servers,
            if n.servers == 1 { "" } else { "s" },
            if to.is_empty() {
                "nobody".into()
            } else {
                to.join(", ")
            }
        );
    }
}

fn generate_into(t: &Topology, out: &Path, base_port: u16) -> Result<(), CliError> {
    let needed = t.servers().count() as u32 * 4;
    if u32::from(base_port) + needed > 65535 || base_port < 1024 {
        return Err(CliError::Usage(format!(
            "--base-port {base_port}: need {needed} ports between 1024 and 65535"
        )));
    }
    let addressing = Addressing::sequential(
        t,
        "127.0.0.1",
        base_port,
        &out.join("jetstream"),
        &out.join("tls"),
    );
    let mesh = generate(t, &addressing, &mut Credentials::random())?;
    for file in mesh.files() {
        let path = out.join(&file.path);
        nats_harness::write_key_file(&path, file.contents.as_bytes(), file.is_private())?;
    }
    nats_harness::generate_dev_pki(out, t, crate::now_ms())?;
    Ok(())
}
