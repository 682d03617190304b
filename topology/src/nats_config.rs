//! Renders one nats-server config: cluster routes, JetStream (with its own
//! domain and `sync_interval: always`, omitted only for a nation marked
//! `lazy_fsync`, the negative control's), the nation's accounts and users
//! with their permissions, and the leaf-node listener and remotes.
//!
//! Clients authenticate by certificate alone: the client port maps each
//! certificate's subject to its user (`verify_and_map`) and accepts only the
//! keys of certificates its TLS authority has not revoked (`pinned_certs`,
//! compiled from the CRL). Partners' leaf connections and cluster routes
//! use passwords over mutual TLS.
//!
//! The isolation this file encodes (see docs/architecture.md):
//! - a partner's leaf connection is bound to `REL_<partner>`, so it sees only
//!   what this nation's bridge released to it;
//! - it may read (never delete or write) the `RELEASED` streams there (both
//!   lanes), only through the pull consumer the sending bridge made for it
//!   (it creates no consumer, so it cannot start a push consumer that
//!   delivers into this account's streams), and read CONTROL message by
//!   message;
//! - a release account holds at most three streams and four consumers on
//!   each, on file (no memory storage), up to a bounded size;
//! - only the bridge may publish release (`rel.>`) and delivery (`in.>`)
//!   subjects; producers may publish only their own `out.*.<producer>.>`,
//!   their own certificate (`ctl.certificate.<nation>.<producer>.*`) and
//!   their own feeds' keys in the FEED_WRITERS bucket, and read their feeds'
//!   last batch (OUTBOUND), the bridge's positions (POSITIONS) and CONTROL;
//! - subscribers read both INBOUND and OUTBOUND lanes and a CONTROL message
//!   by subject (certificates); they publish nothing.
use std::fmt::Write as _;

use crate::addressing::{Addressing, ServerAddress};
use crate::error::TopologyError;
use crate::generate::Credentials;
use crate::model::{ServerId, Topology};
use crate::naming::{accounts, streams, Kind};
use crate::tls_files::paths as tls_paths;

/// A `tls { }` block: this server's certificate, the authorities it trusts
/// and, with `verify`, a required certificate from the other side. The
/// handshake timeout is generous: 0.5 s (nats-server's default) is too
/// short on a loaded machine.
fn tls_block(
    indent: &str,
    addr: &ServerAddress,
    id: &ServerId,
    ca: &str,
    verify: Verify,
) -> String {
    let at = |rel: String| q(&format!("{}/{rel}", addr.tls_dir));
    let name = id.to_string();
    let mut out = format!(
        "{indent}tls {{\n{indent}  cert_file: {}\n{indent}  key_file: {}\n{indent}  ca_file: {}\n",
        at(tls_paths::server_certificate(&name)),
        at(tls_paths::server_key(&name)),
        at(ca.to_string()),
    );
    match verify {
        Verify::None => {}
        Verify::Certificate => {
            let _ = writeln!(out, "{indent}  verify: true");
        }
        Verify::MapToUser => {
            let _ = writeln!(
                out,
                "{indent}  # The user is the one the certificate's subject names; no password.\n\
                 {indent}  verify_and_map: true\n\
                 {indent}  # Only keys of certificates the authority has not revoked (its CRL).\n\
                 {indent}  include {}",
                q(&format!("../tls/{}", tls_paths::pinned_clients(&id.nation)))
            );
        }
    }
    let _ = writeln!(out, "{indent}  timeout: 5\n{indent}}}");
    out
}

/// What a `tls { }` block asks of the other side's certificate.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Verify {
    /// Nothing (the dialling side of a leaf link).
    None,
    /// A certificate from a trusted authority (routes, leaf listener).
    Certificate,
    /// Client port: a certificate from this nation's authority, not
    /// revoked, whose subject names the user (`verify_and_map`).
    MapToUser,
}

/// The NATS user names inside one nation's config.
pub(crate) struct UserNames<'a> {
    nation: &'a str,
}

