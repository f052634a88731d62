//! `HealthChecker` under misuse and loss, on virtual time: results of the
//! wrong kind (a file value for a MISC_CHECK probe …), results after
//! `shutdown`, probes lost by the runner with different guard times (the
//! sweep that finds overdue results), and a property test that throws
//! arbitrary results, ids and instants at a checker.

#[path = "check_sim/mod.rs"]
mod sim;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use lvskit::check::{
    CheckError, CheckKind, CheckerId, CheckerSpec, Failure, FileCheck, HealthChecker, HealthEvent, HttpCheck,
    MiscCheck, Probe, ProbeId, ProbeResult, RealServerSpec, RsId, Script, ScriptExit, SmtpCheck, SorryServer, UdpCheck,
    UrlSpec, VirtualServerSpec,
};
use lvskit::ipvs::{DestConfig, Protocol, ServiceConfig, ServiceKey};
use proptest::prelude::*;
use rand::SeedableRng;
use sim::{Sim, ms, secs, v4, vip};

fn service() -> ServiceConfig {
    ServiceConfig::new(ServiceKey::addr(Protocol::Tcp, vip(), 80), "rr")
}

fn misc() -> CheckerSpec {
    CheckerSpec::new(CheckKind::Misc(MiscCheck {
        script: Script::new(["/bin/check"]).unwrap(),
        timeout: Some(secs(5)),
        dynamic: true,
    }))
}

/// One server per checker kind (TCP, HTTP, MISC, FILE, UDP, SMTP), a sorry
/// server and a quorum, so that every path of the pool policy can move.
fn zoo() -> VirtualServerSpec {
    let kinds = [
        CheckerSpec::tcp().retry(1),
        CheckerSpec::new(CheckKind::Http(HttpCheck::http(vec![UrlSpec::new("/"), UrlSpec::new("/b")]))),
        misc().retry(1),
        CheckerSpec::new(CheckKind::File(FileCheck::new("/run/lvskit-robust"))),
        CheckerSpec::new(CheckKind::Udp(UdpCheck::default())),
        CheckerSpec::new(CheckKind::Smtp(SmtpCheck::default())),
    ];
    let mut v = VirtualServerSpec::new(service()).delay_loop(secs(2));
    for (i, k) in kinds.into_iter().enumerate() {
        let rs = RealServerSpec::new(DestConfig::masq(v4(i as u8 + 1), 80).weight(2))
            .checker(k.connect_timeout(secs(1)).warmup(secs(1)))
            .inhibit_on_failure(i % 2 == 0);
        v = v.real_server(rs);
    }
    v.quorum = 6;
    v.hysteresis = 2;
    v.sorry_server = Some(SorryServer { dest: DestConfig::masq(v4(99), 80), inhibit: false });
    v
}

fn kind_of(hc: &HealthChecker, c: CheckerId) -> &'static str {
    hc.checker_status(c).unwrap().kind
}

fn first_probe_of(hc: &mut HealthChecker, start: Instant, kind: &str) -> Probe {
    let at = start + secs(5);
    hc.handle_timeout(at);
    let mut found = None;
    while let Some(p) = hc.poll_probe() {
        if kind_of(hc, p.id.checker()) == kind {
            found = Some(p);
        }
    }
    found.expect("a probe of that kind")
}

#[test]
fn a_result_of_the_wrong_kind_is_a_typed_not_run_never_a_panic() {
    // The audit's case: a MISC_CHECK probe answered with a file value.
    let start = Instant::now();
    let mut hc = HealthChecker::new(vec![zoo()], rand::rngs::StdRng::seed_from_u64(3), start).unwrap();
    let p = first_probe_of(&mut hc, start, "MISC_CHECK");
    let before = hc.checker_status(p.id.checker()).unwrap();
    while hc.poll_event().is_some() {}
    hc.handle_result(p.id, ProbeResult::FileValue(Some(7)), start + secs(6)).unwrap();
    let events: Vec<_> = std::iter::from_fn(|| hc.poll_event()).collect();
    assert_eq!(
        events,
        vec![HealthEvent::ProbeNotRun {
            checker: p.id.checker(),
            reason: Failure::UnexpectedResult { checker: "MISC_CHECK", got: "file value" },
        }]
    );
    let after = hc.checker_status(p.id.checker()).unwrap();
    assert_eq!((after.up, after.retries, after.weight_offset), (before.up, before.retries, before.weight_offset));
    // And the other mismatches: a script exit for TCP, HTTP, UDP, SMTP; a
    // success or a failure for FILE.
    let cases: [(&str, ProbeResult, &str); 5] = [
        ("TCP_CHECK", ProbeResult::Script(ScriptExit::Exited(0)), "script exit"),
        ("HTTP_GET", ProbeResult::FileValue(None), "file value"),
        ("UDP_CHECK", ProbeResult::Script(ScriptExit::Exited(1)), "script exit"),
        ("SMTP_CHECK", ProbeResult::FileValue(Some(1)), "file value"),
        ("FILE_CHECK", ProbeResult::Success, "success"),
    ];
    for (kind, result, got) in cases {
        let start = Instant::now();
        let mut hc = HealthChecker::new(vec![zoo()], rand::rngs::StdRng::seed_from_u64(3), start).unwrap();
        let p = first_probe_of(&mut hc, start, kind);
        while hc.poll_event().is_some() {}
        hc.handle_result(p.id, result, start + secs(6)).unwrap();
        let e = hc.poll_event();
        assert_eq!(
            e,
            Some(HealthEvent::ProbeNotRun {
                checker: p.id.checker(),
                reason: Failure::UnexpectedResult { checker: kind, got },
            }),
            "{kind}"
        );
        assert_eq!(hc.poll_event(), None, "{kind}: no verdict");
        // Tried again later (a delay_loop after the launch), with no verdict.
        hc.handle_timeout(start + secs(10));
        assert!(std::iter::from_fn(|| hc.poll_probe()).any(|q| q.id.checker() == p.id.checker()), "{kind}");
    }
}

