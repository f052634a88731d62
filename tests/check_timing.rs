//! keepalived's probe timing on virtual time: exact probe instants, retry
//! spacing, down after the last retry, up after one success, warmup spread,
//! and the differences between checker kinds (keepalived 2.2.7 `check/`).

#[path = "check_sim/mod.rs"]
mod sim;

use std::net::SocketAddr;
use std::time::Duration;

use lvskit::check::http::StatusSet;
use lvskit::check::{
    CheckKind, CheckerId, CheckerSpec, DnsCheck, Failure, HealthEvent, HttpCheck, MiscCheck, ProbeResult, ProbeSpec,
    RealServerSpec, Script, ScriptExit, SmtpCheck, UdpCheck, UrlSpec, VirtualServerSpec,
};
use lvskit::ipvs::{DestConfig, Protocol, ServiceConfig, ServiceKey};
use sim::{Sim, ms, secs, v4, vip};

fn refused() -> ProbeResult {
    ProbeResult::Failure(Failure::ConnectFailed { kind: std::io::ErrorKind::ConnectionRefused, errno: Some(111) })
}

fn vs_with(checker: CheckerSpec) -> VirtualServerSpec {
    VirtualServerSpec::new(ServiceConfig::new(ServiceKey::addr(Protocol::Tcp, vip(), 80), "rr"))
        .delay_loop(secs(6))
        .real_server(RealServerSpec::new(DestConfig::masq(v4(1), 80)).checker(checker))
}

fn rs_addr() -> SocketAddr {
    SocketAddr::new(v4(1), 80)
}

const C0: CheckerId = CheckerId(0);

fn down_events(s: &Sim) -> Vec<Duration> {
    s.events_where(|e| matches!(e, HealthEvent::ServerDown { .. })).into_iter().map(|(t, _)| t).collect()
}

fn up_events(s: &Sim) -> Vec<Duration> {
    s.events_where(|e| matches!(e, HealthEvent::ServerUp { .. })).into_iter().map(|(t, _)| t).collect()
}

/// The classic deployment: `TCP_CHECK { connect_timeout 10 retry 3
/// delay_before_retry 3 }` every `delay_loop 6`.
fn classic() -> CheckerSpec {
    CheckerSpec::tcp().connect_timeout(secs(10)).retry(3).delay_before_retry(secs(3)).warmup(Duration::ZERO)
}

#[test]
fn tcp_probes_one_second_after_start_then_every_delay_loop_after_completion() {
    let mut s = Sim::new(vec![vs_with(classic())], 1);
    s.run_until(secs(30), &mut |_, _| (ProbeResult::Success, ms(10)));
    // BOOTSTRAP_DELAY (1 s) with warmup 0, then delay_loop after each
    // completion: the 10 ms the connect takes shifts every later probe.
    assert_eq!(s.times(C0), vec![ms(1000), ms(7010), ms(13020), ms(19030), ms(25040)]);
    // Non-alpha: in the pool from the start, and no up notification.
    assert_eq!(s.pool(), vec![(rs_addr(), 1)]);
    assert!(up_events(&s).is_empty());
    // Probe details: deadline is connect_timeout after issue.
    let p = &s.issued[0].probe;
    assert!(matches!(p.spec, ProbeSpec::Tcp));
    assert_eq!(p.step_timeout, secs(10));
    assert_eq!(p.deadline - s.start, ms(1000) + secs(10));
    assert_eq!(p.target.as_ref().unwrap().dst, rs_addr());
}

#[test]
fn tcp_down_only_after_the_last_retry_and_retries_continue_while_down() {
    let mut s = Sim::new(vec![vs_with(classic())], 1);
    // Healthy until 20 s, then refusing within 1 ms.
    s.run_until(secs(70), &mut |_, at| if at < secs(20) { (ProbeResult::Success, ms(10)) } else { (refused(), ms(1)) });
    let t = s.times(C0);
    assert_eq!(&t[..4], &[ms(1000), ms(7010), ms(13020), ms(19030)]);
    // 25.040 fails; three retries 3 s after each failure; the fourth failure
    // (34.043 + 1 ms) takes the server down.
    assert_eq!(&t[4..8], &[ms(25040), ms(28041), ms(31042), ms(34043)]);
    assert_eq!(down_events(&s), vec![ms(34044)]);
    // TCP_CHECK retries on while down: delay_loop, then three retries.
    assert_eq!(&t[8..13], &[ms(40044), ms(43045), ms(46046), ms(49047), ms(55048)]);
    assert!(s.pool().is_empty());
    let down = s.events_where(|e| matches!(e, HealthEvent::CheckerDown { .. }));
    assert!(matches!(&down[0].1, HealthEvent::CheckerDown { reason: Failure::ConnectFailed { .. }, .. }));
}