impl<'a> UserNames<'a> {
    pub(crate) fn new(nation: &'a str) -> Self {
        UserNames { nation }
    }
    pub(crate) fn bridge_home(&self) -> String {
        format!("{}-bridge", self.nation)
    }
    pub(crate) fn bridge_rel(&self, partner: &str) -> String {
        format!("{}-bridge-rel-{partner}", self.nation)
    }
    pub(crate) fn bridge_from(&self, origin: &str) -> String {
        format!("{}-bridge-from-{origin}", self.nation)
    }
    pub(crate) fn producer(&self, producer: &str) -> String {
        format!("{}-producer-{producer}", self.nation)
    }
    pub(crate) fn subscriber(&self) -> String {
        format!("{}-subscriber", self.nation)
    }
    /// Reads the AUDIT stream, nothing else (`coalition audit`).
    pub(crate) fn auditor(&self) -> String {
        format!("{}-auditor", self.nation)
    }
    /// Publishes signed control objects on `ctl.>` (`coalition revoke`,
    /// `coalition control publish`).
    pub(crate) fn operator(&self) -> String {
        format!("{}-operator", self.nation)
    }
    /// The user `receiver`'s leaf connection authenticates as, in this
    /// (the sending) nation.
    pub(crate) fn leaf(&self, receiver: &str) -> String {
        format!("{}-leaf-{receiver}", self.nation)
    }
    pub(crate) fn route(&self) -> String {
        format!("{}-route", self.nation)
    }
}

fn q(s: &str) -> String {
    format!("{s:?}")
}

fn list(items: &[String]) -> String {
    let quoted: Vec<String> = items.iter().map(|s| q(s)).collect();
    format!("[{}]", quoted.join(", "))
}

/// Publish subjects a client needs to consume `stream` with a durable pull
/// consumer, under JetStream API prefix `api` (`$JS.API` or `$JS.<domain>.API`).
fn consumer_api(api: &str, stream: &str) -> Vec<String> {
    vec![
        format!("{api}.INFO"),
        format!("{api}.STREAM.INFO.{stream}"),
        format!("{api}.CONSUMER.CREATE.{stream}"),
        format!("{api}.CONSUMER.CREATE.{stream}.>"),
        format!("{api}.CONSUMER.DURABLE.CREATE.{stream}.>"),
        format!("{api}.CONSUMER.INFO.{stream}.>"),
        format!("{api}.CONSUMER.MSG.NEXT.{stream}.>"),
        format!("$JS.ACK.{stream}.>"),
        format!("$JS.ACK.*.*.{stream}.>"),
        "$JS.FC.>".to_string(),
    ]
}

/// A client user of `nation`, mapped from its certificate's subject.
fn user(out: &mut String, nation: &str, name: &str, comment: &str, perms: Option<String>) {
    let _ = writeln!(out, "      # {comment}");
    let _ = write!(
        out,
        "      {{ user: {}",
        q(&coalition_tls::subject_dn(name, nation))
    );
    if let Some(p) = perms {
        let _ = write!(out, ",\n        {p}");
    }
    out.push_str(" }\n");
}

fn perms(publish: &[String], subscribe: &[String]) -> String {
    format!(
        "permissions: {{\n          publish: {{ allow: {} }}\n          subscribe: {{ allow: {} }}\n        }}",
        list(publish),
        list(subscribe)
    )
}

