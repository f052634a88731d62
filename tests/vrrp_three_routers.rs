// lvskit-test: root
//! Three lvskit routers (`vrrpd`) on one namespace segment, VRRPv3 at
//! 0.1 s: h1 priority 150, h2 priority 100 with `nopreempt`, h3 priority
//! 50.
//!
//! 1. The highest priority wins: h1 is master, h2 and h3 backups.
//! 2. h1's switch port is cut: h1 goes to FAULT and drops the VIP; h2 (the
//!    next highest) takes over within its Master_Down_Interval + 20 ms of
//!    h1's last advert.
//! 3. h2's port is cut too: h3 takes over.
//! 4. h2 is healed: `nopreempt` holds, h3 stays master.
//! 5. h1 is healed: it preempts (h3 yields), h2 stays backup.

mod lab;

use std::time::Duration;

use lab::{Frame, Lab, master_down, wait_for};

const VIP: &str = "192.0.2.100";
const INT: f64 = 0.1;

fn args(priority: u8, nopreempt: bool) -> Vec<String> {
    let mut a: Vec<String> = format!(
        "--interface eth0 --vrid 60 --priority {priority} --state BACKUP --advert-int 0.1 --version 3 --vip 192.0.2.100/24"
    )
    .split(' ')
    .map(String::from)
    .collect();
    if nopreempt {
        a.push("--nopreempt".into());
    }
    a
}

/// `new`'s first advert after `since`, and `old`'s last advert before it.
fn handover(frames: &[Frame], old: usize, new: usize, since: f64) -> Option<(f64, f64)> {
    let first = frames.iter().find(|f| f.t >= since && f.advert_from(new).is_some_and(|p| p > 0))?;
    let last = frames.iter().rfind(|f| f.t < first.t && f.advert_from(old).is_some())?;
    Some((last.t, first.t))
}

#[test]
fn three_routers_priority_cut_heal_nopreempt() {
    if !lab::enabled("three_routers_priority_cut_heal_nopreempt") {
        return;
    }
    let mut lab = Lab::up("t3", 3);
    let cap = lab.capture("segment");
    let timeout = Duration::from_secs(10);
    let settle = Duration::from_secs_f64(3.0 * master_down(3, INT, 1));

    // 1. Highest priority wins.
    let r1 = lab.vrrpd(1, "h1", &args(150, false));
    let r2 = lab.vrrpd(2, "h2", &args(100, true));
    let r3 = lab.vrrpd(3, "h3", &args(50, false));
    wait_for(timeout, "h1 to become master", || r1.entered("MASTER") == 1 && lab.has_addr(1, VIP));
    std::thread::sleep(settle);
    assert_eq!(r1.entered("MASTER"), 1);
    assert!(lab.has_addr(1, VIP) && !lab.has_addr(2, VIP) && !lab.has_addr(3, VIP));
    assert_eq!(r3.entered("MASTER"), 0, "h3 became master:\n{}", r3.log_text());
    // h2 may have won briefly if it started well before h1; it must not
    // hold the address now.
    let h2_masters = r2.entered("MASTER");

    // 2. Cut h1: FAULT on h1, h2 takes over.
    let t_cut = lab::epoch_now();
    lab.cut(1);
    wait_for(timeout, "h1 to go to FAULT", || r1.entered("FAULT") == 1);
    wait_for(Duration::from_secs(2), "h1 to drop the VIP", || !lab.has_addr(1, VIP));
    wait_for(timeout, "h2 to take over", || r2.entered("MASTER") == h2_masters + 1 && lab.has_addr(2, VIP));
    wait_for(Duration::from_secs(2), "h2's advert in the capture", || {
        handover(&lab::read_pcap(&cap.path), 1, 2, t_cut).is_some()
    });
    let (last, first) = handover(&lab::read_pcap(&cap.path), 1, 2, t_cut).unwrap();
    let mdi = master_down(3, INT, 100);
    eprintln!("cut h1: h2 master {:.1} ms after h1's last advert (MDI {:.1} ms)", (first - last) * 1e3, mdi * 1e3);
    assert!(first - last <= mdi + 0.020 && first - last >= mdi - 0.002);
    assert_eq!(r3.entered("MASTER"), 0, "h3 took over instead of h2");

    // 3. Cut h2: h3 takes over.
    lab.cut(2);
    wait_for(timeout, "h3 to take over", || r3.entered("MASTER") == 1 && lab.has_addr(3, VIP));
    wait_for(Duration::from_secs(2), "h2 to drop the VIP", || !lab.has_addr(2, VIP));

    // 4. Heal h2: nopreempt holds, h3 stays master.
    lab.heal(2);
    wait_for(timeout, "h2 back to BACKUP", || r2.log_text().contains("(from FAULT, fault cleared)"));
    std::thread::sleep(settle);
    assert_eq!(r2.entered("MASTER"), h2_masters + 1, "nopreempt h2 preempted h3:\n{}", r2.log_text());
    assert!(lab.has_addr(3, VIP) && !lab.has_addr(2, VIP));

    // 5. Heal h1: it preempts h3.
    lab.heal(1);
    wait_for(timeout, "h1 to preempt", || r1.entered("MASTER") == 2 && lab.has_addr(1, VIP));
    wait_for(timeout, "h3 to yield", || r3.entered("BACKUP") == 2 && !lab.has_addr(3, VIP));
    std::thread::sleep(settle);
    assert!(lab.has_addr(1, VIP) && !lab.has_addr(2, VIP) && !lab.has_addr(3, VIP));
    assert_eq!(r2.entered("MASTER"), h2_masters + 1);

    for r in [&r1, &r2, &r3] {
        r.terminate();
    }
    for r in [&r1, &r2, &r3] {
        assert!(lab.reap(r.pid, Duration::from_secs(5)), "vrrpd did not stop");
    }
    assert!(!lab.has_addr(1, VIP));
    lab.stop_capture(&cap);
}
