//! A virtual-time driver for `HealthChecker`: probes complete after a
//! latency an oracle chooses, with the result it chooses, and the loop
//! always jumps to the earliest pending instant (quinn's `Pair::drive`).

#![allow(dead_code)]

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use lvskit::check::{CheckerId, HealthChecker, HealthEvent, Probe, ProbeResult, VirtualServerSpec};
use rand::SeedableRng;

/// One probe as the simulation saw it.
#[derive(Debug, Clone)]
pub struct Issued {
    /// When it was issued, from the start.
    pub at: Duration,
    /// Its checker.
    pub checker: CheckerId,
    /// The probe.
    pub probe: Probe,
}

pub struct Sim {
    pub hc: HealthChecker,
    pub start: Instant,
    pub now: Instant,
    pending: Vec<(Instant, Probe, ProbeResult)>,
    pub issued: Vec<Issued>,
    pub events: Vec<(Duration, HealthEvent)>,
}

pub fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

pub fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

pub fn v4(d: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(198, 51, 100, d))
}

pub fn vip() -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1))
}

impl Sim {
    pub fn new(vss: Vec<VirtualServerSpec>, seed: u64) -> Self {
        let start = Instant::now();
        let hc = HealthChecker::new(vss, rand::rngs::StdRng::seed_from_u64(seed), start).expect("valid config");
        let mut s = Sim { hc, start, now: start, pending: Vec::new(), issued: Vec::new(), events: Vec::new() };
        s.drain_events();
        s
    }

    pub fn t(&self) -> Duration {
        self.now - self.start
    }

    fn drain_events(&mut self) {
        while let Some(e) = self.hc.poll_event() {
            self.events.push((self.now - self.start, e));
        }
    }

    /// Runs until `until` (from the start). `oracle(probe, issued_at)`
    /// gives each probe's result and how long it takes.
    pub fn run_until(&mut self, until: Duration, oracle: &mut dyn FnMut(&Probe, Duration) -> (ProbeResult, Duration)) {
        let end = self.start + until;
        loop {
            let next_done = self.pending.iter().map(|p| p.0).min();
            let next_timer = self.hc.poll_timeout();
            let next = match (next_done, next_timer) {
                (Some(a), Some(b)) => a.min(b),
                (a, b) => match a.or(b) {
                    Some(x) => x,
                    None => break,
                },
            };
            if next > end {
                break;
            }
            self.now = self.now.max(next);
            // Results due now, oldest first.
            self.pending.sort_by_key(|p| p.0);
            while self.pending.first().is_some_and(|p| p.0 <= self.now) {
                let (_, probe, result) = self.pending.remove(0);
                self.hc.handle_result(probe.id, result, self.now).expect("awaited probe");
                self.drain_events();
            }
            self.hc.handle_timeout(self.now);
            self.drain_events();
            while let Some(p) = self.hc.poll_probe() {
                let at = self.now - self.start;
                let (result, latency) = oracle(&p, at);
                self.issued.push(Issued { at, checker: p.id.checker(), probe: p.clone() });
                self.pending.push((self.now + latency, p, result));
            }
        }
        self.now = self.now.max(end);
    }

    /// Issue times of a checker's probes.
    pub fn times(&self, c: CheckerId) -> Vec<Duration> {
        self.issued.iter().filter(|i| i.checker == c).map(|i| i.at).collect()
    }

    /// The addresses in the desired pool of the first virtual server, with weights.
    pub fn pool(&self) -> Vec<(SocketAddr, u32)> {
        self.hc.desired()[0].dests.iter().map(|d| (d.socket_addr(), d.weight)).collect()
    }

    /// Events matching `f`, with their times.
    pub fn events_where(&self, f: impl Fn(&HealthEvent) -> bool) -> Vec<(Duration, HealthEvent)> {
        self.events.iter().filter(|(_, e)| f(e)).cloned().collect()
    }
}