fn home_account(out: &mut String, topology: &Topology, code: &str) {
    let users = UserNames::new(code);
    out.push_str("  # HOME: producers, subscribers and the bridge. Streams: OUTBOUND (out.>),\n");
    out.push_str("  # INBOUND (in.>) and DEADLETTER (dlq.>), created by the bridge.\n");
    let _ = writeln!(
        out,
        "  {} {{\n    jetstream: enabled\n    users: [",
        accounts::HOME
    );
    user(
        out,
        code,
        &users.bridge_home(),
        "The bridge: the only publisher of in.> and dlq.>.",
        None,
    );
    let mut producers: Vec<&str> = topology
        .feeds_of(code)
        .map(|f| f.producer.as_str())
        .collect();
    // One user per producer, even when its feeds are not consecutive in
    // the topology file (nats-server refuses a duplicate user).
    producers.sort_unstable();
    producers.dedup();
    for p in producers {
        let mut publish = vec![
            format!("out.*.{p}.>"),
            // Its certificate, published once so batches can name it by digest.
            format!("ctl.certificate.{code}.{p}.*"),
            "$JS.API.INFO".into(),
        ];
        // Read its feeds' positions at egress: where the next seq starts
        // when OUTBOUND no longer holds the feed's last batch.
        publish.push(format!("$JS.API.STREAM.MSG.GET.{}", streams::POSITIONS));
        for kind in Kind::ALL {
            // Read its feeds' last batch: where the next seq starts.
            let stream = streams::outbound(kind);
            publish.push(format!("$JS.API.STREAM.INFO.{stream}"));
            publish.push(format!("$JS.API.STREAM.MSG.GET.{stream}"));
            publish.push(format!("$JS.API.DIRECT.GET.{stream}.>"));
        }
        // Hold its own feeds in the writers bucket: one writer per feed.
        let writers = streams::FEED_WRITERS_STREAM;
        publish.extend([
            format!("$KV.{}.{p}.>", streams::FEED_WRITERS_BUCKET),
            format!("$JS.API.STREAM.INFO.{writers}"),
            format!("$JS.API.STREAM.MSG.GET.{writers}"),
            format!("$JS.API.DIRECT.GET.{writers}.>"),
        ]);
        // Read the nation's signed control objects (schema policies), so
        // the SDK can refuse a version the policy does not accept.
        publish.extend(consumer_api("$JS.API", streams::CONTROL));
        // Find its certificate already stored (CONTROL is append-only).
        publish.push(format!("$JS.API.STREAM.MSG.GET.{}", streams::CONTROL));
        user(
            out,
            code,
            &users.producer(p),
            &format!("Producer {p}: may publish only its own feeds and certificate."),
            Some(perms(&publish, &["_INBOX.>".into()])),
        );
    }
    let mut publish = Vec::new();
    for kind in Kind::ALL {
        publish.extend(consumer_api("$JS.API", streams::inbound(kind)));
        publish.extend(consumer_api("$JS.API", streams::outbound(kind)));
        // A subscription that closes deletes the consumers it made.
        publish.push(format!(
            "$JS.API.CONSUMER.DELETE.{}.*",
            streams::inbound(kind)
        ));
    }
    // Look up a producer certificate by subject (batches name it by digest).
    publish.push(format!("$JS.API.STREAM.MSG.GET.{}", streams::CONTROL));
    publish.sort();
    publish.dedup();
    user(
        out,
        code,
        &users.subscriber(),
        "Subscribers (alerting systems): read INBOUND and OUTBOUND (both lanes) and certificates; publish nothing.",
        Some(perms(&publish, &["_INBOX.>".into()])),
    );
    operator_users(out, &users);
    out.push_str("    ]\n  }\n");
}

/// The operator's users in HOME: each holds only what its job needs, and
/// neither holds the bridge's credentials.
fn operator_users(out: &mut String, users: &UserNames) {
    let code = users.nation;
    let api = "$JS.API";
    let audit = streams::AUDIT;
    let mut read_audit = consumer_api(api, audit);
    read_audit.push(format!("{api}.STREAM.MSG.GET.{audit}"));
    user(
        out,
        code,
        &users.auditor(),
        "The auditor (`coalition audit`): reads the AUDIT stream; publishes nothing.",
        Some(perms(&read_audit, &["_INBOX.>".into()])),
    );
    let control = streams::CONTROL;
    let publish = vec![
        // Policies, schema policies and translators (its own and the
        // partners' it was given), and this nation's notices. Not
        // certificates (each producer publishes its own) nor heartbeats.
        "ctl.policy.>".to_string(),
        "ctl.schema.>".to_string(),
        "ctl.translator.>".to_string(),
        format!("ctl.notice.{code}.>"),
        // The next notice epoch: CONTROL's subjects, and one by subject.
        format!("{api}.STREAM.INFO.{control}"),
        format!("{api}.STREAM.MSG.GET.{control}"),
    ];
    user(
        out,
        code,
        &users.operator(),
        "The operator (`coalition revoke`, `coalition control publish`): publishes policies, schema policies, translators and this nation's notices on ctl.>; nothing else.",
        Some(perms(&publish, &["_INBOX.>".into()])),
    );
}