#[test]
fn after_shutdown_results_are_refused_and_no_timer_restarts() {
    let start = Instant::now();
    let mut hc = HealthChecker::new(vec![zoo()], rand::rngs::StdRng::seed_from_u64(3), start).unwrap();
    hc.handle_timeout(start + secs(5));
    let probes: Vec<Probe> = std::iter::from_fn(|| hc.poll_probe()).collect();
    assert!(probes.len() >= 5);
    // One answered before shutdown, the rest out when it comes.
    hc.handle_result(probes[0].id, ProbeResult::Success, start + secs(5)).unwrap();
    let pools = hc.shutdown();
    assert!(pools.iter().all(|d| d.dests.is_empty()));
    while hc.poll_event().is_some() {}
    assert_eq!(hc.poll_timeout(), None);
    // The probes out are handed back for cancellation.
    let mut cancelled: Vec<ProbeId> = std::iter::from_fn(|| hc.poll_cancelled()).collect();
    let mut out: Vec<ProbeId> = probes[1..].iter().map(|p| p.id).collect();
    cancelled.sort();
    out.sort();
    assert_eq!(cancelled, out);
    for p in &probes {
        for r in [ProbeResult::Success, ProbeResult::Failure(Failure::ConnectTimeout)] {
            let e = hc.handle_result(p.id, r, start + secs(6)).unwrap_err();
            assert!(matches!(e, CheckError::ShutDown { .. }), "{e:?}");
        }
    }
    hc.handle_timeout(start + secs(600));
    assert_eq!(hc.poll_probe().map(|p| p.id), None);
    assert_eq!(hc.poll_event(), None);
    assert_eq!(hc.poll_timeout(), None);
    assert!(hc.desired().iter().all(|d| d.dests.is_empty()));
    // A second shutdown changes nothing.
    assert!(hc.shutdown().iter().all(|d| d.dests.is_empty()));
    assert_eq!(hc.poll_cancelled(), None);
}

fn tcp_rs(d: u8, timeout: Duration) -> RealServerSpec {
    RealServerSpec::new(DestConfig::masq(v4(d), 80))
        .checker(CheckerSpec::tcp().connect_timeout(timeout).retry(0).warmup(Duration::ZERO))
}

#[test]
fn the_sweep_gives_up_exactly_the_lost_probe_at_its_own_guard() {
    // Three probes out at 1 s with guards at 1+1+1+5 = 8 s, 1+2+2+5 = 10 s
    // and 1+3+3+5 = 12 s. The earliest is answered at once, the second
    // after 1.5 s, the third is lost: the sweep at 8 s finds nothing
    // overdue and the lost probe is given up at 12 s, not before.
    let v = VirtualServerSpec::new(service())
        .delay_loop(secs(30))
        .real_server(tcp_rs(1, secs(1)))
        .real_server(tcp_rs(2, secs(2)))
        .real_server(tcp_rs(3, secs(3)));
    let mut s = Sim::new(vec![v], 1);
    s.run_until(secs(20), &mut |p, _| match p.id.checker().0 {
        0 => (ProbeResult::Success, ms(1)),
        1 => (ProbeResult::Success, ms(1500)),
        _ => (ProbeResult::Success, secs(3600)),
    });
    let not_run = s.events_where(|e| matches!(e, HealthEvent::ProbeNotRun { .. }));
    assert_eq!(not_run.len(), 1, "{not_run:?}");
    assert_eq!(not_run[0].0, secs(12));
    assert!(matches!(not_run[0].1, HealthEvent::ProbeNotRun { checker: CheckerId(2), .. }));
    assert!(
        s.events_where(|e| matches!(e, HealthEvent::ServerDown { .. } | HealthEvent::CheckFailed { .. })).is_empty()
    );
    let lost = s.issued.iter().find(|i| i.checker == CheckerId(2)).unwrap().probe.id;
    assert_eq!(s.hc.poll_cancelled(), Some(lost));
    assert_eq!(s.hc.poll_cancelled(), None);
    // The lost checker's next probe is a delay_loop after the give-up; the
    // others keep their rhythm.
    assert_eq!(s.times(CheckerId(2)), vec![secs(1)]);
    assert_eq!(s.times(CheckerId(0)), vec![secs(1)]);
    s.run_until(secs(45), &mut |_, _| (ProbeResult::Success, ms(1)));
    assert_eq!(s.times(CheckerId(2)), vec![secs(1), secs(42)]);
}

