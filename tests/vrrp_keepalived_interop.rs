// lvskit-test: root
//! lvskit's `vrrpd` against Debian's keepalived 2.2.7 on a namespace
//! Ethernet segment (`scripts/netlab`), for VRRPv2 with PASS
//! authentication at 1 s, VRRPv3 over IPv4 at 0.1 s and VRRPv3 over IPv6:
//!
//! 1. keepalived MASTER (150), lvskit BACKUP (100): lvskit stays backup.
//! 2. SIGKILL keepalived: lvskit holds the VIP and has sent its gratuitous
//!    ARPs (NAs) within Master_Down_Interval + 20 ms of keepalived's last
//!    advert.
//! 3. keepalived restarted: lvskit yields (keepalived preempts).
//! 4. SIGTERM keepalived: lvskit is master within Skew_Time + 20 ms of the
//!    priority 0 advert.
//! 5. Roles swapped (lvskit MASTER 150, keepalived BACKUP 100): keepalived
//!    stays backup (it accepts lvskit's adverts), takes over when lvskit is
//!    killed, yields when lvskit comes back, and takes over after lvskit's
//!    priority 0 advert.
//!
//! Both run from the same keepalived.conf text (`vrrpd -f`). Times come
//! from a capture of the whole segment (kernel timestamps on
//! the bridge), never from sleeps.

mod lab;

use std::time::Duration;

use lab::{Frame, Lab, master_down, skew, wait_for};

#[derive(Clone, Copy)]
struct Variant {
    tag: &'static str,
    version: u8,
    advert_int: f64,
    ipv6: bool,
    auth_pass: Option<&'static str>,
    vrid: u8,
}

impl Variant {
    fn vip(&self) -> &'static str {
        if self.ipv6 { "2001:db8::100" } else { "192.0.2.100" }
    }

    fn vip_cidr(&self) -> String {
        format!("{}/{}", self.vip(), if self.ipv6 { 64 } else { 24 })
    }

    fn keepalived_conf(&self, state: &str, priority: u8) -> String {
        let auth = match self.auth_pass {
            Some(p) => format!("    authentication {{\n        auth_type PASS\n        auth_pass {p}\n    }}\n"),
            None => String::new(),
        };
        format!(
            "global_defs {{\n    vrrp_version {}\n}}\nvrrp_instance VI_1 {{\n    state {state}\n    interface eth0\n    \
             virtual_router_id {}\n    priority {priority}\n    advert_int {}\n{auth}    virtual_ipaddress {{\n        {}\n    \
             }}\n}}\n",
            self.version,
            self.vrid,
            self.advert_int,
            self.vip_cidr()
        )
    }

    /// Enough time for anything to settle: a backup's whole
    /// Master_Down_Interval plus two adverts.
    fn settle(&self) -> Duration {
        Duration::from_secs_f64(master_down(self.version, self.advert_int, 1) + 2.0 * self.advert_int)
    }

    fn timeout(&self) -> Duration {
        Duration::from_secs_f64(4.0 * master_down(self.version, self.advert_int, 1) + 5.0)
    }

    fn announced_by(&self, f: &Frame, h: usize) -> bool {
        if self.ipv6 { f.is_na_from(h) } else { f.is_garp_from(h) }
    }
}

/// Margin the issue allows on lvskit's reaction.
const MARGIN: f64 = 0.020;
/// How early a capture may show a takeover: the bridge timestamps the
/// master's last advert a little after the backup's kernel saw it.
const EARLY: f64 = 0.002;

/// The takeover by `new` after `old` stopped advertising at or after
/// `since`: (old's last advert before new's first, new's first advert, the
/// time new finished its burst of 5 gratuitous ARPs/NAs).
fn takeover(v: &Variant, frames: &[Frame], old: usize, new: usize, since: f64) -> Option<(f64, f64, f64)> {
    let first_new = frames.iter().find(|f| f.t >= since && f.advert_from(new).is_some_and(|p| p > 0))?;
    let last_old = frames.iter().rfind(|f| f.t < first_new.t && f.advert_from(old).is_some())?;
    let burst: Vec<&Frame> = frames.iter().filter(|f| f.t >= first_new.t && v.announced_by(f, new)).take(5).collect();
    if burst.len() < 5 {
        return None;
    }
    Some((last_old.t, first_new.t, burst[4].t))
}

/// After `since`: the priority 0 advert of `old` and the first advert of
/// `new`.
fn prio0_takeover(frames: &[Frame], old: usize, new: usize, since: f64) -> Option<(f64, f64)> {
    let zero = frames.iter().find(|f| f.t >= since && f.advert_from(old) == Some(0))?;
    let first_new = frames.iter().find(|f| f.t > zero.t && f.advert_from(new).is_some_and(|p| p > 0))?;
    Some((zero.t, first_new.t))
}

