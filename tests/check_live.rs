// lvskit-test: root
//! `HealthChecker` and `Runner` together against real servers that change
//! under them (in a private network namespace): the verdicts and the probe
//! timing follow keepalived's rules on the wall clock (with margins for a
//! loaded machine).

#![cfg(all(feature = "probe", target_os = "linux"))]

#[path = "check_servers/mod.rs"]
mod servers;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, AtomicU32, Ordering};
use std::time::{Duration, Instant};

use lvskit::check::runner::{Runner, RunnerConfig};
use lvskit::check::{
    CheckKind, CheckerSpec, HealthChecker, HealthEvent, HttpCheck, MiscCheck, ProbeResult, RealServerSpec, Script,
    UrlSpec, VirtualServerSpec,
};
use lvskit::ipvs::{DestConfig, Protocol, ServiceConfig, ServiceKey};
use rand::SeedableRng;
use servers::*;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// A checker and a runner with a log of what happened when.
struct Live {
    hc: HealthChecker,
    runner: Runner,
    start: Instant,
    /// (submitted at, probe id) and (finished at, result).
    probes: Vec<(Duration, u64)>,
    results: Vec<(Duration, ProbeResult)>,
    events: Vec<(Duration, HealthEvent)>,
}

impl Live {
    fn new(rs: SocketAddr, checker: CheckerSpec) -> Self {
        let vs = VirtualServerSpec::new(ServiceConfig::new(
            ServiceKey::addr(Protocol::Tcp, "192.0.2.1".parse().unwrap(), 80),
            "rr",
        ))
        .real_server(RealServerSpec::new(DestConfig::masq(rs.ip(), rs.port()).weight(10)).checker(checker));
        let start = Instant::now();
        let hc = HealthChecker::new(vec![vs], rand::rngs::StdRng::seed_from_u64(3), start).unwrap();
        Live {
            hc,
            runner: Runner::new(RunnerConfig::default()).unwrap(),
            start,
            probes: Vec::new(),
            results: Vec::new(),
            events: Vec::new(),
        }
    }

    fn run_for(&mut self, d: Duration) {
        let until = Instant::now() + d;
        while Instant::now() < until {
            let now = Instant::now();
            self.hc.handle_timeout(now);
            while let Some(p) = self.hc.poll_probe() {
                self.probes.push((now - self.start, u64::from(p.id.seq())));
                self.runner.submit(p, now);
            }
            self.drain(now);
            let mut wait = until.saturating_duration_since(now);
            if let Some(t) = self.hc.poll_timeout() {
                wait = wait.min(t.saturating_duration_since(now));
            }
            self.runner.poll_io(Some(wait)).unwrap();
            let now = Instant::now();
            while let Some((id, r)) = self.runner.poll_result() {
                self.results.push((now - self.start, r.clone()));
                self.hc.handle_result(id, r, now).unwrap();
            }
            self.drain(now);
        }
    }

    fn drain(&mut self, now: Instant) {
        while let Some(e) = self.hc.poll_event() {
            self.events.push((now - self.start, e));
        }
    }

    fn t(&self) -> Duration {
        self.start.elapsed()
    }

    fn pool(&self) -> Vec<(SocketAddr, u32)> {
        self.hc.desired()[0].dests.iter().map(|d| (d.socket_addr(), d.weight)).collect()
    }

    fn event_times(&self, f: impl Fn(&HealthEvent) -> bool) -> Vec<Duration> {
        self.events.iter().filter(|(_, e)| f(e)).map(|(t, _)| *t).collect()
    }

    fn probes_between(&self, a: Duration, b: Duration) -> Vec<Duration> {
        self.probes.iter().map(|p| p.0).filter(|t| *t >= a && *t < b).collect()
    }
}

fn near(actual: Duration, expected: Duration, margin: Duration) -> bool {
    actual + margin >= expected && actual <= expected + margin
}

#[test]
fn tcp_listener_stops_and_restarts() {
    if !enabled("tcp_listener_stops_and_restarts") {
        return;
    }
    netns();
    let rs = sa("127.0.0.2:8080");
    let l = Listener::start(rs);
    // delay_loop 1 s, retry 2, delay_before_retry 300 ms.
    let spec = CheckerSpec::tcp()
        .connect_timeout(ms(800))
        .delay_loop(ms(1000))
        .retry(2)
        .delay_before_retry(ms(300))
        .warmup(Duration::ZERO);
    let mut live = Live::new(rs, spec);
    live.run_for(ms(2600));
    // The first probe one second after start, the next a delay_loop later.
    let first: Vec<Duration> = live.probes.iter().map(|p| p.0).collect();
    assert!(near(first[0], ms(1000), ms(150)) && near(first[1], ms(2000), ms(200)), "{first:?}");
    assert_eq!(live.pool(), vec![(rs, 10)]);

    l.stop();
    let stopped = live.t();
    live.run_for(ms(3500));
    let down = live.event_times(|e| matches!(e, HealthEvent::ServerDown { .. }));
    assert_eq!(down.len(), 1, "{:?}", live.events);
    // Down after the first failed probe and both retries, 300 ms apart.
    let failing = live.probes_between(stopped, down[0]);
    assert_eq!(failing.len(), 3, "{failing:?}");
    for w in failing.windows(2) {
        assert!(near(w[1] - w[0], ms(300), ms(150)), "{failing:?}");
    }
    assert!(down[0] - failing[2] < ms(200));
    assert!(live.pool().is_empty());

    let l = Listener::start(rs);
    let restarted = live.t();
    live.run_for(ms(2500));
    let up = live.event_times(|e| matches!(e, HealthEvent::ServerUp { .. }));
    assert_eq!(up.len(), 1);
    // Up after a single success: the first probe after the restart.
    let after = live.probes_between(restarted, up[0] + ms(1));
    assert_eq!(after.len(), 1, "{after:?}");
    // TCP_CHECK retries a down server (300 ms, 300 ms, then a delay_loop),
    // so the server is back within 1.3 s.
    assert!(up[0] - restarted < ms(1500), "{:?}", up[0] - restarted);
    assert_eq!(live.pool(), vec![(rs, 10)]);
    l.stop();
}

