//! `rr`: round robin (`net/netfilter/ipvs/ip_vs_rr.c`).
//!
//! The kernel keeps a cursor on the last server picked and, at each pick,
//! walks the list from the one after it, wrapping around, up to and including
//! the cursor itself, taking the first server that is not overloaded and has
//! a weight above 0. A fresh service starts at the head of the list (the
//! newest server). When the server under the cursor is removed, the cursor
//! steps back to the one before it (`ip_vs_rr_del_dest`).
//!
//! Cost per pick: O(1) when the next server is usable, O(n) worst case.
//! Memory: one index.

use std::sync::Arc;

use super::{SchedRequest, Scheduler, usable};
use crate::ipvs::dest::Dest;

/// Round robin.
#[derive(Debug, Clone, Default)]
pub struct RoundRobin {
    /// Index of the last server picked; `None` is the list head.
    cursor: Option<usize>,
}

impl RoundRobin {
    /// A round robin starting at the list head.
    pub fn new() -> Self {
        RoundRobin { cursor: None }
    }
}

impl Scheduler for RoundRobin {
    fn name(&self) -> &'static str {
        "rr"
    }

    fn init(&mut self, _dests: &[Arc<Dest>]) {
        self.cursor = None;
    }

    fn add_dest(&mut self, _dests: &[Arc<Dest>], index: usize) {
        if let Some(c) = self.cursor {
            if c >= index {
                self.cursor = Some(c + 1);
            }
        }
    }

    fn del_dest(&mut self, _dests: &[Arc<Dest>], _removed: &Arc<Dest>, index: usize) {
        if let Some(c) = self.cursor {
            self.cursor = match c.cmp(&index) {
                std::cmp::Ordering::Less => Some(c),
                // The cursor's entry left: step back to its predecessor.
                std::cmp::Ordering::Equal => index.checked_sub(1),
                std::cmp::Ordering::Greater => Some(c - 1),
            };
        }
    }

    fn schedule(&mut self, req: &SchedRequest<'_>) -> Option<usize> {
        let n = req.dests.len();
        let start = match self.cursor {
            Some(c) if c < n => c + 1,
            _ => 0,
        };
        for k in 0..n {
            let i = (start + k) % n;
            if usable(&req.dests[i]) {
                self.cursor = Some(i);
                return Some(i);
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use std::net::{IpAddr, Ipv4Addr};
    use std::time::Instant;

    use crate::ipvs::{DestConfig, Flow, Protocol, Service, ServiceConfig, ServiceKey};

    fn ip(last: u8) -> IpAddr {
        IpAddr::V4(Ipv4Addr::new(198, 51, 100, last))
    }

    fn picks(svc: &mut Service, n: usize) -> Vec<u8> {
        let vip = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1));
        let flow = Flow::new(Protocol::Tcp, IpAddr::V4(Ipv4Addr::new(203, 0, 113, 1)), 1000, vip, 80);
        let now = Instant::now();
        (0..n)
            .map(|_| match svc.schedule(&flow, now).map(|d| d.addr()) {
                Some(IpAddr::V4(a)) => a.octets()[3],
                _ => 0,
            })
            .collect()
    }

    fn service(servers: &[u8]) -> Service {
        let key = ServiceKey::addr(Protocol::Tcp, IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)), 80);
        let mut svc = Service::new(ServiceConfig::new(key, "rr"), 0).unwrap();
        for &s in servers {
            svc.add_dest(DestConfig::masq(ip(s), 80)).unwrap();
        }
        svc
    }

    #[test]
    fn starts_at_newest_and_rotates() {
        let mut svc = service(&[1, 2, 3]);
        assert_eq!(picks(&mut svc, 7), [3, 2, 1, 3, 2, 1, 3]);
    }

    #[test]
    fn skips_weight_zero_and_overloaded() {
        let mut svc = service(&[1, 2, 3]);
        svc.edit_dest(DestConfig::masq(ip(2), 80).weight(0)).unwrap();
        svc.dest("198.51.100.3:80".parse().unwrap()).unwrap().set_overloaded(true);
        assert_eq!(picks(&mut svc, 3), [1, 1, 1]);
        svc.edit_dest(DestConfig::masq(ip(1), 80).weight(0)).unwrap();
        assert_eq!(picks(&mut svc, 1), [0]);
    }

    #[test]
    fn removal_of_cursor_steps_back() {
        let mut svc = service(&[1, 2, 3]); // list: 3 2 1
        assert_eq!(picks(&mut svc, 2), [3, 2]);
        svc.del_dest("198.51.100.2:80".parse().unwrap()).unwrap(); // cursor -> 3
        assert_eq!(picks(&mut svc, 3), [1, 3, 1]);
    }

    #[test]
    fn new_server_at_head_waits_for_wrap() {
        let mut svc = service(&[1, 2]); // list: 2 1
        assert_eq!(picks(&mut svc, 1), [2]);
        svc.add_dest(DestConfig::masq(ip(3), 80)).unwrap(); // list: 3 2 1, cursor on 2
        assert_eq!(picks(&mut svc, 4), [1, 3, 2, 1]);
    }
}