/// JetStream limits of every release account: the three streams its bridge
/// creates (RELEASED, RELEASED_ALERTS, CONTROL), a few consumers on each
/// (it creates one for the partner on each RELEASED lane), no memory
/// storage, and a bounded file store. Anything beyond is refused by the
/// server.
pub mod release_limits {
    /// RELEASED, RELEASED_ALERTS and CONTROL.
    pub const STREAMS: u32 = 3;
    /// Consumers on each stream (nats-server applies the account's limit
    /// per stream): the partner's one on each RELEASED lane, and room to
    /// replace it.
    pub const CONSUMERS: u32 = 4;
    /// File storage in bytes, all three streams together (8 GB).
    pub const FILE_BYTES: i64 = 8_000_000_000;
}

/// Publish subjects `partner`'s leaf user needs to read `stream` through the
/// one pull consumer the sending bridge made for it: that consumer's info,
/// next message and acks. Nothing creates, updates or deletes a consumer, so
/// a partner cannot start a push consumer that writes into this account.
fn partner_consumer_api(api: &str, stream: &str, consumer: &str) -> Vec<String> {
    vec![
        format!("{api}.STREAM.INFO.{stream}"),
        format!("{api}.CONSUMER.INFO.{stream}.{consumer}"),
        format!("{api}.CONSUMER.MSG.NEXT.{stream}.{consumer}"),
        format!("$JS.ACK.{stream}.{consumer}.>"),
        format!("$JS.ACK.*.*.{stream}.{consumer}.>"),
        // Read one message by sequence: to tell a message deleted from (or
        // lost by) RELEASED from one still to come.
        format!("{api}.STREAM.MSG.GET.{stream}"),
    ]
}

fn release_account(out: &mut String, creds: &mut Credentials, code: &str, partner: &str) {
    let users = UserNames::new(code);
    let _ = writeln!(
        out,
        "  # {}: what {code}'s bridge released to {partner}. {partner}'s leaf connection is\n  \
         # bound here. It reads each RELEASED lane through the pull consumer {code}'s\n  \
         # bridge made for it, and CONTROL message by message; it creates nothing.",
        accounts::release_to(partner)
    );
    let _ = writeln!(
        out,
        "  {} {{\n    jetstream: {{ max_mem: 0, max_file: {}, max_streams: {}, max_consumers: {} }}\n    users: [",
        accounts::release_to(partner),
        release_limits::FILE_BYTES,
        release_limits::STREAMS,
        release_limits::CONSUMERS,
    );
    user(
        out,
        code,
        &users.bridge_rel(partner),
        &format!("{code}'s bridge: the only publisher of rel.> and ctl.>, and the owner of every stream and consumer here."),
        None,
    );
    let api = format!("$JS.{code}.API");
    let consumer = streams::ingress_consumer(partner);
    let leaf_user = users.leaf(partner);
    let leaf_password = creds.password(&leaf_user);
    let _ = writeln!(
        out,
        "      # {partner}'s leaf connection (leaf connections only)."
    );
    let _ = writeln!(
        out,
        "      {{ user: {}, password: {}, allowed_connection_types: [\"LEAFNODE\"],\n        {} }}",
        q(&leaf_user),
        q(&leaf_password),
        perms(
            &[
                partner_consumer_api(&api, streams::RELEASED, &consumer),
                partner_consumer_api(&api, streams::RELEASED_ALERTS, &consumer),
                // CONTROL is read by sequence (the next message on ctl.>
                // from a sequence on), and live messages wake the reader.
                vec![
                    format!("{api}.STREAM.INFO.{}", streams::CONTROL),
                    format!("{api}.STREAM.MSG.GET.{}", streams::CONTROL),
                ],
            ]
            .concat(),
            &["_INBOX.>".into(), "ctl.>".into()]
        )
    );
    out.push_str("    ]\n  }\n");
}

