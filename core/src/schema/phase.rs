//! The pure decision: which schema versions of a message type are in force
//! at an instant ([`phase`]), whether a producer's version is accepted
//! ([`check_version`], with the deny reason if not), and which versions
//! every message is served in ([`versions_to_serve`]). Time is an argument.
use super::SchemaRule;
use crate::DenyReason;

/// Which versions of a message type are in force at an instant.
///
/// Before and after a window one version is accepted, as with `Only`, but
/// the phase remembers the other one so that [`check_version`] can tell a
/// version not yet accepted or retired from one never accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// No migration: only this version.
    Only(u32),
    /// Before the window: only `from`; `to` is not accepted yet.
    Before {
        /// The accepted version.
        from: u32,
        /// The version the migration moves to.
        to: u32,
    },
    /// In the window: both, and every message is served in both.
    DualRun {
        /// The old version.
        from: u32,
        /// The new version.
        to: u32,
    },
    /// After the window: only `to`; `from` is retired.
    After {
        /// The retired version.
        from: u32,
        /// The accepted version.
        to: u32,
    },
}

/// The phase of `rule` at `now_ms`: the window is `[start, end)`.
pub fn phase(rule: &SchemaRule, now_ms: i64) -> Phase {
    match rule.migration {
        None => Phase::Only(rule.current_version),
        Some(m) => {
            let (from, to) = (m.from_version, m.to_version);
            if now_ms < m.window_start_ms {
                Phase::Before { from, to }
            } else if now_ms < m.window_end_ms {
                Phase::DualRun { from, to }
            } else {
                Phase::After { from, to }
            }
        }
    }
}

/// Whether a producer's message of schema `version` is accepted in `phase`.
pub fn check_version(phase: &Phase, version: u32) -> Result<(), DenyReason> {
    match *phase {
        Phase::Only(v) if version == v => Ok(()),
        Phase::Before { from, .. } if version == from => Ok(()),
        Phase::Before { to, .. } if version == to => Err(DenyReason::SchemaVersionNotYetAccepted),
        Phase::DualRun { from, to } if version == from || version == to => Ok(()),
        Phase::After { to, .. } if version == to => Ok(()),
        Phase::After { from, .. } if version == from => Err(DenyReason::SchemaVersionRetired),
        _ => Err(DenyReason::UnknownSchemaVersion),
    }
}

/// The versions every accepted message is served in during `phase`.
pub fn versions_to_serve(phase: &Phase) -> Vec<u32> {
    match *phase {
        Phase::Only(v) | Phase::Before { from: v, .. } | Phase::After { to: v, .. } => vec![v],
        Phase::DualRun { from, to } => vec![from, to],
    }
}
