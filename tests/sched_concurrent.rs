//! The indexed schedulers stay exact while connection tables on other
//! threads change the servers' counters between and during picks: once the
//! other threads are done, the next pick equals the kernel's literal scan of
//! the final counters (no change notification was lost).

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::time::Instant;

use lvskit::ipvs::sched::{lc, nq, ovf, sed, wlc};
use lvskit::ipvs::{Dest, DestConfig, Flow, Protocol, Service, ServiceConfig, ServiceKey};

fn run(name: &str, scan: fn(&[Arc<Dest>]) -> Option<usize>) {
    let vip = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1));
    let mut svc = Service::new(ServiceConfig::new(ServiceKey::addr(Protocol::Tcp, vip, 80), name), 0).unwrap();
    for i in 0..64u32 {
        let addr = IpAddr::V4(Ipv4Addr::new(198, 51, 100 + (i / 200) as u8, (i % 200) as u8 + 1));
        svc.add_dest(DestConfig::masq(addr, 80).weight(1 + i % 7).thresholds(if i % 5 == 0 { 40 } else { 0 }, 0))
            .unwrap();
    }
    let dests: Vec<Arc<Dest>> = svc.dests().to_vec();
    let workers: Vec<_> = (0..3u64)
        .map(|t| {
            let dests = dests.clone();
            std::thread::spawn(move || {
                // xorshift, seeded per thread
                let mut x = 0x9E37_79B9_7F4A_7C15u64 ^ (t + 1);
                let mut next = move || {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    x
                };
                let mut held: Vec<(usize, bool)> = Vec::new();
                for _ in 0..20_000 {
                    let r = next();
                    let i = (r % dests.len() as u64) as usize;
                    match (r >> 32) % 4 {
                        0 | 1 => {
                            let active = (r >> 40) & 1 == 1;
                            dests[i].bind_conn(active);
                            held.push((i, active));
                        }
                        2 if !held.is_empty() => {
                            let (j, active) = held.swap_remove((r >> 8) as usize % held.len());
                            dests[j].unbind_conn(active);
                        }
                        _ if !held.is_empty() => {
                            let k = (r >> 8) as usize % held.len();
                            let (j, active) = held[k];
                            if active {
                                dests[j].deactivate_conn();
                            } else {
                                dests[j].activate_conn();
                            }
                            held[k].1 = !active;
                        }
                        _ => {}
                    }
                }
            })
        })
        .collect();
    let flow = Flow::new(Protocol::Tcp, IpAddr::V4(Ipv4Addr::new(203, 0, 113, 1)), 1000, vip, 80);
    let mut picks = 0u64;
    while !workers.iter().all(|w| w.is_finished()) {
        if svc.schedule(&flow, Instant::now()).is_some() {
            picks += 1;
        }
    }
    for w in workers {
        w.join().unwrap();
    }
    // A stale key left by a lost notification would show within these
    // steps: each one loads the server the scan picks.
    for step in 0..300 {
        let got = svc.schedule(&flow, Instant::now()).cloned();
        let want = scan(svc.dests()).map(|i| Arc::clone(&svc.dests()[i]));
        assert_eq!(
            got.as_ref().map(|d| d.socket_addr()),
            want.as_ref().map(|d| d.socket_addr()),
            "{name}: step {step} after {picks} concurrent picks"
        );
        match got {
            Some(d) => d.bind_conn(true),
            None => break,
        }
    }
}

#[test]
fn index_exact_after_concurrent_counter_changes() {
    run("lc", lc::scan);
    run("wlc", wlc::scan);
    run("sed", sed::scan);
    run("nq", nq::scan);
    run("ovf", ovf::scan);
}
