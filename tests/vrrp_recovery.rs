// lvskit-test: root
//! Losing the address or the interface, and getting them back, as
//! keepalived 2.2.7 does (`core/keepalived_netlink.c`), with keepalived
//! itself as the backup. lvskit MASTER 150 on h1, keepalived BACKUP 100 on
//! h2, VRRPv3 at 0.1 s:
//!
//! 1. Someone deletes the VIP on h1: lvskit sends a priority 0 advert,
//!    goes to BACKUP and, its Skew_Time being the shortest, is master
//!    again within Skew_Time + 20 ms with the VIP restored; keepalived never
//!    takes over.
//! 2. Someone deletes h1's primary address 192.0.2.11 (the adverts'
//!    source; the kernel drops the VIP, a secondary of the same subnet,
//!    with it): as keepalived's `netlink_if_address_filter` does, lvskit
//!    sends a priority 0 advert still from 192.0.2.11 and goes to FAULT
//!    (no source address); keepalived takes over within 20 ms after its
//!    Skew_Time from that advert. The address added back: lvskit leaves
//!    FAULT and preempts, keepalived yields.
//! 3. h1's interface is set down (`ip link set eth0 down`): FAULT, the
//!    VIP goes, keepalived takes over; set up again: lvskit preempts.
//! 4. h1's interface is deleted: FAULT, keepalived takes over; the
//!    interface is created again (a new index): lvskit opens new sockets,
//!    hears keepalived, and preempts.
//! 5. SIGINT: lvskit's priority 0 advert, the VIP removed, a clean exit;
//!    keepalived takes over within its Skew_Time + 20 ms.

mod lab;

use std::process::Command;
use std::time::Duration;

use lab::{Frame, Lab, skew, wait_for};

const VIP: &str = "192.0.2.100";

const KA_BACKUP: &str = "global_defs {\n    vrrp_version 3\n}\nvrrp_instance VI_1 {\n    state BACKUP\n    interface eth0\n    \
                         virtual_router_id 61\n    priority 100\n    advert_int 0.1\n    virtual_ipaddress {\n        \
                         192.0.2.100/24\n    }\n}\n";

/// h1's first priority 0 advert at or after `since`, and the time of the
/// first advert of priority `prio` from host `h` after it.
fn zero_then(frames: &[Frame], since: f64, h: usize, prio: u8) -> Option<(&Frame, f64)> {
    let zero = frames.iter().find(|f| f.t >= since && f.advert_from(1) == Some(0))?;
    let next = frames.iter().find(|f| f.t > zero.t && f.advert_from(h) == Some(prio))?;
    Some((zero, next.t))
}

