// lvskit-test: vm
//! The real keepalived (Debian's 2.2.7, checker only: `keepalived -C`) and
//! lvskit check the same local servers through the same scenario, and must
//! reach the same up/down verdicts. keepalived's checker refuses to start
//! without IPVS (`ipvs_start` fails and it exits), so this runs in the IPVS
//! VM, where keepalived's verdicts are read back from the kernel's table
//! with `ipvsadm -Ln`. lvskit reads the very `keepalived.conf` keepalived
//! runs (`config` then `HealthChecker::from_keepalived`).

#![cfg(all(feature = "probe", target_os = "linux"))]

#[path = "check_servers/mod.rs"]
mod servers;

use std::collections::BTreeSet;
use std::io::Write;
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU32, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use lvskit::check::HealthChecker;
use lvskit::check::runner::{Driver, Runner, RunnerConfig};
use lvskit::ipvs::{Protocol, ServiceKey};
use rand::SeedableRng;
use servers::*;

/// One virtual server per checked service: (VIP octet, protocol, real server, keepalived checker block).
struct Case {
    vip: u8,
    proto: Protocol,
    rs: SocketAddr,
    keepalived: String,
}

fn common() -> &'static str {
    "connect_timeout 1\n      retry 1\n      delay_before_retry 1\n      warmup 0"
}

fn keepalived_conf(cases: &[Case], extra: &str) -> String {
    let mut s = String::from("global_defs {\n  router_id lvskit_check\n  script_user root\n}\n");
    s += extra;
    for c in cases {
        let proto = if c.proto == Protocol::Udp { "UDP" } else { "TCP" };
        s += &format!(
            "virtual_server 192.0.2.{} 80 {{\n  delay_loop 1\n  lb_algo rr\n  lb_kind NAT\n  protocol {proto}\n  real_server {} {} {{\n    weight 1\n    {}\n  }}\n}}\n",
            c.vip,
            c.rs.ip(),
            c.rs.port(),
            c.keepalived
        );
    }
    s
}

type Pool = BTreeSet<(u8, SocketAddr, u32)>;

/// The real servers keepalived has in the kernel, per VIP octet, with weights.
fn keepalived_pool() -> Pool {
    let out = Command::new("ipvsadm").arg("-Ln").output().expect("ipvsadm");
    let text = String::from_utf8_lossy(&out.stdout);
    let mut vip = 0u8;
    let mut set = BTreeSet::new();
    for line in text.lines() {
        let w: Vec<&str> = line.split_whitespace().collect();
        if (w.first() == Some(&"TCP") || w.first() == Some(&"UDP")) && w.len() >= 2 {
            let a: SocketAddr = w[1].parse().unwrap();
            vip = match a.ip() {
                std::net::IpAddr::V4(v) => v.octets()[3],
                _ => 0,
            };
        } else if w.first() == Some(&"->") && w.len() >= 4 && w[1] != "RemoteAddress:Port" {
            set.insert((vip, w[1].parse().unwrap(), w[3].parse().unwrap()));
        }
    }
    set
}

fn lvskit_pool(hc: &HealthChecker) -> Pool {
    let mut set = BTreeSet::new();
    for d in hc.desired() {
        let vip = match d.config.key {
            ServiceKey::Addr { addr: std::net::IpAddr::V4(v), .. } => v.octets()[3],
            _ => 0,
        };
        for r in &d.dests {
            set.insert((vip, r.socket_addr(), r.weight));
        }
    }
    set
}

struct Keepalived(Child);

impl Drop for Keepalived {
    fn drop(&mut self) {
        let _ = Command::new("kill").arg(self.0.id().to_string()).status();
        let _ = self.0.wait();
    }
}

