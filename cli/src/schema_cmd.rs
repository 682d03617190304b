//! `coalition schema-policy sign`: turns a schema policy spec (TOML) into
//! a schema policy signed with the nation's root key, refusing what a
//! bridge would refuse. `coalition control publish` puts it on the mesh,
//! where the highest version is in force at once (docs/schemas.md).
use std::path::PathBuf;

use clap::Subcommand;
use coalition_core::envelope::MessageType;
use coalition_core::schema::{sign_schema_policy, Migration, SchemaPolicy, SchemaRule};
use coalition_schemas::v1::control_message::Body;
use serde::Deserialize;

use crate::error::CliError;
use crate::policy_cmd::{load_key, parse_spec, usage, write_object};

/// Schema policies.
#[derive(Debug, Subcommand)]
pub enum SchemaPolicyCommand {
    /// Sign a schema policy spec (TOML) with the nation's root key.
    Sign {
        /// The spec: see docs/schemas.md.
        #[arg(long)]
        spec: PathBuf,
        /// The nation's root private key.
        #[arg(long)]
        key: PathBuf,
        /// Where to write the signed policy (.ctl).
        #[arg(long)]
        out: PathBuf,
    },
}

/// A schema policy spec.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SchemaPolicySpec {
    nation: String,
    version: u32,
    #[serde(rename = "rule")]
    rules: Vec<RuleSpec>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleSpec {
    message_type: String,
    current_version: u32,
    migration: Option<MigrationSpec>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct MigrationSpec {
    from_version: u32,
    to_version: u32,
    window_start: Instant,
    window_end: Instant,
}

/// An instant: Unix ms, or `now`, `now+90s`, `now-5m`, `now+2h`, `now+7d`.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum Instant {
    UnixMs(i64),
    Relative(String),
}

/// Resolves an instant against `now_ms`.
fn resolve(instant: &Instant, now_ms: i64) -> Result<i64, String> {
    let text = match instant {
        Instant::UnixMs(ms) => return Ok(*ms),
        Instant::Relative(t) => t.trim(),
    };
    let bad = || {
        format!("{text:?} is not an instant: give Unix ms, or now, now+90s, now-5m, now+2h, now+7d")
    };
    let rest = text.strip_prefix("now").ok_or_else(bad)?;
    if rest.is_empty() {
        return Ok(now_ms);
    }
    let (sign, amount) = match rest.split_at(1) {
        ("+", a) => (1, a),
        ("-", a) => (-1, a),
        _ => return Err(bad()),
    };
    let unit_at = amount.len().checked_sub(1).ok_or_else(bad)?;
    let (number, unit) = amount.split_at(unit_at);
    let number: i64 = number.parse().map_err(|_| bad())?;
    let unit_ms = match unit {
        "s" => 1_000,
        "m" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        _ => return Err(bad()),
    };
    number
        .checked_mul(unit_ms)
        .and_then(|d| now_ms.checked_add(sign * d))
        .ok_or_else(bad)
}

fn message_type(name: &str) -> Result<MessageType, String> {
    match name {
        "track" => Ok(MessageType::Track),
        "alert" => Ok(MessageType::Alert),
        other => Err(format!(
            "message_type {other:?} is not known: track or alert"
        )),
    }
}

fn to_policy(spec: SchemaPolicySpec, now_ms: i64) -> Result<SchemaPolicy, String> {
    let mut rules = Vec::with_capacity(spec.rules.len());
    for (i, r) in spec.rules.into_iter().enumerate() {
        let at = |e: String| format!("rule {}: {e}", i + 1);
        let migration = match r.migration {
            None => None,
            Some(m) => Some(Migration {
                from_version: m.from_version,
                to_version: m.to_version,
                window_start_ms: resolve(&m.window_start, now_ms).map_err(at)?,
                window_end_ms: resolve(&m.window_end, now_ms).map_err(at)?,
            }),
        };
        rules.push(SchemaRule {
            message_type: message_type(&r.message_type).map_err(at)?,
            current_version: r.current_version,
            migration,
        });
    }
    Ok(SchemaPolicy {
        nation: spec.nation,
        version: spec.version,
        rules,
        issued_at_ms: now_ms,
    })
}

/// `coalition schema-policy sign`
pub fn schema_policy(cmd: SchemaPolicyCommand) -> Result<(), CliError> {
    let SchemaPolicyCommand::Sign { spec, key, out } = cmd;
    let policy = to_policy(parse_spec(&spec)?, crate::now_ms()).map_err(|e| usage(&spec, e))?;
    // Refuse what a bridge would refuse before touching the key.
    SchemaPolicy::try_from(policy.to_document()).map_err(|e| usage(&spec, e))?;
    let signed = sign_schema_policy(&policy, &load_key(&key)?).map_err(|e| usage(&spec, e))?;
    write_object(&out, Body::SchemaPolicy(signed))?;
    println!(
        "signed {} schema policy v{}; publish it with `coalition control publish`",
        policy.nation, policy.version
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instants_table() {
        let now = 1_000_000_000;
        let ok = [
            (Instant::UnixMs(5), 5),
            (Instant::Relative("now".into()), now),
            (Instant::Relative("now+90s".into()), now + 90_000),
            (Instant::Relative("now-5m".into()), now - 300_000),
            (Instant::Relative(" now+2h ".into()), now + 7_200_000),
            (Instant::Relative("now+7d".into()), now + 604_800_000),
        ];
        for (instant, expected) in ok {
            assert_eq!(resolve(&instant, now), Ok(expected), "{instant:?}");
        }
        for bad in [
            "tomorrow",
            "now+",
            "now+5",
            "now+5w",
            "now*5s",
            "now+xs",
            "now+99999999999999999d",
        ] {
            let err = resolve(&Instant::Relative(bad.into()), now).unwrap_err();
            assert!(err.contains("is not an instant"), "{bad}: {err}");
        }
    }

    #[test]
    fn a_spec_becomes_a_policy_and_a_bad_type_names_its_rule() {
        let spec: SchemaPolicySpec = toml::from_str(
            r#"
            nation = "USA"
            version = 2
            [[rule]]
            message_type = "track"
            current_version = 1
            [rule.migration]
            from_version = 1
            to_version = 2
            window_start = "now"
            window_end = "now+1h"
            [[rule]]
            message_type = "alert"
            current_version = 1
            "#,
        )
        .expect("spec parses");
        let p = to_policy(spec, 10).expect("policy");
        assert_eq!(p.rules.len(), 2);
        assert_eq!(
            p.rules[0].migration,
            Some(Migration {
                from_version: 1,
                to_version: 2,
                window_start_ms: 10,
                window_end_ms: 3_600_010
            })
        );
        let bad: SchemaPolicySpec = toml::from_str(
            "nation = \"USA\"\nversion = 2\n[[rule]]\nmessage_type = \"video\"\ncurrent_version = 1\n",
        )
        .expect("spec parses");
        let err = to_policy(bad, 0).unwrap_err();
        assert!(err.starts_with("rule 1: message_type \"video\""), "{err}");
    }
}
