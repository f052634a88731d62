//! Real local servers for the runner tests: each test moves its thread
//! into a fresh network namespace (so 127.0.0.0/8 is private to it) and
//! starts the servers it needs in threads that inherit that namespace.

#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU32, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use lvskit::check::runner::{Runner, RunnerConfig};
use lvskit::check::{CheckerSpec, HealthChecker, Probe, ProbeResult, RealServerSpec, VirtualServerSpec};
use lvskit::ipvs::{DestConfig, Protocol, ServiceConfig, ServiceKey};
use rand::SeedableRng;

/// Whether root tests run (`LVSKIT_ROOT_TESTS=1`); prints a note otherwise.
pub fn enabled(name: &str) -> bool {
    if std::env::var("LVSKIT_ROOT_TESTS").as_deref() == Ok("1") {
        true
    } else {
        eprintln!("note: {name} needs root and LVSKIT_ROOT_TESTS=1 (network namespaces); skipped");
        false
    }
}

/// Moves the calling thread into a new network namespace with `lo` up.
/// Threads and processes it starts afterwards share it.
pub fn netns() {
    static N: AtomicU32 = AtomicU32::new(0);
    let name = format!("lvskit-chk-{}-{}", std::process::id(), N.fetch_add(1, Ordering::Relaxed));
    let ip = |args: &[&str]| {
        let st = std::process::Command::new("ip").args(args).status().expect("ip");
        assert!(st.success(), "ip {args:?}");
    };
    ip(&["netns", "add", &name]);
    let f = std::fs::File::open(format!("/run/netns/{name}")).expect("open netns");
    let r = rustix::thread::move_into_link_name_space(
        std::os::fd::AsFd::as_fd(&f),
        Some(rustix::thread::LinkNameSpaceType::Network),
    );
    // The namespace lives on while this thread is in it; its name can go.
    ip(&["netns", "del", &name]);
    r.expect("setns");
    ip(&["link", "set", "lo", "up"]);
}

