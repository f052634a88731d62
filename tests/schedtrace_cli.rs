//! `examples/schedtrace.rs` as a user runs it: its choices are the library's
//! (servers in `ipvsadm -a` order, IPv6, flags, `--close`, `none`), and bad
//! arguments or flow lines get a message naming them and a non-zero exit.
//! (Its agreement with the kernel is checked in `sched_kernel_agreement.rs`.)

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::process::{Command, Output};
use std::time::Instant;

use lvskit::ipvs::{DestConfig, Family, Flow, Protocol, Service, ServiceConfig, ServiceFlags, ServiceKey};

/// The built example (cargo builds examples along with the tests).
fn schedtrace() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let dir = exe.parent().unwrap().parent().unwrap();
    let bin = dir.join("examples").join("schedtrace");
    if !bin.exists() {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let ok = Command::new(cargo)
            .args(["build", "--example", "schedtrace"])
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .status()
            .unwrap()
            .success();
        assert!(ok, "cargo build --example schedtrace failed");
    }
    bin
}

fn flows_file(name: &str, text: &str) -> PathBuf {
    let p = std::env::temp_dir().join(format!("lvskit-schedtrace-{}-{name}", std::process::id()));
    std::fs::write(&p, text).unwrap();
    p
}

fn trace(args: &[&str]) -> Output {
    Command::new(schedtrace()).args(args).output().unwrap()
}

/// What the library chooses for the same input.
fn library(sched: &str, flags: ServiceFlags, servers: &[(&str, u32)], flows: &[Flow], close: bool) -> Vec<String> {
    let first: SocketAddr = servers[0].0.parse().unwrap();
    let key = ServiceKey::fwmark(Family::of(first.ip()), 1);
    let mut svc = Service::new(ServiceConfig::new(key, sched).flags(flags), 0).unwrap();
    for (a, w) in servers {
        let a: SocketAddr = a.parse().unwrap();
        svc.add_dest(DestConfig::masq(a.ip(), a.port()).weight(*w)).unwrap();
    }
    let now = Instant::now();
    flows
        .iter()
        .map(|f| match svc.schedule(f, now) {
            Some(d) => {
                d.bind_conn(true);
                if close {
                    d.deactivate_conn();
                }
                d.socket_addr().to_string()
            }
            None => "none".into(),
        })
        .collect()
}

fn flows(v6: bool, n: u16) -> (String, Vec<Flow>) {
    let mut text = String::from("# generated flows\n");
    let mut v = Vec::new();
    for i in 0..n {
        let (src, vip): (IpAddr, IpAddr) = if v6 {
            (
                format!("2001:db8:c::{:x}", 1 + i % 7).parse().unwrap(),
                format!("2001:db8:f::{:x}", 1 + i % 3).parse().unwrap(),
            )
        } else {
            (format!("203.0.113.{}", 1 + i % 7).parse().unwrap(), format!("192.0.2.{}", 1 + i % 3).parse().unwrap())
        };
        let proto = if i % 5 == 0 { "udp" } else { "tcp" };
        text.push_str(&format!("{proto} {src} {} {vip} 80   # flow {i}\n", 40000 + i));
        if i % 4 == 0 {
            text.push_str("\n   # a comment line\n");
        }
        let p = if i % 5 == 0 { Protocol::Udp } else { Protocol::Tcp };
        v.push(Flow::new(p, src, 40000 + i, vip, 80).with_fwmark(1));
    }
    (text, v)
}

