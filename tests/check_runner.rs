// lvskit-test: root
//! The probe runner against real servers on 127.0.0.0/8 inside a private
//! network namespace: each checker kind's verdicts, keepalived's timeouts,
//! hostile servers (resets, endless headers, slowloris, garbage, lying
//! DNS), scripts of every exit class, and the in-flight bound.

#![cfg(all(feature = "probe", target_os = "linux"))]

#[path = "check_servers/mod.rs"]
mod servers;

use std::io::{ErrorKind, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, AtomicU32, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use lvskit::check::http::StatusSet;
use lvskit::check::runner::{Runner, RunnerConfig, script::run_blocking};
use lvskit::check::udp::BytePattern;
use lvskit::check::{
    CheckKind, CheckerSpec, ConnectSpec, DnsCheck, Failure, FileCheck, HttpCheck, MiscCheck, ProbeResult, Script,
    ScriptExit, SmtpCheck, UdpCheck, UrlSpec,
};
use servers::*;

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn tcp_check() -> CheckerSpec {
    CheckerSpec::tcp().connect_timeout(secs(1))
}

fn http_check(url: UrlSpec) -> CheckerSpec {
    CheckerSpec::new(CheckKind::Http(HttpCheck::http(vec![url]))).connect_timeout(secs(1))
}

fn md5_of(b: &[u8]) -> [u8; 16] {
    use md5::Digest;
    md5::Md5::digest(b).into()
}

#[test]
fn tcp_connect_verdicts() {
    if !enabled("tcp_connect_verdicts") {
        return;
    }
    netns();
    let l = Listener::start(sa("127.0.0.2:8080"));
    let (r, t) = run(probe_for(tcp_check(), l.addr));
    assert_eq!(r, ProbeResult::Success);
    assert!(t < secs(1));
    l.stop();
    let (r, _) = run(probe_for(tcp_check(), sa("127.0.0.2:8080")));
    assert!(
        matches!(r, ProbeResult::Failure(Failure::ConnectFailed { kind: ErrorKind::ConnectionRefused, .. })),
        "{r:?}"
    );
    // An address with no route: the connect fails at once.
    let (r, _) = run(probe_for(tcp_check(), sa("192.0.2.10:80")));
    assert!(matches!(r, ProbeResult::Failure(Failure::ConnectFailed { .. })), "{r:?}");
    // A listener that accepts nothing and has a full backlog drops SYNs:
    // the connect times out at connect_timeout.
    let s = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    s.bind(&sa("127.0.0.3:9000").into()).unwrap();
    s.listen(0).unwrap();
    let _fill: Vec<TcpStream> = (0..4)
        .filter_map(|_| {
            let c = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).ok()?;
            c.set_nonblocking(true).ok()?;
            let _ = c.connect(&sa("127.0.0.3:9000").into());
            thread::sleep(ms(20));
            Some(c.into())
        })
        .collect();
    let (r, t) = run(probe_for(tcp_check(), sa("127.0.0.3:9000")));
    assert_eq!(r, ProbeResult::Failure(Failure::ConnectTimeout));
    assert!(t >= ms(950) && t < ms(1800), "{t:?}");
    // A server that accepts and never answers passes a TCP check.
    serve_tcp(sa("127.0.0.4:80"), false, |c| {
        thread::sleep(secs(10));
        drop(c)
    });
    assert_eq!(run(probe_for(tcp_check(), sa("127.0.0.4:80"))).0, ProbeResult::Success);
    // connect_ip / connect_port / bindto / bind_port.
    let l = Listener::start(sa("127.0.0.5:7000"));
    let c = ConnectSpec {
        connect_ip: Some("127.0.0.5".parse().unwrap()),
        connect_port: Some(7000),
        bindto: Some("127.0.0.9".parse().unwrap()),
        bind_port: Some(40001),
        ..Default::default()
    };
    let p = probe_for(tcp_check().connect(c), sa("127.0.0.1:1"));
    assert_eq!(p.target.as_ref().unwrap().dst, sa("127.0.0.5:7000"));
    assert_eq!(run(p).0, ProbeResult::Success);
    // A bind that cannot work is not a verdict: keepalived reschedules.
    let c = ConnectSpec { bindto: Some("192.0.2.77".parse().unwrap()), ..Default::default() };
    let (r, _) = run(probe_for(tcp_check().connect(c), l.addr));
    assert!(matches!(r, ProbeResult::NotRun(Failure::Setup { what: "bind", .. })), "{r:?}");
    // fwmark is applied (SO_MARK needs CAP_NET_ADMIN, which root has).
    let c = ConnectSpec { fwmark: 7, ..Default::default() };
    assert_eq!(run(probe_for(tcp_check().connect(c), l.addr)).0, ProbeResult::Success);
    l.stop();
}