fn from_account(out: &mut String, code: &str, origin: &str) {
    let users = UserNames::new(code);
    let _ = writeln!(
        out,
        "  # {}: the leaf link to {origin}'s release account. Only the bridge reads it.\n  {} {{\n    users: [",
        accounts::from_partner(origin),
        accounts::from_partner(origin)
    );
    user(
        out,
        code,
        &users.bridge_from(origin),
        &format!("{code}'s bridge, pulling what {origin} released."),
        None,
    );
    out.push_str("    ]\n  }\n");
}

/// The interface every server's monitoring port binds.
pub const MONITOR_HOST: &str = "127.0.0.1";

/// Renders the config of server `id`.
pub(crate) fn render_server(
    topology: &Topology,
    addressing: &Addressing,
    creds: &mut Credentials,
    id: &ServerId,
) -> Result<String, TopologyError> {
    let code = id.nation.as_str();
    let nation = topology
        .nation(code)
        .ok_or_else(|| TopologyError::Addressing(format!("unknown nation {code}")))?;
    let addr = addressing
        .servers
        .get(id)
        .ok_or_else(|| TopologyError::Addressing(format!("no address for {id}")))?;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# nats-server config for {id}: nation {code}, server {} of {}, mesh {:?}.\n\
         # Generated by `coalition topology generate`; regenerate rather than edit.\n\
         # docs/architecture.md explains the accounts and links below.\n",
        id.index + 1,
        nation.servers,
        topology.name
    );
    let _ = writeln!(out, "server_name: {}", q(&id.to_string()));

    let _ = writeln!(out, "listen: \"{}:{}\"", addr.bind_host, addr.client_port);
    // Monitoring is plain HTTP without credentials and tells every
    // account's message counts, so it answers on loopback only, whatever
    // interface the server itself binds (docs/security.md).
    let _ = writeln!(
        out,
        "# Monitoring: loopback only (plain HTTP, no credentials).\nhttp: \"{MONITOR_HOST}:{}\"\n",
        addr.monitor_port
    );
    let _ = writeln!(
        out,
        "# Every client connection is mutual TLS: plaintext is refused, and so is a\n\
         # client without an unrevoked certificate from {code}'s TLS authority. The\n\
         # certificate is the credential: it opens only the user its subject names.\n{}",
        tls_block("", addr, id, &tls_paths::ca(code), Verify::MapToUser)
    );
    let sync = if nation.lazy_fsync {
        "# lazy_fsync: nats-server's default fsync (every 2 minutes). An acknowledged\n  \
         # write can be lost on a machine crash. UNSAFE: for the negative control only.\n"
    } else {
        "# Acknowledge a write only once it is on disk (the default acks before fsync).\n  \
         sync_interval: always\n"
    };
    let _ = writeln!(
        out,
        "jetstream {{\n  # This nation's JetStream domain: partners reach its API as $JS.{code}.API.\n  \
         domain: {}\n  store_dir: {}\n  {sync}}}\n",
        q(code),
        q(&addr.store_dir)
    );
    if nation.servers > 1 {
        render_cluster(&mut out, addressing, creds, id, nation.servers)?;
    }
    out.push_str("accounts {\n");
    home_account(&mut out, topology, code);
    for l in topology.links_from(code) {
        release_account(&mut out, creds, code, &l.to);
    }
    for l in topology.links_to(code) {
        from_account(&mut out, code, &l.from);
    }
    out.push_str("}\n\n");
    render_leafnodes(&mut out, topology, addressing, creds, id)?;
    Ok(out)
}

