//! Picks free loopback ports for servers and proxies.
//!
//! The ports are found by binding listeners on `127.0.0.1:0` and closing
//! them again, so there is a short window between this call and the moment
//! the server binds in which another process may take a port. The window is
//! not closed here: `ServerProcess::wait_healthy` reports that case as
//! [`HarnessError::PortInUse`], and callers retry with fresh ports.

use std::net::TcpListener;

use crate::HarnessError;

/// Returns `n` distinct free TCP ports on 127.0.0.1.
///
/// All `n` listeners are held open together before any is closed, which is
/// what makes the ports distinct from each other.
pub fn free_loopback_ports(n: usize) -> Result<Vec<u16>, HarnessError> {
    let mut listeners = Vec::with_capacity(n);
    for _ in 0..n {
        let listener = TcpListener::bind(("127.0.0.1", 0))
            .map_err(|e| HarnessError::io("binding 127.0.0.1:0 to find a free port", e))?;
        listeners.push(listener);
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
        assert!(ports.iter().all(|p| *p != 0));
        let unique: HashSet<u16> = ports.iter().copied().collect();
        assert_eq!(unique.len(), 16);
    }

    #[test]
    fn zero_ports_is_empty() {
        assert!(free_loopback_ports(0).expect("ports").is_empty());
    }
}