#[test]
fn keepalived_reaches_the_same_verdicts() {
    if std::env::var("IPVS_VM").as_deref() != Ok("1") {
        eprintln!("note: keepalived_reaches_the_same_verdicts runs in the IPVS VM (scripts/ipvs-vm); skipped");
        return;
    }
    let _ = Command::new("ip").args(["link", "set", "lo", "up"]).status();
    let dir = tempdir("ka");

    // The servers, with switches for the scenario.
    let broken = Arc::new(AtomicBool::new(false));
    // TCP listener that stops and restarts.
    let tcp_rs = sa("127.0.0.2:8080");
    let mut tcp_listener = Some(Listener::start(tcp_rs));
    // HTTP 200 / 500.
    let http_rs = sa("127.0.0.3:80");
    let http_mode = Arc::new(AtomicU8::new(0));
    http_server(http_rs, Arc::clone(&http_mode), Arc::new(AtomicU32::new(0)));
    // HTTP whose body changes (digest mismatch while broken).
    let digest_rs = sa("127.0.0.4:80");
    let b2 = Arc::clone(&broken);
    serve_tcp(digest_rs, true, move |mut c| {
        let body = if b2.load(Ordering::Relaxed) { "changed" } else { "hello" };
        let _ = write!(c, "HTTP/1.0 200 OK\r\nContent-Length: {}\r\n\r\n{body}", body.len());
    });
    // Accepts and never answers.
    let mute_rs = sa("127.0.0.5:80");
    serve_tcp(mute_rs, true, |c| {
        thread::sleep(Duration::from_secs(60));
        drop(c)
    });
    // MISC script reading its exit code from a file.
    let code = dir.join("code");
    std::fs::write(&code, "0").unwrap();
    let misc_path = script(&dir, "misc", &format!("exit $(cat {})", code.display()));
    // DNS responder: rcode 0, or 2 (SERVFAIL) while broken.
    let dns_rs = sa("127.0.0.6:53");
    let b3 = Arc::clone(&broken);
    udp_server(dns_rs, move |q| dns_answer(q, if b3.load(Ordering::Relaxed) { 2 } else { 0 }, 1));
    // UDP echo that goes silent while broken (a reply is required).
    let udp_rs = sa("127.0.0.7:7");
    let b4 = Arc::clone(&broken);
    udp_server(udp_rs, move |d| if b4.load(Ordering::Relaxed) { Vec::new() } else { d.to_vec() });
    // SMTP: 220/250/221, or 554 while broken.
    let smtp_rs = sa("127.0.0.8:25");
    let b5 = Arc::clone(&broken);
    serve_tcp(smtp_rs, false, move |mut c| {
        if b5.load(Ordering::Relaxed) {
            let _ = c.write_all(b"554 closed\r\n");
            return;
        }
        let _ = c.write_all(b"220 ready\r\n");
        let mut line = Vec::new();
        let mut b = [0u8; 1];
        c.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
        for reply in [&b"250 ok\r\n"[..], b"221 bye\r\n"] {
            line.clear();
            while !line.ends_with(b"\n") {
                match std::io::Read::read(&mut c, &mut b) {
                    Ok(1) => line.push(b[0]),
                    _ => return,
                }
            }
            let _ = c.write_all(reply);
        }
    });

    let md5 = |b: &[u8]| -> [u8; 16] {
        use md5::Digest;
        md5::Md5::digest(b).into()
    };
    let hex: String = md5(b"hello").iter().map(|b| format!("{b:02x}")).collect();
    let cases = vec![
        Case {
            vip: 2,
            proto: Protocol::Tcp,
            rs: tcp_rs,
            keepalived: format!("TCP_CHECK {{\n      {}\n    }}", common()),
        },
        Case {
            vip: 3,
            proto: Protocol::Tcp,
            rs: http_rs,
            keepalived: format!("HTTP_GET {{\n      url {{\n        path /\n      }}\n      {}\n    }}", common()),
        },
        Case {
            vip: 4,
            proto: Protocol::Tcp,
            rs: digest_rs,
            keepalived: format!(
                "HTTP_GET {{\n      url {{\n        path /\n        digest {hex}\n      }}\n      {}\n    }}",
                common()
            ),
        },
        Case {
            vip: 5,
            proto: Protocol::Tcp,
            rs: mute_rs,
            keepalived: format!("HTTP_GET {{\n      url {{\n        path /\n      }}\n      {}\n    }}", common()),
        },
        Case {
            vip: 6,
            proto: Protocol::Tcp,
            rs: sa("127.0.0.9:80"),
            keepalived: format!(
                "MISC_CHECK {{\n      misc_path \"{misc_path}\"\n      misc_timeout 2\n      misc_dynamic\n      retry 1\n      delay_before_retry 1\n      warmup 0\n    }}"
            ),
        },
        Case {
            vip: 7,
            proto: Protocol::Udp,
            rs: dns_rs,
            keepalived: format!("DNS_CHECK {{\n      type A\n      name example.com\n      {}\n    }}", common()),
        },
        Case {
            vip: 8,
            proto: Protocol::Udp,
            rs: udp_rs,
            keepalived: format!("UDP_CHECK {{\n      require_reply\n      {}\n    }}", common()),
        },
        Case {
            vip: 9,
            proto: Protocol::Tcp,
            rs: smtp_rs,
            keepalived: format!("SMTP_CHECK {{\n      helo_name lvskit.test\n      {}\n    }}", common()),
        },
        Case {
            vip: 10,
            proto: Protocol::Tcp,
            rs: sa("127.0.0.10:80"),
            keepalived: format!("PING_CHECK {{\n      {}\n    }}", common()),
        },
        Case {
            vip: 11,
            proto: Protocol::Tcp,
            rs: sa("127.0.0.11:80"),
            keepalived: format!(
                "TCP_CHECK {{\n      connect_ip 127.0.0.2\n      connect_port 8080\n      {}\n    }}",
                common()
            ),
        },
    ];
    // Pool policy: three servers, quorum 2, a sorry server, one server
    // with inhibit_on_failure.
    let pool_rs = [sa("127.0.0.20:80"), sa("127.0.0.21:80"), sa("127.0.0.22:80")];
    let sorry = sa("127.0.0.23:80");
    let mut pool_listeners: Vec<Option<Listener>> = pool_rs.iter().map(|a| Some(Listener::start(*a))).collect();
    let mut extra = String::from(
        "virtual_server 192.0.2.20 80 {\n  delay_loop 1\n  lb_algo rr\n  lb_kind NAT\n  protocol TCP\n  quorum 2\n  sorry_server 127.0.0.23 80\n",
    );
    for (i, a) in pool_rs.iter().enumerate() {
        let inhibit = if i == 1 { "    inhibit_on_failure\n" } else { "" };
        extra += &format!(
            "  real_server {} {} {{\n    weight 1\n{inhibit}    TCP_CHECK {{\n      {}\n    }}\n  }}\n",
            a.ip(),
            a.port(),
            common()
        );
    }
    extra += "}\n";
    let conf = dir.join("keepalived.conf");
    let conf_text = keepalived_conf(&cases, &extra);
    std::fs::write(&conf, &conf_text).unwrap();
    let log = std::fs::File::create(dir.join("keepalived.log")).unwrap();
    let ka = Keepalived(
        Command::new("keepalived")
            .args(["-C", "-n", "-l", "-D", "-f"])
            .arg(&conf)
            .arg("-p")
            .arg(dir.join("k.pid"))
            .arg("-c")
            .arg(dir.join("c.pid"))
            .stdout(Stdio::from(log.try_clone().unwrap()))
            .stderr(Stdio::from(log))
            .spawn()
            .expect("keepalived"),
    );

    // lvskit reads the very file keepalived runs.
    let loaded = lvskit::config::load_str("keepalived.conf", &conf_text, &lvskit::config::LoadOptions::default());
    assert!(!loaded.has_errors(), "{:?}", loaded.diagnostics);
    let hc =
        HealthChecker::from_keepalived(&loaded.config, rand::rngs::StdRng::seed_from_u64(5), Instant::now()).unwrap();
    let mut driver = Driver::new(hc, Runner::new(RunnerConfig::default()).unwrap());
    let run = |d: &mut Driver, secs: u64| {
        d.run_until(Instant::now() + Duration::from_secs(secs)).unwrap();
        while d.checker.poll_event().is_some() {}
    };

    let mut healthy: Pool = cases.iter().filter(|c| c.vip != 5).map(|c| (c.vip, c.rs, 1)).collect();
    healthy.extend(pool_rs.iter().map(|a| (20, *a, 1)));

    let mut report = String::new();
    let mut check = |phase: &str, d: &Driver, expect: &Pool| {
        let ka = keepalived_pool();
        let lv = lvskit_pool(&d.checker);
        report += &format!("{phase}: keepalived {ka:?}\n{phase}: lvskit     {lv:?}\n");
        (ka == *expect && lv == *expect, ka, lv)
    };

    // Phase 1: everything healthy except the mute server.
    run(&mut driver, 8);
    let p1 = check("healthy", &driver, &healthy);

    // Phase 2: break things.
    broken.store(true, Ordering::Relaxed);
    http_mode.store(1, Ordering::Relaxed);
    std::fs::write(&code, "1").unwrap();
    tcp_listener.take().unwrap().stop();
    pool_listeners[0].take().unwrap().stop();
    pool_listeners[1].take().unwrap().stop();
    run(&mut driver, 10);
    // Only PING_CHECK (on an address nobody broke) stays up; the pool
    // service lost its quorum: the sorry server serves, the inhibited
    // server stays with weight 0, the last live one is taken out.
    let expect2: Pool = [(10, sa("127.0.0.10:80"), 1), (20, sorry, 1), (20, pool_rs[1], 0)].into_iter().collect();
    let p2 = check("broken", &driver, &expect2);

    // Phase 3: repair.
    broken.store(false, Ordering::Relaxed);
    http_mode.store(0, Ordering::Relaxed);
    std::fs::write(&code, "12").unwrap(); // misc_dynamic: weight 10
    tcp_listener = Some(Listener::start(tcp_rs));
    pool_listeners[0] = Some(Listener::start(pool_rs[0]));
    pool_listeners[1] = Some(Listener::start(pool_rs[1]));
    run(&mut driver, 10);
    let mut expect3 = healthy.clone();
    expect3.remove(&(6, sa("127.0.0.9:80"), 1));
    expect3.insert((6, sa("127.0.0.9:80"), 10));
    let p3 = check("repaired", &driver, &expect3);
    drop(ka);
    for l in pool_listeners.into_iter().flatten().chain(tcp_listener.take()) {
        l.stop();
    }
    let _ = TcpStream::connect_timeout(&mute_rs, Duration::from_millis(10));
    let klog = std::fs::read_to_string(dir.join("keepalived.log")).unwrap_or_default();
    let ok = p1.0 && p2.0 && p3.0;
    if !ok {
        eprintln!("{report}\n--- keepalived log ---\n{klog}");
    } else {
        eprintln!("{report}");
    }
    assert!(ok, "verdicts differ (see above)");
}
