//! Where the CLI finds files it is not told about, whatever the working
//! directory: the default topology is the repository's
//! `topologies/coalition-3.toml`, found by walking up from the folder of
//! the `coalition` executable (`<repo>/target/<profile>/coalition`). A
//! path given on the command line is used as given (relative to the
//! working directory, as usual).
use std::path::{Path, PathBuf};

/// The default topology, relative to the repository root.
pub const DEFAULT_TOPOLOGY: &str = "topologies/coalition-3.toml";

/// The topology to use: `given`, else the default found from `exe`
/// upwards (`exists` says whether a file is there), else the default
/// relative to the working directory (whose error then names it).
pub fn topology(
    given: Option<PathBuf>,
    exe: Option<&Path>,
    exists: impl Fn(&Path) -> bool,
) -> PathBuf {
    if let Some(p) = given {
        return p;
    }
    exe.and_then(|exe| {
        exe.ancestors()
            .skip(1)
            .map(|dir| dir.join(DEFAULT_TOPOLOGY))
            .find(|p| exists(p))
    })
    .unwrap_or_else(|| PathBuf::from(DEFAULT_TOPOLOGY))
}

/// [`topology`] for this process.
pub fn topology_here(given: Option<PathBuf>) -> PathBuf {
    let exe = std::env::current_exe().ok();
    topology(given, exe.as_deref(), Path::is_file)
}

/// The log filter: `RUST_LOG` if set, else errors only. The NATS client's
/// connection chatter (INFO) stays out of command output unless
/// `RUST_LOG` names `async_nats` itself.
pub fn log_filter(rust_log: Option<&str>) -> String {
    match rust_log.map(str::trim) {
        None | Some("") => "error".into(),
        Some(s) if s.contains("async_nats") => s.into(),
        Some(s) => format!("{s},async_nats=warn"),
    }
}

/// Colour codes only on a terminal, and never with `NO_COLOR` set.
pub fn use_colour(stderr_is_terminal: bool, no_colour: Option<&str>) -> bool {
    stderr_is_terminal && no_colour.is_none_or(str::is_empty)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_topology_is_found_from_the_executable_not_the_working_directory() {
        let repo_file = Path::new("/src/mesh/topologies/coalition-3.toml");
        let exists = |p: &Path| p == repo_file;
        let exe = Path::new("/src/mesh/target/debug/coalition");
        // (given, executable, chosen)
        let table: [(Option<&str>, Option<&Path>, &str); 5] = [
            (None, Some(exe), "/src/mesh/topologies/coalition-3.toml"),
            (
                None,
                Some(Path::new("/src/mesh/target/release/deps/coalition-x")),
                "/src/mesh/topologies/coalition-3.toml",
            ),
            (Some("my.toml"), Some(exe), "my.toml"),
            (
                None,
                Some(Path::new("/usr/local/bin/coalition")),
                DEFAULT_TOPOLOGY,
            ),
            (None, None, DEFAULT_TOPOLOGY),
        ];
        for (given, exe, want) in table {
            assert_eq!(
                topology(given.map(PathBuf::from), exe, exists),
                PathBuf::from(want),
                "{given:?} {exe:?}"
            );
        }
    }

    #[test]
    fn the_nats_client_s_info_lines_stay_out_unless_asked_for() {
        let table = [
            (None, "error"),
            (Some(""), "error"),
            (Some("info"), "info,async_nats=warn"),
            (Some("coalition=debug"), "coalition=debug,async_nats=warn"),
            (Some("info,async_nats=debug"), "info,async_nats=debug"),
        ];
        for (env, want) in table {
            assert_eq!(log_filter(env), want, "{env:?}");
        }
    }

    #[test]
    fn colour_codes_only_on_a_terminal_without_no_color() {
        let table = [
            (true, None, true),
            (true, Some(""), true),
            (true, Some("1"), false),
            (false, None, false),
            (false, Some("1"), false),
        ];
        for (tty, no_colour, want) in table {
            assert_eq!(use_colour(tty, no_colour), want, "{tty} {no_colour:?}");
        }
    }
}
