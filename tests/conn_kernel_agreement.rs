// lvskit-test: vm
//! The connection table against the kernel's, in the IPVS VM.
//!
//! Namespaces `c1` and `c2` (clients 203.0.113.10 and .11, one /24), `lb`
//! (the director, IPVS) and `srv` (servers 198.51.100.10 and .11) carry
//! real TCP connections and UDP flows through masquerading services:
//! TCP 192.0.2.1:80, UDP 192.0.2.1:53 and a persistent TCP 192.0.2.2:80
//! with netmask 255.255.255.0 over two servers. `tcpdump` on the director
//! records every packet IPVS sees (inbound on every interface); after each
//! step the capture so far is replayed, with its timestamps, through an
//! lvskit [`ConnTable`] set up like the kernel's, and the two are compared:
//! the entries of `/proc/net/ip_vs_conn` (protocol, endpoints, state,
//! seconds left within a second), the ActiveConn/InActConn of every real
//! server in `ipvsadm -Ln`, and, character for character, `ipvsadm -Lnc`
//! against lvskit's renderer over the same `/proc` text.
//!
//! Helpers run as this same binary (`helper` test) inside the namespaces,
//! driven over stdin/stdout.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{IpAddr, Ipv4Addr, Shutdown, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use lvskit::ipvs::conn::{
    ConnEntry, ConnTable, ConnTableConfig, Packet, Segment, TcpFlags, parse_proc, render_ipvsadm,
};
use lvskit::ipvs::{DestConfig, Flow, PersistMask, Persistence, Protocol, Service, ServiceConfig, ServiceKey};
use lvskit::wire::ipv4;
use lvskit::wire::pcap::{LinkType, Reader};

const VIP1: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
const VIP2: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 2);
const PCAP: &str = "/tmp/conn-agreement.pcap";

