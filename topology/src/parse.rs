//! Reads a topology file into a validated [`Topology`]. Every error names the
//! file and line and says what to change; nothing is connected to here.
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use toml::Spanned;

use crate::error::TopologyError;
use crate::model::{Feed, FeedKind, Link, Nation, Topology};
use crate::naming::subjects::is_token;
use crate::rate_limits::{Rate, RateLimits};

/// The NATO-style default scale, used when a nation does not give one.
const DEFAULT_CLASSIFICATIONS: [&str; 5] = [
    "UNCLASSIFIED",
    "RESTRICTED",
    "CONFIDENTIAL",
    "SECRET",
    "TOP SECRET",
];

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    mesh: RawMesh,
    #[serde(default)]
    nation: Vec<RawNation>,
    #[serde(default)]
    link: Vec<RawLink>,
    #[serde(default)]
    feed: Vec<RawFeed>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMesh {
    name: Spanned<String>,
    #[serde(default = "default_release_max_age_hours")]
    release_max_age_hours: Spanned<u64>,
}

fn default_release_max_age_hours() -> Spanned<u64> {
    Spanned::new(0..0, 72)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawNation {
    code: Spanned<String>,
    #[serde(default = "one")]
    servers: Spanned<usize>,
    #[serde(default)]
    classifications: Option<Spanned<Vec<String>>>,
    #[serde(default)]
    caveats: Option<Vec<RawCaveat>>,
    #[serde(default)]
    lazy_fsync: bool,
    #[serde(default)]
    rate_limits: Option<Spanned<RawRateLimits>>,
}

/// A nation's `rate_limits = { ... }`: each field optional, the bridge's
/// defaults otherwise (docs/topology.md).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRateLimits {
    partner: Option<Rate>,
    producer: Option<Rate>,
    producer_max_deferred: Option<u32>,
}