#[test]
fn http_verdicts() {
    if !enabled("http_verdicts") {
        return;
    }
    netns();
    let mode = Arc::new(AtomicU8::new(0));
    let hits = Arc::new(AtomicU32::new(0));
    http_server(sa("127.0.0.2:80"), Arc::clone(&mode), Arc::clone(&hits));
    let rs = sa("127.0.0.2:80");
    assert_eq!(run(probe_for(http_check(UrlSpec::new("/")), rs)).0, ProbeResult::Success);
    assert_eq!(run(probe_for(http_check(UrlSpec::new("/").digest(md5_of(b"hello"))), rs)).0, ProbeResult::Success);
    let (r, _) = run(probe_for(http_check(UrlSpec::new("/").digest(md5_of(b"other"))), rs));
    assert_eq!(r, ProbeResult::Failure(Failure::HttpDigest { got: Some(md5_of(b"hello")) }));
    mode.store(1, Ordering::Relaxed);
    assert_eq!(
        run(probe_for(http_check(UrlSpec::new("/")), rs)).0,
        ProbeResult::Failure(Failure::HttpStatus { status: 500 })
    );
    let ok500 = UrlSpec::new("/").status(StatusSet::parse(["500-599"]).unwrap());
    assert_eq!(run(probe_for(http_check(ok500), rs)).0, ProbeResult::Success);
    // A body whose digest changes: the first matches, the next does not.
    mode.store(2, Ordering::Relaxed);
    let n = hits.load(Ordering::Relaxed);
    let want = md5_of(format!("version {n}").as_bytes());
    assert_eq!(run(probe_for(http_check(UrlSpec::new("/").digest(want)), rs)).0, ProbeResult::Success);
    assert!(matches!(
        run(probe_for(http_check(UrlSpec::new("/").digest(want)), rs)).0,
        ProbeResult::Failure(Failure::HttpDigest { .. })
    ));
    // The request is keepalived's, with the virtual host.
    let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
    let s2 = Arc::clone(&seen);
    serve_tcp(sa("127.0.0.3:8080"), false, move |mut c| {
        *s2.lock().unwrap() = read_request_head(&mut c);
        respond(&mut c, 0, 0);
    });
    let mut h = HttpCheck::http(vec![UrlSpec::new("/status?full=1")]);
    h.virtualhost = Some("www.example.org".into());
    h.protocol = lvskit::check::http::HttpProtocol::Http11;
    let spec = CheckerSpec::new(CheckKind::Http(h)).connect_timeout(secs(1));
    assert_eq!(run(probe_for(spec, sa("127.0.0.3:8080"))).0, ProbeResult::Success);
    assert_eq!(
        String::from_utf8(seen.lock().unwrap().clone()).unwrap(),
        "GET /status?full=1 HTTP/1.1\r\nUser-Agent: KeepAliveClient\r\nConnection: close\r\nHost: www.example.org\r\n\r\n"
    );
}

#[test]
fn hostile_http_servers_fail_within_the_deadline() {
    if !enabled("hostile_http_servers_fail_within_the_deadline") {
        return;
    }
    netns();
    // Accept, read the request, never answer: failed after connect_timeout
    // of silence (keepalived's read timer).
    serve_tcp(sa("127.0.0.2:80"), true, |c| {
        thread::sleep(secs(20));
        drop(c)
    });
    let (r, t) = run(probe_for(http_check(UrlSpec::new("/")), sa("127.0.0.2:80")));
    assert_eq!(r, ProbeResult::Failure(Failure::Timeout { step: "HTTP read" }));
    assert!(t >= ms(950) && t < ms(2000), "{t:?}");
    // Reset in the middle of the response.
    serve_tcp(sa("127.0.0.3:80"), true, |mut c| {
        let _ = c.write_all(b"HTTP/1.0 200 OK\r\nContent-Length: 100\r\n\r\npartial");
        thread::sleep(ms(50));
        socket2::SockRef::from(&c).set_linger(Some(Duration::ZERO)).unwrap();
        drop(c);
    });
    let (r, _) = run(probe_for(http_check(UrlSpec::new("/")), sa("127.0.0.3:80")));
    assert!(
        matches!(r, ProbeResult::Failure(Failure::Io { step: "HTTP read", kind: ErrorKind::ConnectionReset, .. })),
        "{r:?}"
    );
    // Endless headers: refused once the head outgrows keepalived's buffer.
    serve_tcp(sa("127.0.0.4:80"), true, |mut c| {
        let _ = c.write_all(b"HTTP/1.0 200 OK\r\n");
        while c.write_all(b"X-Filler: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n").is_ok() {}
    });
    let (r, t) = run(probe_for(http_check(UrlSpec::new("/")), sa("127.0.0.4:80")));
    assert_eq!(r, ProbeResult::Failure(Failure::HttpHeadTooLong { limit: 4095 }));
    assert!(t < secs(1));
    // Slowloris body: a byte every 50 ms never lets the read timer fire;
    // the whole-probe deadline (3 x connect_timeout) does.
    serve_tcp(sa("127.0.0.5:80"), true, |mut c| {
        let _ = c.write_all(b"HTTP/1.0 200 OK\r\n\r\n");
        while c.write_all(b"x").is_ok() {
            thread::sleep(ms(50));
        }
    });
    let (r, t) = run(probe_for(http_check(UrlSpec::new("/")), sa("127.0.0.5:80")));
    assert_eq!(r, ProbeResult::Failure(Failure::Timeout { step: "HTTP read" }));
    assert!(t >= ms(2900) && t < ms(4000), "{t:?}");
    // Garbage instead of HTTP.
    serve_tcp(sa("127.0.0.6:80"), true, |mut c| {
        let _ = c.write_all(b"\x00\x01\x02 not http at all\r\n\r\n\xff\xfe");
    });
    let (r, _) = run(probe_for(http_check(UrlSpec::new("/")), sa("127.0.0.6:80")));
    assert_eq!(r, ProbeResult::Failure(Failure::HttpStatus { status: 0 }));
    // Closed before a complete head.
    serve_tcp(sa("127.0.0.7:80"), true, |mut c| {
        let _ = c.write_all(b"HTTP/1.0 200 OK\r\nServer: x");
    });
    let (r, _) = run(probe_for(http_check(UrlSpec::new("/")), sa("127.0.0.7:80")));
    assert_eq!(r, ProbeResult::Failure(Failure::HttpNoData));
}