#[test]
fn first_failure_at_start_is_immediate_and_one_success_brings_it_back() {
    let mut s = Sim::new(vec![vs_with(classic())], 1);
    s.run_until(secs(30), &mut |_, at| if at < secs(12) { (refused(), ms(1)) } else { (ProbeResult::Success, ms(1)) });
    let t = s.times(C0);
    // keepalived starts every checker with its retries spent: the first
    // failure is final.
    assert_eq!(down_events(&s), vec![ms(1001)]);
    // Then the down server is retried: 7.001 fails, retries at 10.002 and
    // 13.003 (which succeeds: up after a single success).
    assert_eq!(&t[..4], &[ms(1000), ms(7001), ms(10002), ms(13003)]);
    assert_eq!(up_events(&s), vec![ms(13004)]);
    assert_eq!(t[4], ms(19004));
    assert_eq!(s.pool(), vec![(rs_addr(), 1)]);
}

#[test]
fn a_timeout_counts_as_a_failure_at_the_deadline() {
    let mut s = Sim::new(vec![vs_with(classic())], 1);
    s.run_until(secs(60), &mut |p, _| (ProbeResult::Failure(Failure::ConnectTimeout), p.step_timeout));
    let t = s.times(C0);
    // 1 s + 10 s timeout = down at 11 s; next probe 6 s later.
    assert_eq!(down_events(&s), vec![secs(11)]);
    assert_eq!(&t[..3], &[secs(1), secs(17), secs(30)]);
}

#[test]
fn alpha_starts_failed_and_out_of_the_pool() {
    let mut s = Sim::new(vec![vs_with(classic().alpha(true))], 1);
    assert!(s.pool().is_empty(), "alpha: not in the pool before its first success");
    s.run_until(secs(5), &mut |_, _| (ProbeResult::Success, ms(2)));
    assert_eq!(up_events(&s), vec![ms(1002)]);
    assert_eq!(s.pool(), vec![(rs_addr(), 1)]);
    // In alpha mode a first failure only notifies (the server was never up).
    let mut s = Sim::new(vec![vs_with(classic().alpha(true))], 1);
    s.run_until(secs(5), &mut |_, _| (refused(), ms(2)));
    assert_eq!(down_events(&s), vec![ms(1002)]);
    assert!(s.events_where(|e| matches!(e, HealthEvent::CheckerDown { .. })).is_empty());
    assert!(s.pool().is_empty());
}

#[test]
fn warmup_spreads_first_probes_uniformly_and_reproducibly() {
    let n = 1000;
    let mut vs = VirtualServerSpec::new(ServiceConfig::new(ServiceKey::addr(Protocol::Tcp, vip(), 80), "rr"))
        .delay_loop(secs(10));
    for i in 0..1000u32 {
        let port = 8000 + (i / 250) as u16;
        vs = vs.real_server(
            RealServerSpec::new(DestConfig::masq(v4((i % 250) as u8 + 1), port)).checker(CheckerSpec::tcp()),
        );
    }
    let first = |seed: u64| {
        let mut s = Sim::new(vec![vs.clone()], seed);
        s.run_until(secs(12), &mut |_, _| (ProbeResult::Success, ms(1)));
        let mut f: Vec<Duration> = (0..n as u32).map(|c| s.times(CheckerId(c))[0]).collect();
        f.sort();
        f
    };
    let a = first(7);
    // warmup defaults to delay_loop: first probes in [1 s, 11 s].
    assert!(a[0] >= secs(1) && a[n - 1] <= secs(11));
    // Spread: every one-second bucket holds a fair share (100 expected).
    let mut buckets = [0u32; 10];
    for t in &a {
        let b = ((t.as_secs_f64() - 1.0) as usize).min(9);
        buckets[b] += 1;
    }
    assert!(buckets.iter().all(|&b| (60..=140).contains(&b)), "{buckets:?}");
    assert_eq!(a, first(7), "same seed, same instants");
    assert_ne!(a, first(8), "another seed, other instants");
}