#[test]
fn http_status_and_digest_changes() {
    if !enabled("http_status_and_digest_changes") {
        return;
    }
    netns();
    let rs = sa("127.0.0.2:80");
    let mode = Arc::new(AtomicU8::new(0));
    http_server(rs, Arc::clone(&mode), Arc::new(AtomicU32::new(0)));
    let digest: [u8; 16] = {
        use md5::Digest;
        md5::Md5::digest(b"hello").into()
    };
    let spec = CheckerSpec::new(CheckKind::Http(HttpCheck::http(vec![UrlSpec::new("/").digest(digest)])))
        .connect_timeout(ms(800))
        .delay_loop(ms(700))
        .retry(1)
        .delay_before_retry(ms(200))
        .warmup(Duration::ZERO);
    let mut live = Live::new(rs, spec);
    live.run_for(ms(2000));
    assert_eq!(live.pool(), vec![(rs, 10)]);
    // 500: down after one retry.
    mode.store(1, Ordering::Relaxed);
    let t500 = live.t();
    live.run_for(ms(2000));
    let down = live.event_times(|e| matches!(e, HealthEvent::ServerDown { .. }));
    assert_eq!(down.len(), 1);
    assert_eq!(live.probes_between(t500, down[0]).len(), 2);
    assert!(live.pool().is_empty());
    // Back to "hello": up after one success.
    mode.store(0, Ordering::Relaxed);
    live.run_for(ms(1500));
    assert_eq!(live.event_times(|e| matches!(e, HealthEvent::ServerUp { .. })).len(), 1);
    assert_eq!(live.pool(), vec![(rs, 10)]);
    // A body that changes: the digest no longer matches.
    mode.store(2, Ordering::Relaxed);
    live.run_for(ms(2000));
    assert_eq!(live.event_times(|e| matches!(e, HealthEvent::ServerDown { .. })).len(), 2);
    let reasons: Vec<String> = live
        .events
        .iter()
        .filter_map(|(_, e)| match e {
            HealthEvent::CheckerDown { reason, .. } => Some(reason.to_string()),
            _ => None,
        })
        .collect();
    assert_eq!(reasons[0], "HTTP status code error (500)");
    assert!(reasons[1].starts_with("MD5 digest error"), "{reasons:?}");
}

#[test]
fn misc_dynamic_weights_follow_the_script() {
    if !enabled("misc_dynamic_weights_follow_the_script") {
        return;
    }
    netns();
    let d = tempdir("live");
    let code = d.join("code");
    std::fs::write(&code, "0").unwrap();
    let s = script(&d, "check", &format!("exit $(cat {})", code.display()));
    let spec = CheckerSpec::new(CheckKind::Misc(MiscCheck {
        script: Script::new([s]).unwrap(),
        timeout: Some(ms(900)),
        dynamic: true,
    }))
    .delay_loop(ms(400))
    .warmup(Duration::ZERO);
    let rs = sa("127.0.0.2:80");
    let mut live = Live::new(rs, spec);
    live.run_for(ms(1600));
    assert_eq!(live.pool(), vec![(rs, 10)]);
    std::fs::write(&code, "27").unwrap(); // weight 25
    live.run_for(ms(1000));
    assert_eq!(live.pool(), vec![(rs, 25)]);
    std::fs::write(&code, "1").unwrap(); // down
    live.run_for(ms(1000));
    assert!(live.pool().is_empty());
    std::fs::write(&code, "0").unwrap(); // up with its configured weight
    live.run_for(ms(1000));
    assert_eq!(live.pool(), vec![(rs, 10)]);
    // MISC_CHECK runs are timed from their start: 400 ms apart.
    let t: Vec<Duration> = live.probes.iter().map(|p| p.0).collect();
    let gaps: Vec<Duration> = t.windows(2).map(|w| w[1] - w[0]).collect();
    assert!(gaps.iter().all(|g| near(*g, ms(400), ms(150))), "{gaps:?}");
    let _ = std::fs::remove_dir_all(&d);
}