fn tls_server(addr: std::net::SocketAddr, body: &'static str) {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/check");
    let certs = vec![CertificateDer::from_pem_file(dir.join("tls-cert.pem")).unwrap()];
    let key = PrivateKeyDer::from_pem_file(dir.join("tls-key.pem")).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let cfg = Arc::new(
        rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(certs, key)
            .unwrap(),
    );
    serve_tcp(addr, false, move |c| {
        let conn = rustls::ServerConnection::new(Arc::clone(&cfg)).unwrap();
        let mut s = rustls::StreamOwned::new(conn, c);
        let mut head = Vec::new();
        let mut b = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") {
            match std::io::Read::read(&mut s, &mut b) {
                Ok(1) => head.push(b[0]),
                _ => return,
            }
        }
        let _ = write!(s, "HTTP/1.0 200 OK\r\nContent-Length: {}\r\n\r\n{body}", body.len());
        s.conn.send_close_notify();
        let _ = s.flush();
    });
}

#[test]
fn ssl_get_accepts_any_certificate_like_keepalived() {
    if !enabled("ssl_get_accepts_any_certificate_like_keepalived") {
        return;
    }
    netns();
    tls_server(sa("127.0.0.2:443"), "secure hello");
    let mut h = HttpCheck::ssl(vec![UrlSpec::new("/").digest(md5_of(b"secure hello"))]);
    h.enable_sni = true;
    h.virtualhost = Some("lvskit.test".into());
    let spec = CheckerSpec::new(CheckKind::Http(h)).connect_timeout(secs(2));
    assert_eq!(run(probe_for(spec, sa("127.0.0.2:443"))).0, ProbeResult::Success);
    // A plain HTTP server behind SSL_GET: the handshake fails.
    let mode = Arc::new(AtomicU8::new(0));
    http_server(sa("127.0.0.3:443"), mode, Arc::new(AtomicU32::new(0)));
    let spec = CheckerSpec::new(CheckKind::Http(HttpCheck::ssl(vec![UrlSpec::new("/")]))).connect_timeout(secs(1));
    let (r, _) = run(probe_for(spec, sa("127.0.0.3:443")));
    assert!(matches!(r, ProbeResult::Failure(_)), "{r:?}");
}