#[test]
fn udp_dns_ping_do_not_retry_a_down_server() {
    let udp = CheckerSpec::new(CheckKind::Udp(UdpCheck::default()))
        .retry(2)
        .delay_before_retry(secs(1))
        .delay_loop(secs(5))
        .warmup(Duration::ZERO);
    let mut s = Sim::new(vec![vs_with(udp)], 1);
    s.run_until(secs(40), &mut |_, at| {
        if at < secs(10) { (ProbeResult::Success, ms(1)) } else { (ProbeResult::Failure(Failure::UdpNoReply), ms(1)) }
    });
    let t = s.times(C0);
    assert_eq!(&t[..3], &[ms(1000), ms(6001), ms(11002)]);
    // 11.002 fails: two retries a second apart, then down.
    assert_eq!(&t[3..5], &[ms(12003), ms(13004)]);
    assert_eq!(down_events(&s), vec![ms(13005)]);
    // Down: only every delay_loop, no retries.
    assert_eq!(&t[5..8], &[ms(18005), ms(23006), ms(28007)]);
}

#[test]
fn dns_defaults_are_three_retries_spaced_by_delay_loop() {
    let dns = CheckerSpec::new(CheckKind::Dns(DnsCheck::default())).delay_loop(secs(5)).warmup(Duration::ZERO);
    let mut s = Sim::new(vec![vs_with(dns)], 1);
    s.run_until(secs(60), &mut |_, at| {
        if at < secs(3) {
            (ProbeResult::Success, ms(1))
        } else {
            (ProbeResult::Failure(Failure::DnsRcode { rcode: 2 }), ms(1))
        }
    });
    let t = s.times(C0);
    assert_eq!(&t[..5], &[ms(1000), ms(6001), ms(11002), ms(16003), ms(21004)]);
    assert_eq!(down_events(&s), vec![ms(21005)]);
    // Each query carries a fresh random ID.
    let ids: Vec<u16> = s
        .issued
        .iter()
        .map(|i| match &i.probe.spec {
            ProbeSpec::Dns { id, query } => {
                assert_eq!(u16::from_be_bytes([query[0], query[1]]), *id);
                *id
            }
            _ => unreachable!(),
        })
        .collect();
    assert!(ids.windows(2).any(|w| w[0] != w[1]));
}

#[test]
fn smtp_starts_each_cycle_with_fresh_retries() {
    let smtp = CheckerSpec::new(CheckKind::Smtp(SmtpCheck::default()))
        .retry(1)
        .delay_before_retry(secs(1))
        .delay_loop(secs(5))
        .warmup(Duration::ZERO);
    let mut s = Sim::new(vec![vs_with(smtp)], 1);
    let fail = || ProbeResult::Failure(Failure::SmtpReply { step: "banner", code: Some(554) });
    s.run_until(secs(20), &mut |_, _| (fail(), ms(1)));
    let t = s.times(C0);
    // Even the first cycle retries (smtp_start_check_thread resets the
    // count), and so does every cycle while down.
    assert_eq!(&t[..6], &[ms(1000), ms(2001), ms(7002), ms(8003), ms(13004), ms(14005)]);
    assert_eq!(down_events(&s), vec![ms(2002)]);
}

fn http(urls: &[&str]) -> HttpCheck {
    HttpCheck::http(urls.iter().map(|p| UrlSpec::new(*p)).collect())
}

fn url_of(p: &lvskit::check::Probe) -> usize {
    match &p.spec {
        ProbeSpec::Http { url, .. } => *url,
        _ => unreachable!(),
    }
}

#[test]
fn http_checks_one_url_per_probe_and_a_failed_url_blocks_recovery() {
    let chk = CheckerSpec::new(CheckKind::Http(http(&["/a", "/b"])))
        .retry(1)
        .delay_before_retry(secs(2))
        .delay_loop(secs(5))
        .warmup(Duration::ZERO);
    let mut s = Sim::new(vec![vs_with(chk)], 1);
    // /b fails between 12 s and 30 s.
    let status = |code| ProbeResult::Failure(Failure::HttpStatus { status: code });
    s.run_until(secs(60), &mut |p, at| {
        if url_of(p) == 1 && (secs(12)..secs(30)).contains(&at) {
            (status(500), ms(1))
        } else {
            (ProbeResult::Success, ms(1))
        }
    });
    let urls: Vec<(Duration, usize)> = s.issued.iter().map(|i| (i.at, url_of(&i.probe))).collect();
    assert_eq!(
        &urls[..8],
        &[
            (ms(1000), 0),
            (ms(6001), 1),
            (ms(11002), 0),
            (ms(16003), 1), // fails: retry after delay_before_retry
            (ms(18004), 1), // fails again: retries used up, down
            (ms(23005), 1), // known down: failed URL rechecked every max(dbr, delay_loop)
            (ms(28006), 1),
            (ms(33007), 1), // answers again: all URLs are rechecked from the first
        ]
    );
    assert_eq!(down_events(&s), vec![ms(18005)]);
    assert_eq!(&urls[8..10], &[(ms(38008), 0), (ms(43009), 1)]);
    // Up only once every URL passed again.
    assert_eq!(up_events(&s), vec![ms(43010)]);
}