#[test]
fn vip_and_interface_loss_recover() {
    if !lab::enabled("vip_and_interface_loss_recover") {
        return;
    }
    let mut lab = Lab::up("rc", 2);
    let cap = lab.capture("segment");
    let timeout = Duration::from_secs(10);
    let args =
        "--interface eth0 --vrid 61 --priority 150 --state MASTER --advert-int 0.1 --version 3 --vip 192.0.2.100/24";
    let lv = lab.vrrpd(1, "lv", &args.split(' ').collect::<Vec<_>>());
    wait_for(timeout, "lvskit master", || lv.entered("MASTER") == 1 && lab.has_addr(1, VIP));
    let ka = lab.keepalived(2, "ka", KA_BACKUP);
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(ka.entered("MASTER"), 0);

    // 1. The VIP deleted behind lvskit's back.
    let t_del = lab::epoch_now();
    lab.exec(1, &["ip", "addr", "del", "192.0.2.100/24", "dev", "eth0"]);
    wait_for(timeout, "lvskit to notice", || lv.log_text().contains("removed by someone else"));
    wait_for(timeout, "lvskit master again", || lv.entered("MASTER") == 2);
    wait_for(Duration::from_secs(2), "the VIP back", || lab.has_addr(1, VIP));
    wait_for(Duration::from_secs(2), "the adverts in the capture", || {
        zero_then(&lab::read_pcap(&cap.path), t_del, 1, 150).is_some()
    });
    let f = lab::read_pcap(&cap.path);
    let (zero, back) = zero_then(&f, t_del, 1, 150).map(|(z, b)| (z.t, b)).unwrap();
    let sk = skew(3, 0.1, 150);
    eprintln!(
        "VIP deleted: priority 0, then master again {:.1} ms later (skew {:.1} ms)",
        (back - zero) * 1e3,
        sk * 1e3
    );
    assert!(back - zero <= sk + 0.020 && back - zero >= sk - 0.002);
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(ka.entered("MASTER"), 0, "keepalived took over:\n{}", ka.log_text());
    assert!(!lab.has_addr(2, VIP));

    // 2. The primary address deleted behind lvskit's back.
    let t_del = lab::epoch_now();
    lab.exec(1, &["ip", "addr", "del", "192.0.2.11/24", "dev", "eth0"]);
    wait_for(timeout, "lvskit FAULT", || lv.entered("FAULT") == 1);
    wait_for(timeout, "keepalived to take over", || ka.entered("MASTER") == 1 && lab.has_addr(2, VIP));
    assert!(!lab.has_addr(1, VIP));
    assert!(!lab.has_addr(1, "192.0.2.11"));
    wait_for(Duration::from_secs(2), "the adverts in the capture", || {
        zero_then(&lab::read_pcap(&cap.path), t_del, 2, 100).is_some()
    });
    let f = lab::read_pcap(&cap.path);
    let (zero, ka_first) = zero_then(&f, t_del, 2, 100).unwrap();
    let src = match &zero.line {
        Some(lvskit::wire::inspect::Line::Advert { src, .. }) => *src,
        other => panic!("not an advert: {other:?}"),
    };
    assert_eq!(src.to_string(), "192.0.2.11", "the priority 0 advert leaves from the deleted address");
    let ka_skew = skew(3, 0.1, 100);
    eprintln!(
        "primary address deleted: priority 0 from 192.0.2.11, keepalived master {:.1} ms later (its skew {:.1} ms)",
        (ka_first - zero.t) * 1e3,
        ka_skew * 1e3
    );
    assert!(ka_first - zero.t <= ka_skew + 0.020, "keepalived took {:.1} ms", (ka_first - zero.t) * 1e3);
    // FAULT: silent, and it stays so while the address is missing.
    std::thread::sleep(Duration::from_millis(500));
    let since = lab::epoch_now() - 0.4;
    assert!(!lab::read_pcap(&cap.path).iter().any(|f| f.t >= since && f.advert_from(1).is_some()));
    assert_eq!(lv.entered("MASTER"), 2);
    lab.exec(1, &["ip", "addr", "add", "192.0.2.11/24", "dev", "eth0"]);
    wait_for(timeout, "lvskit to preempt", || lv.entered("MASTER") == 3 && lab.has_addr(1, VIP));
    wait_for(timeout, "keepalived to yield", || !lab.has_addr(2, VIP));

    // 3. Interface administratively down, then up.
    lab.exec(1, &["ip", "link", "set", "eth0", "down"]);
    wait_for(timeout, "lvskit FAULT", || lv.entered("FAULT") == 2);
    wait_for(timeout, "keepalived to take over", || ka.entered("MASTER") == 2 && lab.has_addr(2, VIP));
    assert!(!lab.has_addr(1, VIP));
    lab.exec(1, &["ip", "link", "set", "eth0", "up"]);
    wait_for(timeout, "lvskit to preempt", || lv.entered("MASTER") == 4 && lab.has_addr(1, VIP));
    wait_for(timeout, "keepalived to yield", || !lab.has_addr(2, VIP));

    // 4. Interface deleted (the veth pair goes), then created again.
    lab.exec(1, &["ip", "link", "del", "eth0"]);
    wait_for(timeout, "lvskit FAULT", || lv.entered("FAULT") == 3);
    assert!(lv.log_text().contains("Interface eth0 deleted"), "{}", lv.log_text());
    wait_for(timeout, "keepalived to take over", || ka.entered("MASTER") == 3 && lab.has_addr(2, VIP));
    let sw = lab.sw();
    let h1 = lab.ns(1);
    for cmd in [
        vec![
            "ip",
            "-n",
            &sw,
            "link",
            "add",
            "h1",
            "type",
            "veth",
            "peer",
            "name",
            "eth0",
            "netns",
            &h1,
            "address",
            "02:00:c0:00:02:0b",
        ],
        vec!["ip", "-n", &sw, "link", "set", "h1", "master", "br0", "up"],
        vec!["ip", "-n", &h1, "addr", "add", "192.0.2.11/24", "dev", "eth0"],
        vec!["ip", "-n", &h1, "link", "set", "eth0", "up"],
    ] {
        lab::run(Command::new(cmd[0]).args(&cmd[1..]));
    }
    wait_for(timeout, "lvskit to reopen its sockets", || lv.log_text().contains("Interface eth0 created again"));
    wait_for(timeout, "lvskit to preempt", || lv.entered("MASTER") == 5 && lab.has_addr(1, VIP));
    wait_for(timeout, "keepalived to yield", || !lab.has_addr(2, VIP));

    // 5. SIGINT (Ctrl-C) stops it as cleanly as SIGTERM (the other tests'):
    //    a priority 0 advert, the VIP removed, keepalived master within its
    //    Skew_Time + 20 ms of that advert.
    let t_int = lab::epoch_now();
    lab::signal(lv.pid, "INT");
    assert!(lab.reap(lv.pid, Duration::from_secs(5)));
    assert!(!lab.has_addr(1, VIP));
    assert!(lv.log_text().contains("vrrpd stopped"), "{}", lv.log_text());
    wait_for(timeout, "keepalived to take over at the end", || ka.entered("MASTER") == 4);
    wait_for(Duration::from_secs(2), "keepalived's advert in the capture", || {
        zero_then(&lab::read_pcap(&cap.path), t_int, 2, 100).is_some()
    });
    let f = lab::read_pcap(&cap.path);
    let (zero, ka_first) = zero_then(&f, t_int, 2, 100).map(|(z, k)| (z.t, k)).unwrap();
    eprintln!("SIGINT: priority 0, keepalived master {:.1} ms later", (ka_first - zero) * 1e3);
    assert!(ka_first - zero <= ka_skew + 0.020, "keepalived took {:.1} ms", (ka_first - zero) * 1e3);
    assert!(!f.iter().any(|f| f.t > zero && f.advert_from(1).is_some_and(|p| p > 0)), "lvskit advertised after SIGINT");
    ka.terminate();
    lab.stop_capture(&cap);
}