fn one() -> Spanned<usize> {
    Spanned::new(0..0, 1)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCaveat {
    name: Spanned<String>,
    forbids_release: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLink {
    from: Spanned<String>,
    to: Spanned<String>,
    max_classification: Spanned<String>,
    #[serde(default)]
    rate: Option<Spanned<Rate>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFeed {
    nation: Spanned<String>,
    producer: Spanned<String>,
    name: Spanned<String>,
    kind: Spanned<String>,
}

/// Reads and validates a topology file.
pub fn parse_topology_file(path: &Path) -> Result<Topology, TopologyError> {
    let text = std::fs::read_to_string(path).map_err(|source| TopologyError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    parse_topology(&text, path)
}

/// Validates topology text; `path` is only used in error messages.
pub fn parse_topology(text: &str, path: &Path) -> Result<Topology, TopologyError> {
    let ctx = Ctx { text, path };
    let raw: RawFile = toml::from_str(text).map_err(|e| TopologyError::Syntax {
        path: path.to_path_buf(),
        line: e.span().map_or(0, |s| ctx.line(s.start)),
        message: e.message().to_string(),
    })?;
    let nations = raw
        .nation
        .iter()
        .map(|n| ctx.nation(n))
        .collect::<Result<Vec<_>, _>>()?;
    ctx.check_unique_nations(&raw.nation)?;
    if nations.len() < 2 {
        return Err(ctx.invalid(0, "a mesh needs at least two [[nation]] entries".into()));
    }
    let links = ctx.links(&raw.link, &nations)?;
    let feeds = ctx.feeds(&raw.feed, &nations)?;
    let name = raw.mesh.name.get_ref().clone();
    if !is_token(&name) {
        return Err(ctx.invalid_at(
            &raw.mesh.name,
            "mesh.name must be letters, digits, '-' or '_'".into(),
        ));
    }
    let hours = *raw.mesh.release_max_age_hours.get_ref();
    if hours == 0 {
        return Err(ctx.invalid_at(
            &raw.mesh.release_max_age_hours,
            "release_max_age_hours must be at least 1: it must outlast the longest planned outage"
                .into(),
        ));
    }
    Ok(Topology {
        name,
        nations,
        links,
        feeds,
        release_max_age_secs: hours * 3600,
    })
}

struct Ctx<'a> {
    text: &'a str,
    path: &'a Path,
}

impl Ctx<'_> {
    fn line(&self, offset: usize) -> usize {
        self.text[..offset.min(self.text.len())]
            .bytes()
            .filter(|b| *b == b'\n')
            .count()
            + 1
    }

    fn invalid(&self, line: usize, message: String) -> TopologyError {
        TopologyError::Invalid {
            path: PathBuf::from(self.path),
            line,
            message,
        }
    }

    fn invalid_at<T>(&self, at: &Spanned<T>, message: String) -> TopologyError {
        self.invalid(self.line(at.span().start), message)
    }

    fn nation(&self, raw: &RawNation) -> Result<Nation, TopologyError> {
        let code = raw.code.get_ref();
        if code.len() < 2 || code.len() > 8 || !code.bytes().all(|b| b.is_ascii_uppercase()) {
            return Err(self.invalid_at(
                &raw.code,
                format!("nation code {code:?} must be 2 to 8 upper-case letters, e.g. \"USA\""),
            ));
        }
        let servers = *raw.servers.get_ref();
        if !(1..=9).contains(&servers) {
            return Err(self.invalid_at(
                &raw.servers,
                format!("nation {code}: servers = {servers}, but a cluster has 1 to 9 servers"),
            ));
        }
        let classifications = match &raw.classifications {
            None => DEFAULT_CLASSIFICATIONS
                .iter()
                .map(|s| s.to_string())
                .collect(),
            Some(list) => {
                let set: BTreeSet<_> = list.get_ref().iter().collect();
                if list.get_ref().is_empty() || set.len() != list.get_ref().len() {
                    return Err(self.invalid_at(
                        list,
                        format!("nation {code}: classifications must be a non-empty list of distinct names, lowest first"),
                    ));
                }
                list.get_ref().clone()
            }
        };
        let caveats = match &raw.caveats {
            None => vec![("NOFORN".to_string(), true), ("ORCON".to_string(), false)],
            Some(list) => list
                .iter()
                .map(|c| (c.name.get_ref().clone(), c.forbids_release))
                .collect(),
        };
        Ok(Nation {
            code: code.clone(),
            servers,
            classifications,
            caveats,
            lazy_fsync: raw.lazy_fsync,
            rate_limits: self.rate_limits(code, raw.rate_limits.as_ref())?,
        })
    }

    /// A nation's rate limits: its `rate_limits` over the defaults, each
    /// value checked (the error names the nation, the field and the line).
    fn rate_limits(
        &self,
        code: &str,
        raw: Option<&Spanned<RawRateLimits>>,
    ) -> Result<RateLimits, TopologyError> {
        let mut limits = RateLimits::default();
        let Some(raw) = raw else {
            return Ok(limits);
        };
        let r = raw.get_ref();
        limits.partner = r.partner.unwrap_or(limits.partner);
        limits.producer = r.producer.unwrap_or(limits.producer);
        limits.producer_max_deferred = r
            .producer_max_deferred
            .unwrap_or(limits.producer_max_deferred);
        limits
            .check(std::iter::empty())
            .map_err(|why| self.invalid_at(raw, format!("nation {code}: {why}")))?;
        Ok(limits)
    }

    fn check_unique_nations(&self, raw: &[RawNation]) -> Result<(), TopologyError> {
        let mut seen = BTreeSet::new();
        for n in raw {
            if !seen.insert(n.code.get_ref()) {
                return Err(self.invalid_at(
                    &n.code,
                    format!("nation {} is listed twice", n.code.get_ref()),
                ));
            }
        }
        Ok(())
    }

    fn known_nation<'n>(
        &self,
        nations: &'n [Nation],
        code: &Spanned<String>,
        role: &str,
    ) -> Result<&'n Nation, TopologyError> {
        nations
            .iter()
            .find(|n| &n.code == code.get_ref())
            .ok_or_else(|| {
                let known: Vec<_> = nations.iter().map(|n| n.code.as_str()).collect();
                self.invalid_at(
                    code,
                    format!(
                        "{role} {:?} is not a [[nation]] of this mesh (known: {})",
                        code.get_ref(),
                        known.join(", ")
                    ),
                )
            })
    }

    fn links(&self, raw: &[RawLink], nations: &[Nation]) -> Result<Vec<Link>, TopologyError> {
        let mut seen = BTreeSet::new();
        let mut links = Vec::new();
        for l in raw {
            let from = self.known_nation(nations, &l.from, "link.from")?;
            self.known_nation(nations, &l.to, "link.to")?;
            if l.from.get_ref() == l.to.get_ref() {
                return Err(self.invalid_at(&l.to, "a link must join two different nations".into()));
            }
            if !seen.insert((l.from.get_ref(), l.to.get_ref())) {
                return Err(self.invalid_at(
                    &l.from,
                    format!(
                        "link {}->{} is listed twice",
                        l.from.get_ref(),
                        l.to.get_ref()
                    ),
                ));
            }
            if !from
                .classifications
                .contains(l.max_classification.get_ref())
            {
                return Err(self.invalid_at(
                    &l.max_classification,
                    format!(
                        "max_classification {:?} is not in {}'s scale ({})",
                        l.max_classification.get_ref(),
                        from.code,
                        from.classifications.join(", ")
                    ),
                ));
            }
            let rate = match &l.rate {
                None => None,
                Some(rate) => {
                    let field = format!("link {}->{} rate", l.from.get_ref(), l.to.get_ref());
                    crate::rate_limits::check_rate(&field, *rate.get_ref())
                        .map_err(|why| self.invalid_at(rate, why))?;
                    Some(*rate.get_ref())
                }
            };
            links.push(Link {
                from: l.from.get_ref().clone(),
                to: l.to.get_ref().clone(),
                max_classification: l.max_classification.get_ref().clone(),
                rate,
            });
        }
        Ok(links)
    }

    fn feeds(&self, raw: &[RawFeed], nations: &[Nation]) -> Result<Vec<Feed>, TopologyError> {
        let mut seen = BTreeSet::new();
        let mut feeds = Vec::new();
        for f in raw {
            self.known_nation(nations, &f.nation, "feed.nation")?;
            for (field, value) in [("producer", &f.producer), ("name", &f.name)] {
                let v = value.get_ref();
                let ok = !v.is_empty()
                    && v.bytes()
                        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
                if !ok {
                    return Err(self.invalid_at(
                        value,
                        format!("feed.{field} {v:?} must be lower-case letters, digits and '-'"),
                    ));
                }
            }
            if coalition_schemas::identities::is_reserved(f.producer.get_ref()) {
                return Err(self.invalid_at(
                    &f.producer,
                    format!(
                        "feed.producer {:?} is reserved for the system's own keys (reserved: {}); name the producer otherwise",
                        f.producer.get_ref(),
                        coalition_schemas::identities::RESERVED.join(", ")
                    ),
                ));
            }
            let kind = match f.kind.get_ref().as_str() {
                "track" => FeedKind::Track,
                "alert" => FeedKind::Alert,
                other => {
                    return Err(self.invalid_at(
                        &f.kind,
                        format!("feed.kind {other:?} must be \"track\" or \"alert\""),
                    ))
                }
            };
            if !seen.insert((f.nation.get_ref(), f.producer.get_ref(), f.name.get_ref())) {
                return Err(self.invalid_at(
                    &f.name,
                    format!(
                        "feed {}/{}/{} is listed twice",
                        f.nation.get_ref(),
                        f.producer.get_ref(),
                        f.name.get_ref()
                    ),
                ));
            }
            feeds.push(Feed {
                nation: f.nation.get_ref().clone(),
                producer: f.producer.get_ref().clone(),
                name: f.name.get_ref().clone(),
                kind,
            });
        }
        Ok(feeds)
    }
}