#[test]
fn http_fast_recovery_checks_again_at_once_until_it_has_run() {
    let mut h = http(&["/a", "/b", "/c"]);
    h.fast_recovery = true;
    let chk = CheckerSpec::new(CheckKind::Http(h)).delay_loop(secs(5)).warmup(Duration::ZERO).alpha(true);
    let mut s = Sim::new(vec![vs_with(chk)], 1);
    s.run_until(secs(8), &mut |_, _| (ProbeResult::Success, ms(3)));
    // All three URLs back to back, then the normal rhythm.
    assert_eq!(s.times(C0), vec![ms(1000), ms(1003), ms(1006), ms(6009)]);
    assert_eq!(up_events(&s), vec![ms(1009)]);
}

#[test]
fn http_status_sets_are_carried_in_the_probe() {
    let url = UrlSpec::new("/x").status(StatusSet::parse(["200-204", "301"]).unwrap()).digest([7; 16]);
    let chk = CheckerSpec::new(CheckKind::Http(HttpCheck::http(vec![url.clone()]))).warmup(Duration::ZERO);
    let mut s = Sim::new(vec![vs_with(chk)], 1);
    s.run_until(secs(2), &mut |_, _| (ProbeResult::Success, ms(1)));
    let ProbeSpec::Http { http, url: 0 } = &s.issued[0].probe.spec else { panic!() };
    assert_eq!(http.check.urls[0], url);
    assert_eq!(http.requests[0], b"GET /x HTTP/1.0\r\nUser-Agent: KeepAliveClient\r\nHost: 198.51.100.1:80\r\n\r\n");
    // HTTP's default delay_before_retry is 3 s; connect_timeout inherited 5 s.
    let cfg = s.hc.checker_config(C0).unwrap();
    assert_eq!(cfg.delay_before_retry, secs(3));
    assert_eq!(cfg.connect_timeout, secs(5));
    assert_eq!(cfg.retry, 1);
}

fn misc(dynamic: bool) -> CheckerSpec {
    CheckerSpec::new(CheckKind::Misc(MiscCheck {
        script: Script::new(["/bin/check", "arg"]).unwrap(),
        timeout: None,
        dynamic,
    }))
    .warmup(Duration::ZERO)
}

#[test]
fn misc_runs_are_timed_from_their_start() {
    let mut s = Sim::new(vec![vs_with(misc(false).delay_loop(secs(5)))], 1);
    // Each run takes 2 s: the next starts 5 s after the previous start.
    s.run_until(secs(20), &mut |_, _| (ProbeResult::Script(ScriptExit::Exited(0)), secs(2)));
    assert_eq!(s.times(C0), vec![secs(1), secs(6), secs(11), secs(16)]);
    // A run longer than delay_loop: the next starts right after it ends.
    let mut s = Sim::new(vec![vs_with(misc(false).delay_loop(secs(5)))], 1);
    s.run_until(secs(20), &mut |_, _| (ProbeResult::Script(ScriptExit::Exited(0)), secs(7)));
    assert_eq!(s.times(C0), vec![secs(1), secs(8) + Duration::from_micros(1), secs(15) + Duration::from_micros(2)]);
    // misc_timeout defaults to the virtual server's delay_loop (6 s), not
    // the checker's.
    let p = &s.issued[0].probe;
    assert_eq!(p.deadline - s.start, secs(1) + secs(6));
}