#[test]
fn udp_and_dns_verdicts() {
    if !enabled("udp_and_dns_verdicts") {
        return;
    }
    netns();
    udp_server(sa("127.0.0.2:7"), |d| d.to_vec());
    udp_server(sa("127.0.0.3:9"), |_| Vec::new());
    let udp = |u: UdpCheck| CheckerSpec::new(CheckKind::Udp(u)).connect_timeout(ms(500));
    // Echo, reply required and matching keepalived's filler.
    let want = UdpCheck {
        require_reply: true,
        reply: Some(BytePattern::parse_hex("6b 65 65 70 x1", true).unwrap()),
        ..Default::default()
    };
    assert_eq!(run(probe_for(udp(want.clone()), sa("127.0.0.2:7"))).0, ProbeResult::Success);
    let wrong = UdpCheck { reply: Some(BytePattern::exact(*b"pong")), ..want.clone() };
    assert_eq!(run(probe_for(udp(wrong), sa("127.0.0.2:7"))).0, ProbeResult::Failure(Failure::UdpReply { len: 32 }));
    // Silence is a success unless a reply is required.
    let (r, t) = run(probe_for(udp(UdpCheck::default()), sa("127.0.0.3:9")));
    assert_eq!(r, ProbeResult::Success);
    assert!(t >= ms(450), "{t:?}");
    assert_eq!(run(probe_for(udp(want), sa("127.0.0.3:9"))).0, ProbeResult::Failure(Failure::UdpNoReply));
    // A closed port answers with ICMP port unreachable.
    let (r, _) = run(probe_for(udp(UdpCheck::default()), sa("127.0.0.4:9")));
    assert!(matches!(r, ProbeResult::Failure(Failure::Io { kind: ErrorKind::ConnectionRefused, .. })), "{r:?}");

    // DNS: a responder whose behaviour follows `mode`.
    let mode = Arc::new(AtomicU8::new(0));
    let m = Arc::clone(&mode);
    udp_server(sa("127.0.0.5:53"), move |q| match m.load(Ordering::Relaxed) {
        0 => dns_answer(q, 0, 1),
        1 => dns_answer(q, 2, 1),
        2 => dns_answer(q, 0, 3), // claims three answers, carries one
        3 => {
            // First a reply with another ID (ignored), then nothing.
            let mut r = dns_answer(q, 0, 1);
            r[0] ^= 0xff;
            r
        }
        _ => {
            let mut r = dns_answer(q, 0, 1);
            let n = r.len();
            r[n - 5] = 0xff; // RDLENGTH past the end
            r
        }
    });
    let dns = || CheckerSpec::new(CheckKind::Dns(DnsCheck::default())).connect_timeout(ms(500));
    assert_eq!(run(probe_for(dns(), sa("127.0.0.5:53"))).0, ProbeResult::Success);
    mode.store(1, Ordering::Relaxed);
    assert_eq!(run(probe_for(dns(), sa("127.0.0.5:53"))).0, ProbeResult::Failure(Failure::DnsRcode { rcode: 2 }));
    for lie in [2u8, 4] {
        mode.store(lie, Ordering::Relaxed);
        let (r, _) = run(probe_for(dns(), sa("127.0.0.5:53")));
        assert!(matches!(r, ProbeResult::Failure(Failure::DnsMalformed { .. })), "{r:?}");
    }
    mode.store(3, Ordering::Relaxed);
    let (r, t) = run(probe_for(dns(), sa("127.0.0.5:53")));
    assert_eq!(r, ProbeResult::Failure(Failure::Timeout { step: "DNS read" }));
    assert!(t >= ms(450) && t < ms(1500), "{t:?}");
}

