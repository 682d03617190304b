//! The validated topology: plain data, built only by [`crate::parse_topology`].

use std::fmt;

/// A whole mesh: nations, the directed links between them and their feeds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Topology {
    /// A short name, used in generated comments and file names.
    pub name: String,
    /// Nations in file order.
    pub nations: Vec<Nation>,
    /// Directed release links in file order.
    pub links: Vec<Link>,
    /// Producer feeds in file order.
    pub feeds: Vec<Feed>,
    /// How long a released message stays in the sender's release stream:
    /// longer than the longest planned outage, so a cut link loses nothing.
    pub release_max_age_secs: u64,
}

/// One sovereign domain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Nation {
    /// Short code, e.g. `USA`: upper-case ASCII letters.
    pub code: String,
    /// Servers in this nation's NATS cluster (1 = no cluster block).
    pub servers: usize,
    /// The nation's classification scale, lowest first.
    pub classifications: Vec<String>,
    /// Caveats (restrictive categories) the nation's policy knows, and
    /// whether each one forbids any foreign release.
    pub caveats: Vec<(String, bool)>,
    /// Run this nation's servers with nats-server's default fsync (every
    /// 2 minutes) instead of `sync_interval: always`, so an acknowledged
    /// write can be lost on a machine crash. Unsafe: only for the negative
    /// control that shows the tests can detect loss
    /// (`broker-bridge/tests/negative_control.rs`).
    pub lazy_fsync: bool,
    /// This nation's bridge rate limits (`rate_limits` of its `[[nation]]`,
    /// with each incoming link's `rate` as the override for that partner);
    /// written into its generated bridge config.
    pub rate_limits: crate::RateLimits,
}

/// `from` releases to `to`: a leaf-node link where `to` connects to `from`'s
/// release account and pulls what `from`'s bridge released.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    /// The releasing nation.
    pub from: String,
    /// The receiving nation.
    pub to: String,
    /// Highest classification (in `from`'s scale) released on this link.
    pub max_classification: String,
    /// The rate at which `to`'s bridge admits what `from` releases on this
    /// link, if the topology sets one (else `to`'s partner default).
    pub rate: Option<crate::Rate>,
}

impl Link {
    /// A stable name for the link, e.g. `USA->GBR`.
    pub fn name(&self) -> String {
        format!("{}->{}", self.from, self.to)
    }
}

/// What kind of records a feed carries: the subject token and the lane
/// (one vocabulary with the subject grammar).
pub use crate::naming::Kind as FeedKind;

/// A producer's feed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Feed {
    /// The producer's nation.
    pub nation: String,
    /// Producer id: lower-case letters, digits and `-`.
    pub producer: String,
    /// Feed name: lower-case letters, digits and `-`.
    pub name: String,
    /// Tracks or alerts.
    pub kind: FeedKind,
}

/// One server: a nation and an index in its cluster.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ServerId {
    /// The nation code.
    pub nation: String,
    /// 0-based index within the nation's cluster.
    pub index: usize,
}

impl ServerId {
    /// Builds a server id.
    pub fn new(nation: &str, index: usize) -> Self {
        ServerId {
            nation: nation.to_string(),
            index,
        }
    }
}

impl fmt::Display for ServerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.nation, self.index)
    }
}

impl Topology {
    /// The nation with this code.
    pub fn nation(&self, code: &str) -> Option<&Nation> {
        self.nations.iter().find(|n| n.code == code)
    }

    /// Every server of every nation, nation by nation.
    pub fn servers(&self) -> impl Iterator<Item = ServerId> + '_ {
        self.nations
            .iter()
            .flat_map(|n| (0..n.servers).map(move |i| ServerId::new(&n.code, i)))
    }

    /// Links on which `code` releases.
    pub fn links_from<'a>(&'a self, code: &'a str) -> impl Iterator<Item = &'a Link> + 'a {
        self.links.iter().filter(move |l| l.from == code)
    }

    /// Links on which `code` receives.
    pub fn links_to<'a>(&'a self, code: &'a str) -> impl Iterator<Item = &'a Link> + 'a {
        self.links.iter().filter(move |l| l.to == code)
    }

    /// Feeds produced in `code`.
    pub fn feeds_of<'a>(&'a self, code: &'a str) -> impl Iterator<Item = &'a Feed> + 'a {
        self.feeds.iter().filter(move |f| f.nation == code)
    }

    /// JetStream replicas for streams in `code`'s cluster: up to 3.
    pub fn replicas(&self, code: &str) -> usize {
        self.nation(code).map_or(1, |n| n.servers.min(3))
    }
}