fn sh(cmd: &str) -> String {
    let out = Command::new("bash").arg("-c").arg(cmd).output().expect("bash");
    assert!(out.status.success(), "`{cmd}` failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn topology() {
    let script = r#"
set -e
for n in c1 c2 lb srv; do ip netns add $n; ip -n $n link set lo up; done
ip link add e0 netns c1 type veth peer name v1 netns lb
ip link add e0 netns c2 type veth peer name v2 netns lb
ip link add e0 netns srv type veth peer name v3 netns lb
ip -n c1 addr add 203.0.113.10/24 dev e0
ip -n c2 addr add 203.0.113.11/24 dev e0
ip -n srv addr add 198.51.100.10/24 dev e0
ip -n srv addr add 198.51.100.11/24 dev e0
ip -n lb addr add 203.0.113.1/32 dev v1
ip -n lb addr add 203.0.113.1/32 dev v2
ip -n lb addr add 198.51.100.1/24 dev v3
for n in c1 c2 srv; do ip -n $n link set e0 up; done
for v in v1 v2 v3; do ip -n lb link set $v up; done
ip -n lb route add 203.0.113.10/32 dev v1
ip -n lb route add 203.0.113.11/32 dev v2
ip -n c1 route add default via 203.0.113.1
ip -n c2 route add default via 203.0.113.1
ip -n srv route add default via 198.51.100.1
ip -n lb link add vip type dummy
ip -n lb link set vip up
ip -n lb addr add 192.0.2.1/32 dev vip
ip -n lb addr add 192.0.2.2/32 dev vip
ip netns exec lb bash -c 'echo 1 > /proc/sys/net/ipv4/ip_forward'
ip netns exec lb ipvsadm -A -t 192.0.2.1:80 -s rr
ip netns exec lb ipvsadm -a -t 192.0.2.1:80 -r 198.51.100.10:8080 -m
ip netns exec lb ipvsadm -A -u 192.0.2.1:53 -s rr
ip netns exec lb ipvsadm -a -u 192.0.2.1:53 -r 198.51.100.10:5353 -m
ip netns exec lb ipvsadm -A -t 192.0.2.1:81 -s rr
ip netns exec lb ipvsadm -a -t 192.0.2.1:81 -r 198.51.100.99:81 -m
ip netns exec lb ipvsadm -A -t 192.0.2.2:80 -s rr -p 300 -M 255.255.255.0
ip netns exec lb ipvsadm -a -t 192.0.2.2:80 -r 198.51.100.10:8080 -m
ip netns exec lb ipvsadm -a -t 192.0.2.2:80 -r 198.51.100.11:8080 -m
"#;
    sh(script);
}

/// The same services in lvskit, servers added in the same order.
fn services() -> Vec<Service> {
    let v1 = IpAddr::V4(VIP1);
    let s10 = IpAddr::V4(Ipv4Addr::new(198, 51, 100, 10));
    let s11 = IpAddr::V4(Ipv4Addr::new(198, 51, 100, 11));
    let mut tcp = Service::new(ServiceConfig::new(ServiceKey::addr(Protocol::Tcp, v1, 80), "rr"), 0).unwrap();
    tcp.add_dest(DestConfig::masq(s10, 8080)).unwrap();
    let mut udp = Service::new(ServiceConfig::new(ServiceKey::addr(Protocol::Udp, v1, 53), "rr"), 0).unwrap();
    udp.add_dest(DestConfig::masq(s10, 5353)).unwrap();
    let mut dark = Service::new(ServiceConfig::new(ServiceKey::addr(Protocol::Tcp, v1, 81), "rr"), 0).unwrap();
    dark.add_dest(DestConfig::masq(IpAddr::V4(Ipv4Addr::new(198, 51, 100, 99)), 81)).unwrap();
    let p = Persistence { timeout: 300, mask: PersistMask::V4(Ipv4Addr::new(255, 255, 255, 0)) };
    let cfg = ServiceConfig::new(ServiceKey::addr(Protocol::Tcp, IpAddr::V4(VIP2), 80), "rr").persistent(p);
    let mut pers = Service::new(cfg, 0).unwrap();
    pers.add_dest(DestConfig::masq(s10, 8080)).unwrap();
    pers.add_dest(DestConfig::masq(s11, 8080)).unwrap();
    vec![tcp, udp, dark, pers]
}

// ------------------------------------------------------------------ helpers

struct Helper {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
}

impl Helper {
    fn spawn(netns: &str, role: &str) -> Helper {
        let exe = std::env::current_exe().unwrap();
        let mut child = Command::new("ip")
            .args(["netns", "exec", netns])
            .arg(exe)
            .args(["--exact", "helper", "--nocapture", "--test-threads=1"])
            .env("LVSKIT_CONN_HELPER", role)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("spawn helper");
        let stdin = child.stdin.take().unwrap();
        let stdout = BufReader::new(child.stdout.take().unwrap());
        let mut h = Helper { child, stdin, stdout };
        assert_eq!(h.reply(), "ready");
        h
    }

    fn reply(&mut self) -> String {
        let mut line = String::new();
        loop {
            line.clear();
            assert!(self.stdout.read_line(&mut line).unwrap() > 0, "helper exited");
            // libtest may have printed "test helper ... " first on the line.
            if let Some(i) = line.find("@@ ") {
                return line[i + 3..].trim_end().to_owned();
            }
        }
    }

    fn cmd(&mut self, c: &str) -> String {
        writeln!(self.stdin, "{c}").unwrap();
        self.stdin.flush().unwrap();
        let r = self.reply();
        assert!(r.starts_with("ok"), "{c}: {r}");
        r
    }
}

impl Drop for Helper {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn say(s: &str) {
    println!("@@ {s}");
    std::io::stdout().flush().unwrap();
}

fn server() {
    let conns: Arc<Mutex<HashMap<String, TcpStream>>> = Arc::default();
    let listener = TcpListener::bind("0.0.0.0:8080").unwrap();
    let udp = UdpSocket::bind("0.0.0.0:5353").unwrap();
    std::thread::spawn(move || {
        let mut buf = [0u8; 1500];
        while let Ok((n, from)) = udp.recv_from(&mut buf) {
            let _ = udp.send_to(&buf[..n], from);
        }
    });
    let c = Arc::clone(&conns);
    std::thread::spawn(move || {
        for s in listener.incoming() {
            let s = s.unwrap();
            let peer = s.peer_addr().unwrap().to_string();
            let mut r = BufReader::new(s.try_clone().unwrap());
            let mut w = s.try_clone().unwrap();
            c.lock().unwrap().insert(peer, s);
            std::thread::spawn(move || {
                let mut line = String::new();
                while r.read_line(&mut line).unwrap_or(0) > 0 {
                    let _ = w.write_all(line.as_bytes());
                    line.clear();
                }
            });
        }
    });
    say("ready");
    for line in std::io::stdin().lines() {
        let line = line.unwrap();
        match line.split_whitespace().collect::<Vec<_>>()[..] {
            ["close", peer] => {
                let s = conns.lock().unwrap().remove(peer).expect("known peer");
                s.shutdown(Shutdown::Both).unwrap();
                say("ok");
            }
            _ => say(&format!("bad command {line}")),
        }
    }
}

fn client() {
    let mut conns: HashMap<String, TcpStream> = HashMap::new();
    say("ready");
    for line in std::io::stdin().lines() {
        let line = line.unwrap();
        let words: Vec<&str> = line.split_whitespace().collect();
        match words[..] {
            ["connect", id, to] => {
                let s = TcpStream::connect(to).unwrap();
                let local = s.local_addr().unwrap();
                conns.insert(id.into(), s);
                say(&format!("ok {local}"));
            }
            ["connect-nowait", to] => {
                let to: SocketAddr = to.parse().unwrap();
                let _ = TcpStream::connect_timeout(&to, Duration::from_millis(200));
                say("ok");
            }
            ["send", id, text] => {
                let s = conns.get_mut(id).unwrap();
                writeln!(s, "{text}").unwrap();
                let mut echo = vec![0u8; text.len() + 1];
                s.read_exact(&mut echo).unwrap();
                say("ok");
            }
            ["send-unread", id, text] => {
                writeln!(conns.get_mut(id).unwrap(), "{text}").unwrap();
                say("ok");
            }
            ["shutdown", id] => {
                conns[id].shutdown(Shutdown::Write).unwrap();
                say("ok");
            }
            ["close", id] => {
                conns.remove(id);
                say("ok");
            }
            ["udp", to, text] => {
                let u = UdpSocket::bind("0.0.0.0:0").unwrap();
                u.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
                u.send_to(text.as_bytes(), to).unwrap();
                let mut buf = [0u8; 100];
                let n = u.recv(&mut buf).unwrap();
                assert_eq!(&buf[..n], text.as_bytes());
                say(&format!("ok {}", u.local_addr().unwrap()));
            }
            _ => say(&format!("bad command {line}")),
        }
    }
}

/// The helper processes: this binary re-run inside a namespace.
#[test]
fn helper() {
    match std::env::var("LVSKIT_CONN_HELPER").as_deref() {
        Ok("server") => server(),
        Ok("client") => client(),
        _ => {}
    }
}

// ------------------------------------------------------------ the mirror

/// lvskit's table, fed from the director's capture.
struct Mirror {
    table: ConnTable,
    svcs: Vec<Service>,
    t0: Instant,
    base: Option<Duration>,
    fed: usize,
}

impl Mirror {
    fn new() -> Mirror {
        let t0 = Instant::now();
        Mirror {
            table: ConnTable::new(ConnTableConfig::default(), t0).unwrap(),
            svcs: services(),
            t0,
            base: None,
            fed: 0,
        }
    }

    fn at(&self, wall: Duration) -> Instant {
        self.t0 + wall.saturating_sub(self.base.unwrap_or(wall))
    }

    /// Feeds the packets captured since the last call.
    fn feed(&mut self) {
        let data = std::fs::read(PCAP).unwrap();
        let mut r = Reader::new(&data[..]).unwrap();
        let link = r.link_type();
        let mut i = 0;
        while let Ok(Some(rec)) = r.next_record() {
            i += 1;
            if i <= self.fed {
                continue;
            }
            self.fed = i;
            let ts = rec.timestamp;
            let ip = match link {
                LinkType::LinuxSll if rec.data.len() > 16 && rec.data[14..16] == [8, 0] => &rec.data[16..],
                LinkType::LinuxSll2 if rec.data.len() > 20 && rec.data[0..2] == [8, 0] => &rec.data[20..],
                _ => continue,
            };
            let Ok(p) = ipv4::Packet::new_checked(ip) else { continue };
            let l4 = p.payload();
            if l4.len() < 8 {
                continue;
            }
            let (src, dst) = (IpAddr::V4(p.src_addr()), IpAddr::V4(p.dst_addr()));
            let sport = u16::from_be_bytes([l4[0], l4[1]]);
            let dport = u16::from_be_bytes([l4[2], l4[3]]);
            let (proto, seg) = match p.protocol() {
                6 if l4.len() >= 14 => (Protocol::Tcp, Segment::Tcp(TcpFlags::from_bits(l4[13]))),
                17 => (Protocol::Udp, Segment::Udp),
                _ => continue,
            };
            self.base.get_or_insert(ts);
            let now = self.at(ts);
            self.table.expire(now);
            let flow = Flow::new(proto, src, sport, dst, dport);
            if dst == IpAddr::V4(VIP1) || dst == IpAddr::V4(VIP2) {
                let svc = self
                    .svcs
                    .iter_mut()
                    .find(|s| matches!(s.key(), ServiceKey::Addr { protocol, addr, port } if protocol == proto && addr == dst && port == dport))
                    .expect("a service for every packet to a VIP");
                self.table.process(svc, &Packet::input(flow, seg), now).unwrap();
            } else if src.to_string().starts_with("198.51.100.") {
                self.table.process_reply(&flow, seg, now).unwrap();
            }
        }
    }

    fn entries(&self, wall: Duration) -> Vec<ConnEntry> {
        let now = self.at(wall);
        self.table.expire(now);
        self.table.entries(now)
    }

    /// (ActiveConn, InActConn) per service and server, as `ipvsadm -Ln` lists them.
    fn counters(&self) -> Vec<(String, u32, u32)> {
        let mut v = Vec::new();
        for s in &self.svcs {
            for d in s.dests() {
                v.push((format!("{} {}", s.key(), d.socket_addr()), d.active_conns(), d.inactive_conns()));
            }
        }
        v.sort();
        v
    }
}

fn wall() -> Duration {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap()
}

/// The kernel's counters from `ipvsadm -Ln`.
fn kernel_counters() -> Vec<(String, u32, u32)> {
    let text = sh("ip netns exec lb ipvsadm -Ln");
    let mut v = Vec::new();
    let mut svc = String::new();
    for line in text.lines() {
        let w: Vec<&str> = line.split_whitespace().collect();
        match w[..] {
            [proto @ ("TCP" | "UDP"), addr, _sched, ..] => svc = format!("{proto} {addr}"),
            ["->", addr, _fwd, _weight, active, inactive] if addr != "RemoteAddress:Port" => {
                v.push((format!("{svc} {addr}"), active.parse().unwrap(), inactive.parse().unwrap()));
            }
            _ => {}
        }
    }
    v.sort();
    v
}

type Key = (u8, SocketAddr, SocketAddr, SocketAddr, &'static str, bool);

fn keyed(entries: &[ConnEntry]) -> Vec<(Key, u32)> {
    let mut v: Vec<(Key, u32)> = entries
        .iter()
        .map(|e| ((e.protocol, e.client, e.virtual_addr, e.dest, e.state.name(), e.template), e.expires_secs))
        .collect();
    v.sort();
    v
}

/// Reads `/proc/net/ip_vs_conn`, `ipvsadm -Lnc` and `/proc` again in one go
/// until the two reads agree (no second boundary in between); with the wall
/// time just before that attempt.
fn kernel_listing() -> (String, String, Duration) {
    for _ in 0..20 {
        let at = wall();
        let out = sh(
            "ip netns exec lb bash -c 'cat /proc/net/ip_vs_conn; echo @@@; ipvsadm -Lnc; echo @@@; cat /proc/net/ip_vs_conn'",
        );
        let parts: Vec<&str> = out.split("@@@\n").collect();
        if parts.len() == 3 && parts[0] == parts[2] {
            return (parts[0].to_owned(), parts[1].to_owned(), at);
        }
    }
    panic!("/proc/net/ip_vs_conn kept changing under ipvsadm");
}

/// Compares the kernel and the mirror after a step. Nothing moves between
/// steps but the capture, which tcpdump writes with some delay: retry until
/// it has caught up (or give up after a while and report).
fn check(step: &str, m: &mut Mirror) -> Vec<ConnEntry> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        std::thread::sleep(Duration::from_millis(300));
        let (proc_text, ipvsadm, before) = kernel_listing();
        m.feed();
        let kernel = parse_proc(&proc_text).unwrap_or_else(|e| panic!("{step}: {e}"));
        // ipvsadm, character for character, from the same /proc text.
        assert_eq!(render_ipvsadm(&kernel), ipvsadm, "{step}: ipvsadm -Lnc");
        let ours = m.entries(before + Duration::from_millis(50));
        let (k, o) = (keyed(&kernel), keyed(&ours));
        let strip = |v: &[(Key, u32)]| v.iter().map(|(k, _)| *k).collect::<Vec<_>>();
        let (kc, oc) = (kernel_counters(), m.counters());
        if (strip(&o) != strip(&k) || kc != oc) && Instant::now() < deadline {
            continue;
        }
        assert_eq!(strip(&o), strip(&k), "{step}: entries\nkernel:\n{proc_text}\nlvskit:\n{}", render_ipvsadm(&ours));
        // Whole seconds left: lvskit runs on the capture's timestamps, the
        // kernel on its jiffies; in the emulated VM on a loaded host the two
        // were seen 2 s apart, so allow 3.
        for ((key, ke), (_, oe)) in k.iter().zip(o.iter()) {
            assert!(ke.abs_diff(*oe) <= 3, "{step}: {key:?} expires in {ke} s in the kernel, {oe} s in lvskit");
        }
        assert_eq!(oc, kc, "{step}: ActiveConn/InActConn");
        println!("{step}: {} entries agree\n{ipvsadm}", kernel.len());
        return kernel;
    }
}

#[test]
fn kernel_and_lvskit_agree() {
    if std::env::var("IPVS_VM").as_deref() != Ok("1") {
        eprintln!("note: conn_kernel_agreement runs in the IPVS VM (scripts/test runs it there); skipped");
        return;
    }
    topology();
    eprintln!("topology up");
    let mut tcpdump = Command::new("ip")
        .args(["netns", "exec", "lb", "tcpdump", "-i", "any", "-Q", "in", "-U", "-n", "-w", PCAP, "tcp or udp"])
        .stderr(Stdio::piped())
        .spawn()
        .expect("tcpdump");
    let mut err = BufReader::new(tcpdump.stderr.take().unwrap());
    let mut line = String::new();
    while err.read_line(&mut line).unwrap() > 0 && !line.contains("listening on") {
        line.clear();
    }
    eprintln!("capture running");
    let mut srv = Helper::spawn("srv", "server");
    eprintln!("server up");
    let mut c1 = Helper::spawn("c1", "client");
    let mut c2 = Helper::spawn("c2", "client");
    eprintln!("clients up");
    let mut m = Mirror::new();
    let peer = |r: &str| r.trim_start_matches("ok ").to_owned();

    // A: the client closes first, with a half-close in between.
    let a = peer(&c1.cmd("connect a 192.0.2.1:80"));
    check("A connected", &mut m);
    c1.cmd("send a hello");
    check("A data", &mut m);
    c1.cmd("shutdown a");
    let e = check("A half-closed by the client", &mut m);
    assert!(e.iter().any(|e| e.state.name() == "CLOSE_WAIT"), "{e:?}");
    srv.cmd(&format!("close {a}"));
    let e = check("A closed by the server", &mut m);
    assert!(e.iter().any(|e| e.state.name() == "TIME_WAIT"), "{e:?}");

    // B: the server closes first.
    let b = peer(&c1.cmd("connect b 192.0.2.1:80"));
    c1.cmd("send b hello");
    srv.cmd(&format!("close {b}"));
    let e = check("B closed by the server", &mut m);
    assert!(e.iter().any(|e| e.state.name() == "FIN_WAIT"), "{e:?}");
    c1.cmd("close b");
    check("B closed by the client", &mut m);

    // A UDP flow, both ways.
    c1.cmd("udp 192.0.2.1:53 ping");
    c1.cmd("udp 192.0.2.1:53 pong");
    let e = check("UDP flows", &mut m);
    assert_eq!(e.iter().filter(|e| e.state.name() == "UDP").count(), 2);

    // Persistence with a /24 mask: the second client of the /24 follows the first.
    c1.cmd("connect p1 192.0.2.2:80");
    c1.cmd("send p1 hello");
    c2.cmd("connect p2 192.0.2.2:80");
    c2.cmd("send p2 hello");
    let e = check("persistent clients of one /24", &mut m);
    let to: Vec<SocketAddr> =
        e.iter().filter(|e| !e.template && e.virtual_addr.ip() == IpAddr::V4(VIP2)).map(|e| e.dest).collect();
    assert_eq!(to.len(), 2, "{e:?}");
    assert_eq!(to[0], to[1], "both clients of 203.0.113.0/24 on one server");
    let tpl: Vec<&ConnEntry> = e.iter().filter(|e| e.template).collect();
    assert_eq!(tpl.len(), 1);
    assert_eq!(tpl[0].client, "203.0.113.0:0".parse().unwrap());
    assert_eq!(tpl[0].state.name(), "ASSURED");

    // A server that never answers: the connection stays in SYN_RECV, which
    // the kernel counts as active (tcp_state_active_table).
    c2.cmd("connect-nowait 192.0.2.1:81");
    let e = check("half-open to a silent server", &mut m);
    assert!(e.iter().any(|e| e.state.name() == "SYN_RECV" && e.virtual_addr.port() == 81), "{e:?}");
    assert!(kernel_counters().iter().any(|(k, a, i)| k.ends_with("198.51.100.99:81") && (*a, *i) == (1, 0)));

    // An abort: unread data on close makes the client send RST.
    c1.cmd("connect r 192.0.2.1:80");
    c1.cmd("send-unread r x");
    std::thread::sleep(Duration::from_millis(300));
    c1.cmd("close r");
    let e = check("R reset by the client", &mut m);
    assert!(e.iter().any(|e| e.state.name() == "CLOSE"), "{e:?}");

    let _ = tcpdump.kill();
    let _ = tcpdump.wait();
}