pub fn sa(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

/// The first probe a checker issues for a server at `rs`.
pub fn probe_for(spec: CheckerSpec, rs: SocketAddr) -> Probe {
    let vs = VirtualServerSpec::new(ServiceConfig::new(
        ServiceKey::addr(Protocol::Tcp, "192.0.2.1".parse().unwrap(), 80),
        "rr",
    ))
    .real_server(RealServerSpec::new(DestConfig::masq(rs.ip(), rs.port())).checker(spec.warmup(Duration::ZERO)));
    let now = Instant::now();
    let mut hc = HealthChecker::new(vec![vs], rand::rngs::StdRng::seed_from_u64(1), now - Duration::from_secs(1))
        .expect("valid checker");
    hc.handle_timeout(now);
    hc.poll_probe().expect("a probe is due")
}

/// Runs one probe on a fresh runner; returns its result and how long it took.
pub fn run(p: Probe) -> (ProbeResult, Duration) {
    let mut r = Runner::new(RunnerConfig::default()).unwrap();
    let t0 = Instant::now();
    r.submit(p, t0);
    loop {
        if let Some((_, res)) = r.poll_result() {
            return (res, t0.elapsed());
        }
        assert!(t0.elapsed() < Duration::from_secs(30), "runner never answered");
        r.poll_io(Some(Duration::from_millis(100))).unwrap();
    }
}

/// A stoppable TCP listener that accepts and closes.
pub struct Listener {
    pub addr: SocketAddr,
    stop: Arc<AtomicBool>,
    handle: Option<thread::JoinHandle<()>>,
}

impl Listener {
    pub fn start(addr: SocketAddr) -> Self {
        let l = TcpListener::bind(addr).expect("bind listener");
        l.set_nonblocking(true).unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let s = Arc::clone(&stop);
        let handle = thread::spawn(move || {
            while !s.load(Ordering::Relaxed) {
                match l.accept() {
                    Ok((c, _)) => drop(c),
                    Err(_) => thread::sleep(Duration::from_millis(2)),
                }
            }
        });
        Listener { addr, stop, handle: Some(handle) }
    }

    /// Closes the listening socket: connects are refused from now on.
    pub fn stop(mut self) {
        self.stop.store(true, Ordering::Relaxed);
        self.handle.take().unwrap().join().unwrap();
    }
}

/// Accepts connections and serves each with `f` in its own thread, after
/// reading the request head (up to the blank line) when `read_head`.
pub fn serve_tcp(addr: SocketAddr, read_head: bool, f: impl Fn(TcpStream) + Send + Sync + 'static) {
    let l = TcpListener::bind(addr).expect("bind");
    let f = Arc::new(f);
    thread::spawn(move || {
        for c in l.incoming() {
            let Ok(mut c) = c else { continue };
            let f = Arc::clone(&f);
            thread::spawn(move || {
                if read_head {
                    read_request_head(&mut c);
                }
                f(c)
            });
        }
    });
}

pub fn read_request_head(c: &mut TcpStream) -> Vec<u8> {
    c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut buf = Vec::new();
    let mut b = [0u8; 1];
    while !buf.ends_with(b"\r\n\r\n") && buf.len() < 8192 {
        match c.read(&mut b) {
            Ok(1) => buf.push(b[0]),
            _ => break,
        }
    }
    buf
}

/// An HTTP server whose responses depend on `mode` (see `respond`).
pub fn http_server(addr: SocketAddr, mode: Arc<AtomicU8>, hits: Arc<AtomicU32>) {
    serve_tcp(addr, true, move |mut c| {
        let n = hits.fetch_add(1, Ordering::Relaxed);
        respond(&mut c, mode.load(Ordering::Relaxed), n);
    });
}

/// 0: 200 "hello"; 1: 500; 2: 200 with a body that changes each time.
pub fn respond(c: &mut TcpStream, mode: u8, n: u32) {
    let (status, body) = match mode {
        0 => ("200 OK", "hello".to_owned()),
        1 => ("500 Internal Server Error", "oops".to_owned()),
        _ => ("200 OK", format!("version {n}")),
    };
    let _ = write!(c, "HTTP/1.0 {status}\r\nContent-Length: {}\r\n\r\n{body}", body.len());
}

/// A UDP server answering each datagram with `reply(datagram)` (none if empty).
pub fn udp_server(addr: SocketAddr, reply: impl Fn(&[u8]) -> Vec<u8> + Send + 'static) {
    let s = UdpSocket::bind(addr).expect("bind udp");
    thread::spawn(move || {
        let mut buf = [0u8; 2048];
        while let Ok((n, from)) = s.recv_from(&mut buf) {
            let r = reply(&buf[..n]);
            if !r.is_empty() {
                let _ = s.send_to(&r, from);
            }
        }
    });
}

/// A DNS answer to `q` with `rcode`, one A record, and `ancount` as given
/// (a lie when it is not 1).
pub fn dns_answer(q: &[u8], rcode: u8, ancount: u16) -> Vec<u8> {
    let mut r = q.to_vec();
    r[2] = 0x81;
    r[3] = 0x80 | rcode;
    r[6..8].copy_from_slice(&ancount.to_be_bytes());
    r.extend_from_slice(&[0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 192, 0, 2, 1]);
    r
}

/// A fresh directory for scripts and files.
pub fn tempdir(tag: &str) -> PathBuf {
    static N: AtomicU32 = AtomicU32::new(0);
    let d = std::env::temp_dir().join(format!(
        "lvskit-check-{tag}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Writes an executable script.
pub fn script(dir: &std::path::Path, name: &str, body: &str) -> String {
    use std::os::unix::fs::PermissionsExt;
    let p = dir.join(name);
    std::fs::write(&p, format!("#!/bin/sh\n{body}\n")).unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    p.to_string_lossy().into_owned()
}