#[test]
fn a_second_loss_after_an_answer_is_found_by_the_next_sweep() {
    // The earliest guard's probe answers late but in time; a probe issued
    // later, with an earlier guard than the remaining ones, is lost: each
    // sweep sets the next from the probes still out, so it is found at its
    // own guard.
    let v = VirtualServerSpec::new(service())
        .delay_loop(secs(2))
        .real_server(tcp_rs(1, secs(1)))
        .real_server(tcp_rs(2, secs(10)));
    let mut s = Sim::new(vec![v], 1);
    let mut n0 = 0;
    s.run_until(secs(30), &mut |p, _| match p.id.checker().0 {
        0 => {
            n0 += 1;
            // The second probe of checker 0 (issued at 1 + 0.5 + 2 = 3.5 s)
            // is lost: guard 3.5 + 1 + 1 + 5 = 10.5 s.
            if n0 == 2 { (ProbeResult::Success, secs(3600)) } else { (ProbeResult::Success, ms(500)) }
        }
        _ => (ProbeResult::Success, secs(9)),
    });
    let not_run = s.events_where(|e| matches!(e, HealthEvent::ProbeNotRun { .. }));
    assert_eq!(not_run.len(), 1, "{not_run:?}");
    assert_eq!(not_run[0].0, ms(10500));
    assert_eq!(&s.times(CheckerId(0))[..3], &[secs(1), ms(3500), ms(12500)]);
}

#[test]
fn misc_probes_get_the_longer_script_grace() {
    // misc_timeout 5 s: deadline 6 s, guard 6 + 5 + 15 = 26 s (a TCP-like
    // grace would have given up at 16 s).
    let v = VirtualServerSpec::new(service())
        .delay_loop(secs(3))
        .real_server(RealServerSpec::new(DestConfig::masq(v4(1), 80)).checker(misc().warmup(Duration::ZERO)));
    let mut s = Sim::new(vec![v], 1);
    s.run_until(secs(25), &mut |_, _| (ProbeResult::Script(ScriptExit::Exited(0)), secs(3600)));
    assert!(s.events_where(|e| matches!(e, HealthEvent::ProbeNotRun { .. })).is_empty());
    s.run_until(secs(27), &mut |_, _| (ProbeResult::Script(ScriptExit::Exited(0)), ms(10)));
    let not_run = s.events_where(|e| matches!(e, HealthEvent::ProbeNotRun { .. }));
    assert_eq!(not_run.len(), 1);
    assert_eq!(not_run[0].0, secs(26));
    assert!(s.events_where(|e| matches!(e, HealthEvent::ServerDown { .. })).is_empty());
}

#[test]
fn a_made_up_probe_id_is_refused() {
    let start = Instant::now();
    let mut hc = HealthChecker::new(vec![zoo()], rand::rngs::StdRng::seed_from_u64(3), start).unwrap();
    for id in [ProbeId::new(CheckerId(0), 1), ProbeId::new(CheckerId(999), 0), ProbeId::new(CheckerId(u32::MAX), 7)] {
        let e = hc.handle_result(id, ProbeResult::Success, start).unwrap_err();
        assert!(matches!(e, CheckError::UnknownProbe { .. }));
    }
}

#[derive(Debug, Clone)]
enum Op {
    /// Advance by this many ms and run the timers.
    Tick(u32),
    /// Answer probe number `i` (modulo those issued) with a result.
    Answer(usize, u8, u32),
    /// A result with a made-up id.
    Forge(u32, u32, u8),
    /// Go back in time (a caller that passes an older `now`).
    Rewind(u32),
    Shutdown,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        5 => (0u32..4000).prop_map(Op::Tick),
        6 => (any::<usize>(), any::<u8>(), any::<u32>()).prop_map(|(i, r, x)| Op::Answer(i, r, x)),
        1 => (0u32..10, any::<u32>(), any::<u8>()).prop_map(|(c, s, r)| Op::Forge(c, s, r)),
        1 => (0u32..3000).prop_map(Op::Rewind),
        1 => Just(Op::Shutdown),
    ]
}