fn scenario(v: Variant) {
    let mut lab = Lab::up(v.tag, 2);
    let cap = lab.capture("segment");
    let (ka_h, lv_h) = (1, 2);
    let vip = v.vip();
    let lv_mdi = master_down(v.version, v.advert_int, 100);
    let lv_skew = skew(v.version, v.advert_int, 100);
    let ka_mdi = master_down(v.version, v.advert_int, 100);
    let ka_skew = skew(v.version, v.advert_int, 100);
    let mut report = Vec::new();

    // 1. keepalived MASTER 150, lvskit BACKUP 100: lvskit stays backup.
    let ka = lab.keepalived(ka_h, "ka-master", &v.keepalived_conf("MASTER", 150));
    wait_for(v.timeout(), "keepalived to take the VIP", || lab.has_addr(ka_h, vip));
    let lv = lab.vrrpd_conf(lv_h, "lv-backup", &v.keepalived_conf("BACKUP", 100));
    std::thread::sleep(v.settle());
    assert_eq!(lv.entered("MASTER"), 0, "lvskit took over from a live keepalived:\n{}", lv.log_text());
    assert!(!lab.has_addr(lv_h, vip), "lvskit holds the VIP while backup");
    assert!(lv.entered("BACKUP") >= 1);

    // 2. SIGKILL keepalived: lvskit takes over within MDI + 20 ms.
    let t_kill = lab::epoch_now();
    ka.kill_hard();
    wait_for(v.timeout(), "lvskit to become master", || lv.entered("MASTER") == 1);
    wait_for(Duration::from_secs(2), "lvskit's gratuitous burst in the capture", || {
        takeover(&v, &lab::read_pcap(&cap.path), ka_h, lv_h, t_kill).is_some()
    });
    assert!(lab.has_addr(lv_h, vip), "lvskit master without the VIP");
    let (last, first, burst) = takeover(&v, &lab::read_pcap(&cap.path), ka_h, lv_h, t_kill).unwrap();
    report.push(format!(
        "SIGKILL keepalived: lvskit advert {:.1} ms, burst done {:.1} ms after keepalived's last advert (MDI {:.1} ms)",
        (first - last) * 1e3,
        (burst - last) * 1e3,
        lv_mdi * 1e3
    ));
    assert!(burst - last <= lv_mdi + MARGIN, "{}", report.last().unwrap());
    assert!(first - last >= lv_mdi - EARLY, "lvskit took over early: {}", report.last().unwrap());
    let _ = lab.reap(ka.parent, Duration::from_secs(5));

    // 3. keepalived back: it preempts, lvskit yields.
    let ka = lab.keepalived(ka_h, "ka-master2", &v.keepalived_conf("MASTER", 150));
    wait_for(v.timeout(), "lvskit to yield to keepalived", || lv.entered("BACKUP") == 2);
    wait_for(Duration::from_secs(2), "the VIP to leave lvskit", || !lab.has_addr(lv_h, vip));
    wait_for(v.timeout(), "keepalived to hold the VIP", || lab.has_addr(ka_h, vip));
    std::thread::sleep(Duration::from_secs_f64(2.0 * v.advert_int));

    // 4. SIGTERM keepalived: priority 0, lvskit master after its skew.
    let t_term = lab::epoch_now();
    ka.terminate();
    wait_for(v.timeout(), "lvskit to take over after priority 0", || lv.entered("MASTER") == 2);
    wait_for(Duration::from_secs(2), "lvskit's advert in the capture", || {
        prio0_takeover(&lab::read_pcap(&cap.path), ka_h, lv_h, t_term).is_some()
    });
    let (zero, first) = prio0_takeover(&lab::read_pcap(&cap.path), ka_h, lv_h, t_term).unwrap();
    report.push(format!(
        "SIGTERM keepalived: lvskit master {:.1} ms after the priority 0 advert (skew {:.1} ms)",
        (first - zero) * 1e3,
        lv_skew * 1e3
    ));
    assert!(first - zero <= lv_skew + MARGIN, "{}", report.last().unwrap());
    assert!(first - zero >= lv_skew - EARLY, "lvskit took over early: {}", report.last().unwrap());
    assert!(lab.has_addr(lv_h, vip));
    let _ = lab.reap(ka.parent, Duration::from_secs(5));
    lv.terminate();
    assert!(lab.reap(lv.pid, Duration::from_secs(5)), "vrrpd did not exit on SIGTERM");
    assert!(!lab.has_addr(lv_h, vip), "vrrpd left its VIP behind on SIGTERM");

    // 5. Roles swapped: lvskit MASTER 150, keepalived BACKUP 100.
    let lv = lab.vrrpd_conf(lv_h, "lv-master", &v.keepalived_conf("MASTER", 150));
    wait_for(v.timeout(), "lvskit to become master", || lv.entered("MASTER") == 1);
    let ka = lab.keepalived(ka_h, "ka-backup", &v.keepalived_conf("BACKUP", 100));
    std::thread::sleep(v.settle());
    assert_eq!(ka.entered("MASTER"), 0, "keepalived did not accept lvskit's adverts:\n{}", ka.log_text());
    assert!(!lab.has_addr(ka_h, vip));

    let t_kill = lab::epoch_now();
    lv.kill_hard();
    wait_for(v.timeout(), "keepalived to take over from a dead lvskit", || ka.entered("MASTER") == 1);
    wait_for(Duration::from_secs(2), "keepalived's burst in the capture", || {
        takeover(&v, &lab::read_pcap(&cap.path), lv_h, ka_h, t_kill).is_some()
    });
    let (last, first, burst) = takeover(&v, &lab::read_pcap(&cap.path), lv_h, ka_h, t_kill).unwrap();
    report.push(format!(
        "SIGKILL lvskit: keepalived advert {:.1} ms, burst done {:.1} ms after lvskit's last advert (MDI {:.1} ms)",
        (first - last) * 1e3,
        (burst - last) * 1e3,
        ka_mdi * 1e3
    ));
    assert!(first - last >= ka_mdi - EARLY, "{}", report.last().unwrap());
    assert!(lab.reap(lv.pid, Duration::from_secs(5)));

    let lv = lab.vrrpd_conf(lv_h, "lv-master2", &v.keepalived_conf("MASTER", 150));
    wait_for(v.timeout(), "keepalived to yield to lvskit", || {
        ka.log_text().matches("Entering BACKUP STATE").count() >= 2
    });
    wait_for(v.timeout(), "lvskit to be master again", || lv.entered("MASTER") == 1);
    wait_for(Duration::from_secs(2), "the VIP to leave keepalived", || !lab.has_addr(ka_h, vip));
    assert!(lab.has_addr(lv_h, vip));
    std::thread::sleep(Duration::from_secs_f64(2.0 * v.advert_int));

    let t_term = lab::epoch_now();
    lv.terminate();
    wait_for(v.timeout(), "keepalived to take over after lvskit's priority 0", || ka.entered("MASTER") == 2);
    wait_for(Duration::from_secs(2), "keepalived's advert in the capture", || {
        prio0_takeover(&lab::read_pcap(&cap.path), lv_h, ka_h, t_term).is_some()
    });
    let (zero, first) = prio0_takeover(&lab::read_pcap(&cap.path), lv_h, ka_h, t_term).unwrap();
    report.push(format!(
        "SIGTERM lvskit: keepalived master {:.1} ms after lvskit's priority 0 advert (skew {:.1} ms)",
        (first - zero) * 1e3,
        ka_skew * 1e3
    ));
    assert!(first - zero >= ka_skew - EARLY, "{}", report.last().unwrap());
    assert!(lab.reap(lv.pid, Duration::from_secs(5)));
    assert!(!lab.has_addr(lv_h, vip));
    wait_for(Duration::from_secs(2), "keepalived to hold the VIP", || lab.has_addr(ka_h, vip));
    ka.terminate();
    let _ = lab.reap(ka.parent, Duration::from_secs(5));
    lab.stop_capture(&cap);
    for line in report {
        eprintln!("{}: {line}", v.tag);
    }
}

#[test]
fn vrrpv2_auth_pass_1s() {
    if !lab::enabled("vrrpv2_auth_pass_1s") {
        return;
    }
    scenario(Variant { tag: "k2", version: 2, advert_int: 1.0, ipv6: false, auth_pass: Some("1111"), vrid: 52 });
}

#[test]
fn vrrpv3_ipv4_100ms() {
    if !lab::enabled("vrrpv3_ipv4_100ms") {
        return;
    }
    scenario(Variant { tag: "k3", version: 3, advert_int: 0.1, ipv6: false, auth_pass: None, vrid: 55 });
}

#[test]
fn vrrpv3_ipv6() {
    if !lab::enabled("vrrpv3_ipv6") {
        return;
    }
    scenario(Variant { tag: "k6", version: 3, advert_int: 1.0, ipv6: true, auth_pass: None, vrid: 56 });
}