fn render_cluster(
    out: &mut String,
    addressing: &Addressing,
    creds: &mut Credentials,
    id: &ServerId,
    servers: usize,
) -> Result<(), TopologyError> {
    let route_user = UserNames::new(&id.nation).route();
    let route_password = creds.password(&route_user);
    let addr = &addressing.servers[id];
    let mut routes = Vec::new();
    for i in (0..servers).filter(|i| *i != id.index) {
        let other = addressing
            .servers
            .get(&ServerId::new(&id.nation, i))
            .ok_or_else(|| {
                TopologyError::Addressing(format!("no address for {}-{i}", id.nation))
            })?;
        routes.push(format!(
            "nats-route://{}:{}@{}:{}",
            route_user, route_password, other.host, other.cluster_port
        ));
    }
    let _ = writeln!(
        out,
        "cluster {{\n  name: {}\n  listen: \"{}:{}\"\n  authorization {{ user: {}, password: {} }}\n  routes: {}\n{}}}\n",
        q(&id.nation),
        addr.bind_host,
        addr.cluster_port,
        q(&route_user),
        q(&route_password),
        list(&routes),
        tls_block("  ", addr, id, &tls_paths::ca(&id.nation), Verify::Certificate)
    );
    Ok(())
}

fn render_leafnodes(
    out: &mut String,
    topology: &Topology,
    addressing: &Addressing,
    creds: &mut Credentials,
    id: &ServerId,
) -> Result<(), TopologyError> {
    let code = id.nation.as_str();
    let addr = &addressing.servers[id];
    out.push_str("leafnodes {\n");
    if topology.links_from(code).next().is_some() {
        let _ = writeln!(
            out,
            "  # Partners that {code} releases to connect here to pull their releases.\n  \
             listen: \"{}:{}\"\n  \
             # Never tell partners other addresses to dial: they use only the\n  \
             # endpoints {code} designated (a guard, a proxy, a fixed address).\n  \
             no_advertise: true\n  \
             # Mutual TLS: partners present their server certificate, issued by\n  \
             # their own TLS authority; only the partners {code} releases to are trusted.\n{}",
            addr.bind_host,
            addr.leaf_port,
            tls_block(
                "  ",
                addr,
                id,
                &tls_paths::leaf_clients_ca(code),
                Verify::Certificate
            )
            .trim_end()
        );
    }
    out.push_str("  # How soon a cut leaf link is redialled (nats-server's default is 1s).\n  reconnect: \"500ms\"\n");
    out.push_str("  remotes: [\n");
    for l in topology.links_to(code) {
        let sender = topology
            .nation(&l.from)
            .ok_or_else(|| TopologyError::Addressing(format!("unknown nation {}", l.from)))?;
        let leaf_user = UserNames::new(&l.from).leaf(code);
        let leaf_password = creds.password(&leaf_user);
        let mut urls = Vec::new();
        for i in 0..sender.servers {
            let endpoint = addressing
                .leaf_endpoint(&l.name(), &ServerId::new(&l.from, i))
                .ok_or_else(|| {
                    TopologyError::Addressing(format!("no leaf endpoint for {}-{i}", l.from))
                })?;
            urls.push(format!(
                "nats-leaf://{}:{}@{endpoint}",
                leaf_user, leaf_password
            ));
        }
        let tls = tls_block("      ", addr, id, &tls_paths::ca(&l.from), Verify::None);
        let _ = writeln!(
            out,
            "    # Link {}: pull what {} released to {code}, over TLS: {code} presents its\n    \
             # server certificate and trusts only {}'s TLS authority.\n    \
             {{\n      urls: {}\n      account: {}\n{tls}    }}",
            l.name(),
            l.from,
            l.from,
            list(&urls),
            q(&accounts::from_partner(&l.from))
        );
    }
    out.push_str("  ]\n}\n");
    Ok(())
}