#[test]
fn smtp_and_ping_verdicts() {
    if !enabled("smtp_and_ping_verdicts") {
        return;
    }
    netns();
    let serve = |addr: &str, banner: &'static [u8]| {
        serve_tcp(sa(addr), false, move |mut c| {
            let _ = c.write_all(banner);
            let mut line = Vec::new();
            let mut b = [0u8; 1];
            c.set_read_timeout(Some(secs(3))).unwrap();
            for reply in [&b"250 pleased\r\n"[..], b"221 bye\r\n"] {
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
    };
    serve("127.0.0.2:25", b"220-mx.example ESMTP\r\n220 ready\r\n");
    serve("127.0.0.3:25", b"554 no service\r\n");
    let smtp = || CheckerSpec::new(CheckKind::Smtp(SmtpCheck::default())).connect_timeout(secs(1));
    assert_eq!(run(probe_for(smtp(), sa("127.0.0.2:25"))).0, ProbeResult::Success);
    assert_eq!(
        run(probe_for(smtp(), sa("127.0.0.3:25"))).0,
        ProbeResult::Failure(Failure::SmtpReply { step: "banner", code: Some(554) })
    );
    // PING: loopback answers (ping socket or raw socket, root has one).
    let ping = || CheckerSpec::new(CheckKind::Ping).connect_timeout(secs(1));
    assert_eq!(run(probe_for(ping(), sa("127.0.0.1:0"))).0, ProbeResult::Success);
    let (r, _) = run(probe_for(ping(), sa("192.0.2.10:0")));
    assert!(matches!(r, ProbeResult::Failure(_)), "{r:?}");
}

fn misc(path: &str, timeout: Duration) -> CheckerSpec {
    CheckerSpec::new(CheckKind::Misc(MiscCheck {
        script: Script::new([path.to_owned(), "a b;touch /tmp/lvskit-hacked".to_owned()]).unwrap(),
        timeout: Some(timeout),
        dynamic: true,
    }))
}

#[test]
fn misc_scripts_of_each_exit_class() {
    if !enabled("misc_scripts_of_each_exit_class") {
        return;
    }
    netns();
    let d = tempdir("misc");
    let out = d.join("arg");
    let ok = script(&d, "ok", &format!("printf '%s' \"$1\" > {}; exit 0", out.display()));
    let fail = script(&d, "fail", "exit 1");
    let weight = script(&d, "weight", "exit 7");
    let slow = script(&d, "slow", "sleep 30");
    let stubborn = script(&d, "stubborn", "trap '' TERM; sleep 30 & wait; sleep 30");
    let killed = script(&d, "killed", "kill -9 $$");
    let rs = sa("127.0.0.2:80");
    assert_eq!(run(probe_for(misc(&ok, secs(5)), rs)).0, ProbeResult::Script(ScriptExit::Exited(0)));
    // No shell interprets the arguments.
    assert_eq!(std::fs::read_to_string(&out).unwrap(), "a b;touch /tmp/lvskit-hacked");
    assert_eq!(run(probe_for(misc(&fail, secs(5)), rs)).0, ProbeResult::Script(ScriptExit::Exited(1)));
    assert_eq!(run(probe_for(misc(&weight, secs(5)), rs)).0, ProbeResult::Script(ScriptExit::Exited(7)));
    assert_eq!(
        run(probe_for(misc(&killed, secs(5)), rs)).0,
        ProbeResult::Script(ScriptExit::Signaled { signal: 9, timed_out: false })
    );
    // Timeout: SIGTERM at the timeout.
    let (r, t) = run(probe_for(misc(&slow, ms(500)), rs));
    assert_eq!(r, ProbeResult::Script(ScriptExit::Signaled { signal: 15, timed_out: true }));
    assert!(t >= ms(450) && t < ms(1500), "{t:?}");
    // Ignoring SIGTERM: SIGKILL two seconds later.
    let (r, t) = run(probe_for(misc(&stubborn, ms(500)), rs));
    assert_eq!(r, ProbeResult::Script(ScriptExit::Signaled { signal: 9, timed_out: true }));
    assert!(t >= ms(2400) && t < ms(4000), "{t:?}");
    // A program that does not exist.
    let (r, _) = run(probe_for(misc("/nonexistent/lvskit-script", secs(1)), rs));
    assert!(matches!(r, ProbeResult::Script(ScriptExit::SpawnFailed { kind: ErrorKind::NotFound, .. })), "{r:?}");
    // The blocking runner for notify scripts follows the same rules.
    let s = Script::new([slow.clone()]).unwrap();
    assert_eq!(run_blocking(&s, ms(300)), ScriptExit::Signaled { signal: 15, timed_out: true });
    assert_eq!(run_blocking(&Script::new([fail]).unwrap(), secs(5)), ScriptExit::Exited(1));
    // Notify scripts on the event loop: their exits come back by token.
    let mut r = Runner::new(RunnerConfig::default()).unwrap();
    let t0 = Instant::now();
    let a = r.spawn_script(Arc::new(Script::new([ok.clone(), "notify".into()]).unwrap()), secs(5), t0);
    let b = r.spawn_script(Arc::new(Script::new([slow.clone()]).unwrap()), ms(300), t0);
    let mut exits = Vec::new();
    while exits.len() < 2 {
        r.poll_io(Some(ms(100))).unwrap();
        while let Some(x) = r.poll_script_result() {
            exits.push(x);
        }
        assert!(t0.elapsed() < secs(10));
    }
    exits.sort_by_key(|(t, _)| t.0);
    assert_eq!(exits, vec![(a, ScriptExit::Exited(0)), (b, ScriptExit::Signaled { signal: 15, timed_out: true })]);
    assert_eq!(std::fs::read_to_string(&out).unwrap(), "notify");
    // FILE_CHECK reads the file as keepalived does.
    let f = d.join("weight");
    std::fs::write(&f, "  0x10\n").unwrap();
    let (r, _) = run(probe_for(CheckerSpec::new(CheckKind::File(FileCheck::new(&f))), rs));
    assert_eq!(r, ProbeResult::FileValue(Some(16)));
    let (r, _) = run(probe_for(CheckerSpec::new(CheckKind::File(FileCheck::new(d.join("missing")))), rs));
    assert_eq!(r, ProbeResult::FileValue(Some(0)));
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn in_flight_bound_queues_probes_and_keeps_their_budget() {
    if !enabled("in_flight_bound_queues_probes_and_keeps_their_budget") {
        return;
    }
    netns();
    serve_tcp(sa("127.0.0.2:80"), true, |c| {
        thread::sleep(secs(20));
        drop(c)
    });
    let mut r = Runner::new(RunnerConfig { max_in_flight: 2, ..RunnerConfig::default() }).unwrap();
    let t0 = Instant::now();
    for _ in 0..4 {
        r.submit(probe_for(http_check(UrlSpec::new("/")), sa("127.0.0.2:80")), t0);
    }
    assert_eq!((r.in_flight(), r.queued()), (2, 2));
    let mut done = Vec::new();
    while done.len() < 4 {
        r.poll_io(Some(ms(100))).unwrap();
        while let Some((_, res)) = r.poll_result() {
            done.push((res, t0.elapsed()));
            assert!(r.in_flight() <= 2);
        }
        assert!(t0.elapsed() < secs(10));
    }
    // Two time out after 1 s of silence, the two queued behind them 1 s later.
    assert!(done.iter().all(|(res, _)| *res == ProbeResult::Failure(Failure::Timeout { step: "HTTP read" })));
    assert!(done[1].1 < ms(1800) && done[3].1 >= ms(1900), "{done:?}");
}

/// Routes 198.51.100.0/24 into one end of a veth pair whose other end
/// stays down (through a gateway with a permanent neighbour entry, so no
/// ARP fails): every packet is dropped and a connect there never completes
/// (a black hole).
fn black_hole_net() {
    for args in [
        &["link", "add", "bh0", "type", "veth", "peer", "name", "bh1"][..],
        &["link", "set", "bh0", "up"],
        &["addr", "add", "203.0.113.1/24", "dev", "bh0"],
        &["neigh", "replace", "203.0.113.2", "lladdr", "02:00:00:00:00:02", "dev", "bh0", "nud", "permanent"],
        &["route", "add", "198.51.100.0/24", "via", "203.0.113.2", "dev", "bh0", "onlink"],
    ] {
        let st = std::process::Command::new("ip").args(args).status().unwrap();
        assert!(st.success(), "ip {args:?}");
    }
}

#[test]
fn a_backlog_never_fails_a_server_and_the_queue_stays_bounded() {
    use lvskit::check::runner::Driver;
    use lvskit::check::{HealthChecker, HealthEvent, RealServerSpec, VirtualServerSpec};
    use lvskit::ipvs::{DestConfig, Protocol, ServiceConfig, ServiceKey};
    use rand::SeedableRng;
    if !enabled("a_backlog_never_fails_a_server_and_the_queue_stays_bounded") {
        return;
    }
    netns();
    black_hole_net();
    // 60 black-holed servers and 3 live ones, checked every second with a
    // 1 s connect timeout, through 3 slots: far more demand than the
    // runner can carry, as 10 000 dead servers through 1 024 slots.
    let live: Vec<Listener> = (2..5).map(|d| Listener::start(sa(&format!("127.0.0.{d}:80")))).collect();
    let mut vs = VirtualServerSpec::new(ServiceConfig::new(
        ServiceKey::addr(Protocol::Tcp, "192.0.2.1".parse().unwrap(), 80),
        "rr",
    ))
    .delay_loop(secs(1));
    let tcp = || tcp_check().retry(1).delay_before_retry(secs(1)).warmup(ms(500));
    for l in &live {
        vs = vs.real_server(RealServerSpec::new(DestConfig::masq(l.addr.ip(), 80)).checker(tcp()));
    }
    for d in 2..62u8 {
        let ip = std::net::IpAddr::V4(std::net::Ipv4Addr::new(198, 51, 100, d));
        vs = vs.real_server(RealServerSpec::new(DestConfig::masq(ip, 80)).checker(tcp()));
    }
    let t0 = Instant::now();
    let hc = HealthChecker::new(vec![vs], rand::rngs::StdRng::seed_from_u64(5), t0).unwrap();
    let runner = Runner::new(RunnerConfig { max_in_flight: 3, max_queued: 40, tls: None }).unwrap();
    let mut d = Driver::new(hc, runner);
    let mut max_queued = 0;
    let mut not_started = 0;
    let mut downs = std::collections::HashMap::new();
    let live_rs: Vec<_> = (0..3).map(lvskit::check::RsId).collect();
    while t0.elapsed() < secs(16) {
        d.step(ms(50)).unwrap();
        max_queued = max_queued.max(d.runner.queued());
        while let Some(e) = d.checker.poll_event() {
            match e {
                HealthEvent::ServerDown { rs, .. } => {
                    assert!(!live_rs.contains(&rs), "live server {rs:?} went down");
                }
                HealthEvent::CheckerDown { rs, reason, .. } => {
                    // Only the servers' own silence puts them down.
                    assert_eq!(reason, Failure::ConnectTimeout, "{rs:?}");
                    downs.insert(rs, t0.elapsed());
                }
                HealthEvent::CheckFailed { reason, .. } => assert_eq!(reason, Failure::ConnectTimeout),
                HealthEvent::ProbeNotRun { reason, .. } => match reason {
                    Failure::NotStarted { .. } => not_started += 1,
                    other => panic!("probe given up: {other:?}"),
                },
                _ => {}
            }
        }
    }
    assert!(max_queued <= 40, "queue reached {max_queued}");
    assert!(not_started > 0, "the backlog was never reached");
    // Verdicts still arrive: with 3 slots and 1 s timeouts the runner
    // carries about 3 probes a second, enough to put a good share of the
    // dead servers down within 16 s (two failed probes each).
    assert!(downs.len() >= 10, "only {} of 60 dead servers down: {downs:?}", downs.len());
    for rs in &live_rs {
        assert!(d.checker.server_status(*rs).unwrap().alive);
    }
    // Shutting down drops what is still out.
    d.shutdown();
    assert_eq!((d.runner.in_flight(), d.runner.queued()), (0, 0));
    for l in live {
        l.stop();
    }
}

#[test]
fn queued_probes_past_their_deadline_and_a_full_queue_are_not_started() {
    if !enabled("queued_probes_past_their_deadline_and_a_full_queue_are_not_started") {
        return;
    }
    netns();
    black_hole_net();
    let mut r = Runner::new(RunnerConfig { max_in_flight: 1, max_queued: 2, tls: None }).unwrap();
    let t0 = Instant::now();
    // One slot, held 1 s by a black hole; the two queued probes have a
    // 1 s deadline too, so they cannot start in time; the fourth finds the
    // queue full.
    let probes: Vec<_> = (0..4).map(|_| probe_for(tcp_check(), sa("198.51.100.7:80"))).collect();
    for p in probes {
        r.submit(p, t0);
    }
    assert_eq!((r.in_flight(), r.queued()), (1, 2));
    let mut done = Vec::new();
    while done.len() < 4 {
        r.poll_io(Some(ms(50))).unwrap();
        while let Some((_, res)) = r.poll_result() {
            done.push((res, t0.elapsed()));
        }
        assert!(t0.elapsed() < secs(10), "{done:?}");
    }
    let full = ProbeResult::NotRun(Failure::NotStarted { reason: "runner queue full", waited: Duration::ZERO });
    assert_eq!(done[0], (full, done[0].1));
    assert!(done[0].1 < ms(500));
    assert_eq!(done.iter().filter(|(r, _)| *r == ProbeResult::Failure(Failure::ConnectTimeout)).count(), 1);
    let late: Vec<_> = done
        .iter()
        .filter(|(r, _)| {
            matches!(r, ProbeResult::NotRun(Failure::NotStarted { reason: "queued past its deadline", .. }))
        })
        .collect();
    assert_eq!(late.len(), 2, "{done:?}");
    // Answered at their deadline (1 s), with margin for a loaded machine.
    assert!(late.iter().all(|(_, t)| *t >= ms(950) && *t < secs(4)), "{late:?}");
    assert_eq!((r.in_flight(), r.queued()), (0, 0));
}

#[test]
fn cancel_drops_queued_and_running_probes() {
    if !enabled("cancel_drops_queued_and_running_probes") {
        return;
    }
    netns();
    black_hole_net();
    let mut r = Runner::new(RunnerConfig { max_in_flight: 1, ..RunnerConfig::default() }).unwrap();
    let t0 = Instant::now();
    let a = probe_for(tcp_check(), sa("198.51.100.7:80"));
    let mut b = a.clone();
    b.id = lvskit::check::ProbeId::new(lvskit::check::CheckerId(1), 1);
    let (ida, idb) = (a.id, b.id);
    r.submit(a, t0);
    r.submit(b, t0);
    assert_eq!((r.in_flight(), r.queued()), (1, 1));
    assert!(r.cancel(idb));
    assert_eq!(r.queued(), 0);
    assert!(r.cancel(ida));
    assert_eq!(r.in_flight(), 0);
    assert!(!r.cancel(ida));
    while t0.elapsed() < ms(1500) {
        r.poll_io(Some(ms(100))).unwrap();
        assert_eq!(r.poll_result(), None);
    }
}

#[test]
fn fresh_probes_reach_the_timer_heap_and_a_reused_slot_keeps_its_own_deadline() {
    if !enabled("fresh_probes_reach_the_timer_heap_and_a_reused_slot_keeps_its_own_deadline") {
        return;
    }
    netns();
    black_hole_net();
    let mut r = Runner::new(RunnerConfig::default()).unwrap();
    let t0 = Instant::now();
    // A black-holed probe (1 s timeout) is only "fresh" until the next I/O
    // turn: the runner must know its deadline before that turn.
    let a = probe_for(tcp_check(), sa("198.51.100.8:80"));
    let a_deadline = a.deadline;
    let ida = a.id;
    r.submit(a, t0);
    assert_eq!(r.in_flight(), 1);
    let nd = r.next_deadline().expect("a fresh probe has a deadline");
    assert!(nd <= a_deadline, "{nd:?} {a_deadline:?}");
    // After the turn its timer is on the heap.
    r.poll_io(Some(Duration::ZERO)).unwrap();
    let nd = r.next_deadline().expect("its timer is on the heap");
    assert!(nd <= a_deadline, "{nd:?}");
    // Cancelled, its slot is freed while its timer stays on the heap; a
    // 3 s probe takes the slot after the next turn and must not inherit
    // the stale 1 s timer.
    assert!(r.cancel(ida));
    r.poll_io(Some(Duration::ZERO)).unwrap();
    let t1 = Instant::now();
    let mut b = probe_for(tcp_check().connect_timeout(secs(3)), sa("198.51.100.9:80"));
    b.id = lvskit::check::ProbeId::new(lvskit::check::CheckerId(1), 1);
    r.submit(b, t1);
    // And a third, fresh in the same turn, with 1 s.
    r.poll_io(Some(Duration::ZERO)).unwrap();
    let mut c = probe_for(tcp_check(), sa("198.51.100.10:80"));
    c.id = lvskit::check::ProbeId::new(lvskit::check::CheckerId(2), 1);
    r.submit(c, t1);
    assert_eq!(r.in_flight(), 2);
    let mut got = Vec::new();
    while got.len() < 2 {
        r.poll_io(Some(ms(200))).unwrap();
        while let Some((id, res)) = r.poll_result() {
            assert_eq!(res, ProbeResult::Failure(Failure::ConnectTimeout));
            got.push((id.checker().0, t1.elapsed()));
        }
        assert!(t1.elapsed() < secs(10), "{got:?}");
    }
    assert_eq!(got[0].0, 2, "{got:?}");
    assert!(got[0].1 >= ms(950) && got[0].1 < ms(2900), "{got:?}");
    assert_eq!(got[1].0, 1, "{got:?}");
    assert!(got[1].1 >= ms(2950), "{got:?}");
}

#[test]
fn ping_not_permitted_is_a_clear_not_run() {
    use lvskit::check::{HealthChecker, HealthEvent, RealServerSpec, VirtualServerSpec};
    use lvskit::ipvs::{DestConfig, Protocol, ServiceConfig, ServiceKey};
    use rand::SeedableRng;
    use rustix::thread::{CapabilitySet, capabilities, set_capabilities};
    if !enabled("ping_not_permitted_is_a_clear_not_run") {
        return;
    }
    netns();
    let range = "/proc/sys/net/ipv4/ping_group_range";
    // Capabilities are per thread: this thread gives up CAP_NET_RAW (no raw
    // ICMP socket), and the namespace's ping_group_range decides about the
    // unprivileged ICMP socket.
    let h = thread::spawn(move || {
        let mut caps = capabilities(None).unwrap();
        caps.effective.remove(CapabilitySet::NET_RAW);
        set_capabilities(None, caps).unwrap();
        let ping = || CheckerSpec::new(CheckKind::Ping).connect_timeout(secs(1));
        // Nobody may ping ("1 0", a new namespace's default).
        std::fs::write(range, "1 0").unwrap();
        let p = probe_for(ping(), sa("127.0.0.1:0"));
        let (r, _) = run(p.clone());
        let ProbeResult::NotRun(Failure::PingNotPermitted { help }) = &r else { panic!("{r:?}") };
        assert!(help.contains("ping_group_range"), "{help}");
        // Through the checker: a ProbeNotRun event, the server's state
        // unchanged, and a retry a delay_loop later.
        let vs = VirtualServerSpec::new(ServiceConfig::new(
            ServiceKey::addr(Protocol::Tcp, "192.0.2.1".parse().unwrap(), 80),
            "rr",
        ))
        .delay_loop(secs(2))
        .real_server(RealServerSpec::new(DestConfig::masq(sa("127.0.0.1:0").ip(), 0)).checker(ping().warmup(ms(0))));
        let t0 = Instant::now();
        let mut hc = HealthChecker::new(vec![vs], rand::rngs::StdRng::seed_from_u64(1), t0).unwrap();
        while hc.poll_event().is_some() {}
        hc.handle_timeout(t0 + secs(1));
        let p = hc.poll_probe().unwrap();
        let (r, _) = run(p.clone());
        hc.handle_result(p.id, r, t0 + ms(1010)).unwrap();
        let ev: Vec<_> = std::iter::from_fn(|| hc.poll_event()).collect();
        assert!(
            matches!(&ev[..], [HealthEvent::ProbeNotRun { reason: Failure::PingNotPermitted { .. }, .. }]),
            "{ev:?}"
        );
        assert!(hc.server_status(lvskit::check::RsId(0)).unwrap().alive);
        hc.handle_timeout(t0 + ms(2990));
        assert!(hc.poll_probe().is_none());
        hc.handle_timeout(t0 + ms(3020));
        assert!(hc.poll_probe().is_some(), "tried again after delay_loop");
        // Our group permitted: the unprivileged ICMP socket works without
        // CAP_NET_RAW.
        let gid = rustix::process::getgid().as_raw();
        std::fs::write(range, format!("{gid} {gid}")).unwrap();
        let (r, _) = run(probe_for(ping(), sa("127.0.0.1:0")));
        assert_eq!(r, ProbeResult::Success);
    });
    h.join().unwrap();
}

#[test]
fn a_local_tcp_check_finishes_within_submit() {
    if !enabled("a_local_tcp_check_finishes_within_submit") {
        return;
    }
    netns();
    black_hole_net();
    let l = Listener::start(sa("127.0.0.2:8080"));
    let mut r = Runner::new(RunnerConfig::default()).unwrap();
    // A server on this host has completed the handshake when the connect
    // call returns: the verdict is there before any I/O turn, and the
    // probe took no slot and no timer.
    let p = probe_for(tcp_check(), l.addr);
    let id = p.id;
    r.submit(p, Instant::now());
    assert_eq!(r.in_flight(), 0);
    assert_eq!(r.next_deadline(), None);
    assert_eq!(r.poll_result(), Some((id, ProbeResult::Success)));
    // Refused at once too (the reset is already in the backlog).
    r.submit(probe_for(tcp_check(), sa("127.0.0.2:8081")), Instant::now());
    assert_eq!(r.in_flight(), 0);
    let res = r.poll_result().map(|(_, x)| x);
    assert!(
        matches!(res, Some(ProbeResult::Failure(Failure::ConnectFailed { kind: ErrorKind::ConnectionRefused, .. }))),
        "{res:?}"
    );
    // A server elsewhere that does not answer: in flight until its timeout.
    r.submit(probe_for(tcp_check(), sa("198.51.100.20:80")), Instant::now());
    assert_eq!(r.in_flight(), 1);
    assert_eq!(r.poll_result(), None);
    l.stop();
}