#[test]
fn prints_the_librarys_choices() {
    // (scheduler, flags, servers, IPv6, --close)
    type Case = (&'static str, &'static str, &'static [(&'static str, u32)], bool, bool);
    let cases: [Case; 7] = [
        ("rr", "", &[("198.51.100.1:80", 1), ("198.51.100.2:80", 0), ("198.51.100.3:8080", 2)], false, false),
        ("wlc", "", &[("198.51.100.1:80", 3), ("198.51.100.2:80", 1)], false, false),
        ("wlc", "", &[("198.51.100.1:80", 3), ("198.51.100.2:80", 1)], false, true),
        (
            "sh",
            "sh-port,sh-fallback",
            &[("[2001:db8:5::1]:80", 1), ("[2001:db8:5::2]:80", 0), ("[2001:db8:5::3]:80", 2)],
            true,
            false,
        ),
        ("mh", "mh-port", &[("[2001:db8:5::1]:80", 1), ("[2001:db8:5::2]:80", 4)], true, false),
        ("lblcr", "", &[("198.51.100.1:80", 1), ("198.51.100.2:80", 2)], false, false),
        ("ovf", "", &[("198.51.100.1:80", 2), ("198.51.100.2:80", 1)], false, false),
    ];
    for (sched, flags, servers, v6, close) in cases {
        let (text, fl) = flows(v6, 30);
        let file = flows_file(&format!("{sched}-{close}"), &text);
        let mut args = vec![file.to_str().unwrap(), "--scheduler", sched];
        if !flags.is_empty() {
            args.extend(["--flags", flags]);
        }
        for (a, w) in servers {
            args.push("--server");
            args.push(Box::leak(format!("{a}:{w}").into_boxed_str()));
        }
        if close {
            args.push("--close");
        }
        let out = trace(&args);
        assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
        let got: Vec<String> = String::from_utf8(out.stdout).unwrap().lines().map(String::from).collect();
        let sflags = flags
            .split(',')
            .filter(|f| !f.is_empty())
            .fold(ServiceFlags::EMPTY, |a, f| a | ServiceFlags::from_name(f).unwrap());
        assert_eq!(got, library(sched, sflags, servers, &fl, close), "{sched} {flags} close={close}");
        if sched == "ovf" {
            assert!(got.iter().any(|l| l == "none"), "ovf fills up and prints none");
        }
        std::fs::remove_file(file).unwrap();
    }
}

#[test]
fn bad_input_names_the_line_and_fails() {
    let good = "tcp 203.0.113.1 1000 192.0.2.1 80\n";
    let cases: [(&str, &str, i32); 6] = [
        (
            "tcp 203.0.113.1 1000 192.0.2.1\n",
            ":2: expected `tcp|udp CLIENT_IP CLIENT_PORT VIP VPORT`, got 4 field(s)",
            1,
        ),
        ("sctp 203.0.113.1 1000 192.0.2.1 80\n", ":2: protocol \"sctp\" is neither tcp nor udp", 1),
        ("tcp 203.0.113.300 1000 192.0.2.1 80\n", ":2: client address \"203.0.113.300\" is not an IP address", 1),
        ("tcp 203.0.113.1 70000 192.0.2.1 80\n", ":2: client port \"70000\" is not a port", 1),
        (
            "tcp 2001:db8::1 1000 192.0.2.1 80\n",
            ":2: client 2001:db8::1 and VIP 192.0.2.1 are of different families",
            1,
        ),
        ("tcp 2001:db8::1 1000 2001:db8::2 80\n", ":2: a IPv6 flow, but the servers are IPv4", 1),
    ];
    for (i, (bad, msg, code)) in cases.into_iter().enumerate() {
        let file = flows_file(&format!("bad{i}"), &format!("{good}{bad}"));
        let f = file.to_str().unwrap();
        let out = trace(&[f, "--scheduler", "rr", "--server", "198.51.100.1:80:1"]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(code), "{bad}: {err}");
        assert!(err.contains(&format!("{f}{msg}")), "{bad}: {err}");
        std::fs::remove_file(file).unwrap();
    }
    let file = flows_file("args", good);
    let f = file.to_str().unwrap();
    let arg_cases: [(&[&str], &str); 7] = [
        (&[f, "--server", "198.51.100.1:80:1"], "--scheduler is required"),
        (&[f, "--scheduler", "xx", "--server", "198.51.100.1:80:1"], "unknown scheduler \"xx\""),
        (&[f, "--scheduler", "rr"], "at least one --server is required"),
        (
            &[f, "--scheduler", "rr", "--server", "198.51.100.1:80"],
            "--server \"198.51.100.1:80\": not an address and port",
        ),
        (&[f, "--scheduler", "rr", "--server", "198.51.100.1:80:70000"], "weight above 65535"),
        (
            &[f, "--scheduler", "sh", "--flags", "sh-bogus", "--server", "198.51.100.1:80:1"],
            "unknown flag \"sh-bogus\"",
        ),
        (
            &[f, "--scheduler", "rr", "--server", "198.51.100.1:80:1", "--server", "198.51.100.1:80:2"],
            "--server 198.51.100.1:80:2: real server 198.51.100.1:80 already exists",
        ),
    ];
    for (args, msg) in arg_cases {
        let out = trace(args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(msg), "{args:?}: {err}");
    }
    let out = trace(&["/nonexistent/flows", "--scheduler", "rr", "--server", "198.51.100.1:80:1"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent/flows: "));
    let out = trace(&["--help"]);
    assert!(out.status.success() && String::from_utf8_lossy(&out.stdout).starts_with("usage: schedtrace"));
    std::fs::remove_file(file).unwrap();
}
