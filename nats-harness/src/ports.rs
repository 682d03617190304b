//! Picks free loopback ports for servers and proxies.
//!
//! The ports are chosen at random **below the kernel's ephemeral range**
//! (`/proc/sys/net/ipv4/ip_local_port_range`) and checked by binding a
//! listener on each. Ports in the ephemeral range (what `127.0.0.1:0`
//! gives) are also the source ports of outgoing connections: a server that
//! is killed and restarted on the same port could find it taken by some
//! client's connection meanwhile. Below the range, only another explicit
//! bind can take it.
//!
//! There is still a short window between this call and the moment the
//! server binds: `ServerProcess::wait_healthy` reports that case as
//! [`HarnessError::PortInUse`], and callers retry with fresh ports.

use std::net::TcpListener;

/// The lowest port ever picked.
const LOWEST: u16 = 10_000;

/// The first port of the kernel's ephemeral range (32768 if unknown).
fn ephemeral_start() -> u16 {
    std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .filter(|p: &u16| *p > LOWEST + 1_000)
        .unwrap_or(32_768)
}

use crate::HarnessError;

/// Returns `n` distinct free TCP ports on 127.0.0.1.
///
/// All `n` listeners are held open together before any is closed, which is
/// what makes the ports distinct from each other.
pub fn free_loopback_ports(n: usize) -> Result<Vec<u16>, HarnessError> {
    let end = ephemeral_start();
    let mut listeners = Vec::with_capacity(n);
    let mut attempts = 0;
    while listeners.len() < n {
        attempts += 1;
        if attempts > 10_000 {
            return Err(HarnessError::io(
                "finding free loopback ports below the ephemeral range",
                std::io::Error::new(std::io::ErrorKind::AddrInUse, "no free port found"),
            ));
        }
        let port = rand::Rng::gen_range(&mut rand::thread_rng(), LOWEST..end);
        if let Ok(listener) = TcpListener::bind(("127.0.0.1", port)) {
            listeners.push(listener);
        }
    }
    listeners
        .iter()
        .map(|l| {
            l.local_addr()
                .map(|a| a.port())
                .map_err(|e| HarnessError::io("reading the address of a probe listener", e))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn ports_are_distinct_and_nonzero() {
        let ports = free_loopback_ports(16).expect("ports");
        assert_eq!(ports.len(), 16);
        assert!(ports
            .iter()
            .all(|p| (LOWEST..ephemeral_start()).contains(p)));
        let unique: HashSet<u16> = ports.iter().copied().collect();
        assert_eq!(unique.len(), 16);
    }

    #[test]
    fn zero_ports_is_empty() {
        assert!(free_loopback_ports(0).expect("ports").is_empty());
    }
}