#[test]
fn misc_exit_codes_and_dynamic_weights() {
    let mut s = Sim::new(vec![vs_with(misc(true).delay_loop(secs(5)))], 1);
    // exits: 0, 7 (weight 5), 2 (weight 0), 1 (down: MISC retry defaults to 0), 0 (up, weight back to 1)
    let codes = [0u8, 7, 2, 1, 0];
    let mut i = 0;
    s.run_until(secs(26), &mut |_, _| {
        let c = codes[i.min(codes.len() - 1)];
        i += 1;
        (ProbeResult::Script(ScriptExit::Exited(c)), ms(100))
    });
    let w: Vec<(Duration, u32, u32)> = s
        .events_where(|e| matches!(e, HealthEvent::WeightChanged { .. }))
        .into_iter()
        .map(|(t, e)| match e {
            HealthEvent::WeightChanged { from, to, .. } => (t, from, to),
            _ => unreachable!(),
        })
        .collect();
    assert_eq!(w, vec![(ms(6100), 1, 5), (ms(11100), 5, 0)]);
    assert_eq!(down_events(&s), vec![ms(16100)]);
    assert_eq!(up_events(&s), vec![ms(21100)]);
    assert_eq!(s.pool(), vec![(rs_addr(), 1)]);
    // A non-dynamic checker treats 2..=255 as failures.
    let mut s = Sim::new(vec![vs_with(misc(false).delay_loop(secs(5)))], 1);
    s.run_until(secs(3), &mut |_, _| (ProbeResult::Script(ScriptExit::Exited(7)), ms(1)));
    assert_eq!(down_events(&s), vec![ms(1001)]);
    // A timeout is a failure.
    let mut s = Sim::new(vec![vs_with(misc(false).retry(1).delay_before_retry(secs(1)).delay_loop(secs(5)))], 1);
    s.run_until(secs(40), &mut |_, at| {
        if at < secs(10) {
            (ProbeResult::Script(ScriptExit::Exited(0)), ms(1))
        } else {
            (ProbeResult::Script(ScriptExit::Signaled { signal: 15, timed_out: true }), secs(6))
        }
    });
    let t = s.times(C0);
    // 11 s times out at 17 s: one retry 1 s after the start, i.e. at once;
    // it times out at 23 s: down.
    assert_eq!(&t[..4], &[secs(1), secs(6), secs(11), secs(17) + Duration::from_micros(1)]);
    assert_eq!(down_events(&s), vec![secs(23) + Duration::from_micros(1)]);
    let st = s.hc.checker_status(C0).unwrap();
    assert_eq!(st.last_failure, Some(Failure::ScriptTimeout));
}

#[test]
fn lost_results_are_given_up_without_a_verdict() {
    let mut s = Sim::new(vec![vs_with(classic())], 1);
    // A runner that never answers the first probe: the checker gives it up
    // after its deadline (11 s), its budget again (the most a runner may
    // shift it after queueing, 10 s) and 5 s of grace, as not run: no
    // verdict on the server, next probe a delay_loop later.
    let mut first = true;
    s.run_until(secs(40), &mut |_, _| {
        let r = if first { (ProbeResult::Success, secs(3600)) } else { (ProbeResult::Success, ms(1)) };
        first = false;
        r
    });
    assert!(down_events(&s).is_empty(), "{:?}", s.events);
    let not_run = s.events_where(|e| matches!(e, HealthEvent::ProbeNotRun { .. }));
    assert_eq!(not_run.len(), 1, "{not_run:?}");
    assert_eq!(not_run[0].0, secs(26));
    assert!(matches!(
        &not_run[0].1,
        HealthEvent::ProbeNotRun { reason: Failure::Aborted { reason: "no result from the runner" }, .. }
    ));
    assert_eq!(&s.times(C0)[..2], &[secs(1), secs(32)]);
    // The runner is told to drop it, and a late answer is refused.
    let lost = s.issued[0].probe.id;
    assert_eq!(s.hc.poll_cancelled(), Some(lost));
    assert_eq!(s.hc.poll_cancelled(), None);
    assert!(s.hc.handle_result(lost, ProbeResult::Success, s.now).is_err());
}

#[test]
fn a_late_caller_does_not_shift_later_checks() {
    use lvskit::check::HealthChecker;
    use rand::SeedableRng;
    let start = std::time::Instant::now();
    let mut hc = HealthChecker::new(vec![vs_with(classic())], rand::rngs::StdRng::seed_from_u64(1), start).unwrap();
    // The caller's loop comes back 200 ms after the first probe was due.
    let due = hc.poll_timeout().unwrap();
    assert_eq!(due - start, secs(1));
    hc.handle_timeout(due + ms(200));
    let p = hc.poll_probe().unwrap();
    // The probe gets its whole connect_timeout from when it really starts.
    assert_eq!(p.deadline - start, ms(1200) + secs(10));
    // It takes 10 ms: the next is due delay_loop after where it would have
    // ended had it started on time (1.010 + 6), not after 1.210.
    hc.handle_result(p.id, ProbeResult::Success, due + ms(210)).unwrap();
    assert_eq!(hc.poll_timeout().unwrap() - start, ms(7010));
}