fn result_of(r: u8, x: u32) -> ProbeResult {
    match r % 8 {
        0 | 1 => ProbeResult::Success,
        2 => ProbeResult::Failure(Failure::ConnectTimeout),
        3 => ProbeResult::Script(ScriptExit::Exited(x as u8)),
        4 => ProbeResult::Script(ScriptExit::Signaled { signal: 9, timed_out: x % 2 == 0 }),
        5 => ProbeResult::FileValue(if x % 5 == 0 { None } else { Some(i64::from(x as i32) % 1000) }),
        6 => ProbeResult::NotRun(Failure::NotStarted { reason: "test", waited: Duration::ZERO }),
        _ => ProbeResult::Failure(Failure::HttpStatus { status: x as u16 }),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn any_results_at_any_time_keep_the_checker_sane(ops in proptest::collection::vec(op(), 1..120)) {
        let start = Instant::now() + secs(3600);
        let mut hc = HealthChecker::new(vec![zoo()], rand::rngs::StdRng::seed_from_u64(7), start).unwrap();
        let mut now = start;
        let mut issued: Vec<ProbeId> = Vec::new();
        let mut alive: HashMap<RsId, bool> = HashMap::new();
        let rss: Vec<RsId> = hc.real_servers(lvskit::check::VsId(0)).collect();
        for &r in &rss {
            alive.insert(r, hc.server_status(r).unwrap().alive);
        }
        let mut down = false;
        for op in ops {
            match op {
                Op::Tick(d) => {
                    now += Duration::from_millis(u64::from(d));
                    hc.handle_timeout(now);
                    // Nothing due is left behind.
                    if let Some(t) = hc.poll_timeout() {
                        prop_assert!(t > now, "timer {t:?} not after {now:?}");
                    }
                }
                Op::Answer(i, r, x) => {
                    if !issued.is_empty() {
                        let id = issued[i % issued.len()];
                        let res = hc.handle_result(id, result_of(r, x), now);
                        if down {
                            let refused = matches!(res, Err(CheckError::ShutDown { .. }));
                            prop_assert!(refused, "{:?}", res);
                        }
                    }
                }
                Op::Forge(c, s, r) => {
                    let _ = hc.handle_result(ProbeId::new(CheckerId(c), s), result_of(r, s), now);
                }
                Op::Rewind(d) => now = now.checked_sub(Duration::from_millis(u64::from(d))).unwrap_or(now),
                Op::Shutdown => {
                    hc.shutdown();
                    down = true;
                }
            }
            while let Some(p) = hc.poll_probe() {
                prop_assert!(!down, "probe after shutdown");
                prop_assert!(p.deadline > now);
                issued.push(p.id);
            }
            while let Some(e) = hc.poll_event() {
                match e {
                    HealthEvent::ServerUp { rs, .. } => { alive.insert(rs, true); }
                    HealthEvent::ServerDown { rs, .. } => { alive.insert(rs, false); }
                    HealthEvent::CheckerUp { checker, .. } => {
                        prop_assert!(down || hc.checker_status(checker).unwrap().up);
                    }
                    _ => {}
                }
            }
            // Until shutdown, something is always pending: each checker has
            // its next launch or a probe out.
            if !down {
                prop_assert!(hc.poll_timeout().is_some());
                for &r in &rss {
                    let st = hc.server_status(r).unwrap();
                    prop_assert_eq!(alive[&r], st.alive, "events and state disagree on {:?}", r);
                    // A server is alive exactly while none of its checkers fails.
                    prop_assert_eq!(st.alive, st.failed_checkers == 0, "{:?}", st);
                }
                // The desired pool holds live servers at their weight, failed
                // ones only at weight 0 (inhibit), unless the sorry server serves.
                let sorry = hc.sorry_active(lvskit::check::VsId(0)).unwrap();
                let pool = &hc.desired()[0].dests;
                for &r in &rss {
                    let st = hc.server_status(r).unwrap();
                    let entry = pool.iter().find(|d| d.socket_addr() == st.dest.socket_addr());
                    if !sorry && st.alive {
                        prop_assert!(entry.is_some());
                    } else if let Some(d) = entry {
                        prop_assert!(st.inhibit && d.weight == 0, "{:?} {:?}", st, d);
                    }
                }
            } else {
                prop_assert_eq!(hc.poll_timeout(), None);
                prop_assert!(hc.desired().iter().all(|d| d.dests.is_empty()));
            }
        }
    }
}
