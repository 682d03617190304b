//! The pure part of a narrow bearer: the `tc` commands that limit a
//! sidecar's bandwidth, and which interfaces they apply to. The driver runs
//! them from the host in the sidecar's network namespace (the images carry
//! no `tc`), as it does `iptables` for packet loss.
//!
//! A token bucket (`tbf`) on the egress of every interface of the sidecar
//! but loopback: one sidecar carries one leaf connection, so each leaf
//! connection gets `rate` kbit/s each way (towards the receiving nation on
//! one interface, towards the sending server on the other). Packets over
//! the bucket's queue (`latency`) are dropped, and TCP backs off, as on a
//! real narrow bearer.

/// The interfaces of an `ip -o link show` listing, loopback left out
/// (`eth0@if12` is `eth0`).
pub fn interfaces(ip_link_listing: &str) -> Vec<String> {
    ip_link_listing
        .lines()
        .filter_map(|line| line.split(": ").nth(1))
        .map(|name| name.split('@').next().unwrap_or(name).trim().to_string())
        .filter(|name| !name.is_empty() && name != "lo")
        .collect()
}

/// How long a packet may queue in the bucket before it is dropped.
pub const QUEUE_MS: u32 = 1_000;

/// `tc` arguments that limit `dev`'s egress to `rate_kbit` kbit/s.
pub fn limit(dev: &str, rate_kbit: u32) -> Vec<String> {
    // The bucket holds a tenth of a second of traffic, at least one
    // full-size frame and a bit.
    let burst_bytes = (rate_kbit as u64 * 1_000 / 8 / 10).max(4_096);
    [
        "qdisc",
        "replace",
        "dev",
        dev,
        "root",
        "tbf",
        "rate",
        &format!("{rate_kbit}kbit"),
        "burst",
        &burst_bytes.to_string(),
        "latency",
        &format!("{QUEUE_MS}ms"),
    ]
    .map(str::to_string)
    .to_vec()
}

/// `tc` arguments that remove any limit from `dev`.
pub fn unlimit(dev: &str) -> Vec<String> {
    ["qdisc", "del", "dev", dev, "root"]
        .map(str::to_string)
        .to_vec()
}

/// True if `tc qdisc del` failed only because there was nothing to remove.
pub fn nothing_to_remove(tc_error: &str) -> bool {
    tc_error.contains("handle of zero")
        || tc_error.contains("No such file or directory")
        || tc_error.contains("Invalid handle")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interfaces_leave_loopback_out_and_drop_the_peer_suffix() {
        let listing = "1: lo: <LOOPBACK,UP,LOWER_UP> mtu 65536 qdisc noqueue state UNKNOWN mode DEFAULT group default qlen 1000\\    link/loopback 00:00:00:00:00:00 brd 00:00:00:00:00:00\n\
                       41: eth0@if42: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1500 qdisc noqueue state UP\\    link/ether 02:42:ac:12:00:05\n\
                       43: eth1@if44: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1500 qdisc noqueue state UP\n";
        assert_eq!(interfaces(listing), ["eth0", "eth1"]);
        assert!(interfaces("").is_empty());
        assert!(interfaces("garbage without colons").is_empty());
    }

    #[test]
    fn the_limit_is_a_token_bucket_at_the_rate_with_a_bounded_queue() {
        assert_eq!(
            limit("eth0", 256).join(" "),
            "qdisc replace dev eth0 root tbf rate 256kbit burst 4096 latency 1000ms"
        );
        // A wide link gets a tenth of a second of burst.
        assert!(limit("eth1", 100_000).join(" ").contains("burst 1250000"));
        assert_eq!(unlimit("eth0").join(" "), "qdisc del dev eth0 root");
    }

    #[test]
    fn removing_a_limit_that_is_not_there_is_not_an_error() {
        assert!(nothing_to_remove(
            "Error: Cannot delete qdisc with handle of zero."
        ));
        assert!(!nothing_to_remove("Cannot find device \"eth9\""));
    }
}
