//! A small network lab inside the IPVS VM, for the scheduler kernel tests.
//!
//! ```text
//!  netns c (clients)              VM root ns (director, IPVS)              netns r (real servers)
//!  c0: 203.0.113.10-49/24  <-veth->  c1: 203.0.113.1/24     r1: 198.51.100.254/24  <-veth->  r0: 198.51.100.1-20/24
//!      2001:db8:c::10-49/64            2001:db8:c::1/64         2001:db8:5::fe/64                2001:db8:5::1-20/64
//!                                  lo: VIP 192.0.2.1, 2001:db8:f::1; local routes for the
//!                                      fwmark ranges 192.0.2.128/25, 2001:db8:f:1::/64 (nft marks them 1)
//! ```
//!
//! The real servers are masqueraded (NAT), so their replies come back through
//! the director. Two helper processes, this same test binary re-run inside
//! the namespaces (`ip netns exec`), do the socket work: the server helper
//! accepts on port 80, sends one byte and reports when the client closes; the
//! client helper opens and closes connections from chosen source addresses on
//! request. A connection counts as open once the client has read the
//! server's byte: by then the kernel has seen the handshake complete.

#![allow(dead_code)]

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener, TcpStream};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{Receiver, channel};
use std::time::Duration;

use socket2::{Domain, Socket, Type};

/// The environment variable that turns the test binary into a helper.
pub const HELPER_ENV: &str = "LVSKIT_SCHED_HELPER";
/// The name of the (ignored) test that runs the helper.
pub const HELPER_TEST: &str = "vm_helper";

/// Whether we run inside the IPVS VM; prints a note otherwise.
pub fn in_vm(test: &str) -> bool {
    if std::env::var("IPVS_VM").as_deref() == Ok("1") {
        true
    } else {
        eprintln!("note: {test} needs the IPVS VM (scripts/ipvs-vm); skipped outside it");
        false
    }
}

/// Runs a command, panicking with its output if it fails.
pub fn sh(cmd: &str, args: &[&str]) -> String {
    let out = Command::new(cmd).args(args).output().unwrap_or_else(|e| panic!("{cmd}: {e}"));
    assert!(
        out.status.success(),
        "{cmd} {args:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Runs a command with `input` on its stdin.
pub fn sh_in(cmd: &str, args: &[&str], input: &str) {
    let mut child = Command::new(cmd)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{cmd}: {e}"));
    child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{cmd} {args:?} <<{input}\nfailed: {}", String::from_utf8_lossy(&out.stderr));
}

/// Address family of a scenario.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fam {
    V4,
    V6,
}

impl Fam {
    /// Real server `k` (1..=20).
    pub fn server(self, k: u8) -> IpAddr {
        match self {
            Fam::V4 => IpAddr::V4(Ipv4Addr::new(198, 51, 100, k)),
            Fam::V6 => IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 5, 0, 0, 0, 0, k as u16)),
        }
    }

    /// Client address `c` (0..40).
    pub fn client(self, c: u8) -> IpAddr {
        match self {
            Fam::V4 => IpAddr::V4(Ipv4Addr::new(203, 0, 113, 10 + c)),
            Fam::V6 => IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0xc, 0, 0, 0, 0, 0x10 + c as u16)),
        }
    }

    /// The VIP of the address services.
    pub fn vip(self) -> IpAddr {
        match self {
            Fam::V4 => IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)),
            Fam::V6 => IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0xf, 0, 0, 0, 0, 1)),
        }
    }

    /// Destination `d` (0..100) in the range marked for fwmark services.
    pub fn marked(self, d: u8) -> IpAddr {
        match self {
            Fam::V4 => IpAddr::V4(Ipv4Addr::new(192, 0, 2, 128 + d)),
            Fam::V6 => IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0xf, 1, 0, 0, 0, 0x100 + d as u16)),
        }
    }

    /// `ipvsadm`'s `-6` for fwmark services.
    pub fn fwm_flag(self) -> Option<&'static str> {
        match self {
            Fam::V4 => None,
            Fam::V6 => Some("-6"),
        }
    }
}

/// The running lab: helpers and their channels.
pub struct Lab {
    client: Child,
    client_in: ChildStdin,
    client_out: Receiver<String>,
    server: Child,
    server_out: Receiver<String>,
}

fn helper(ns: &str, role: &str) -> (Child, Receiver<String>) {
    let exe = std::env::current_exe().unwrap();
    // Thousands of connections stay open over a run: raise the fd limit.
    let mut child = Command::new("ip")
        .args(["netns", "exec", ns, "sh", "-c", "ulimit -n 65536 && exec \"$0\" \"$@\""])
        .arg(exe)
        .args(["--ignored", "--exact", HELPER_TEST, "--nocapture", "--test-threads=1"])
        .env(HELPER_ENV, role)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("start helper");
    let out = child.stdout.take().unwrap();
    let (tx, rx) = channel();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            // libtest may have printed "test vm_helper ... " on the same line.
            if let Some(at) = line.find("@@ ") {
                if tx.send(line[at + 3..].to_owned()).is_err() {
                    break;
                }
            }
        }
    });
    (child, rx)
}

impl Lab {
    /// Builds the topology and starts the helpers.
    pub fn start() -> Lab {
        // Forwarding on; no rate limit on the ICMP errors that refuse a
        // connection when the scheduler finds no server (else every refusal
        // after the first waits for a SYN retransmission).
        sh(
            "sysctl",
            &[
                "-qw",
                "net.ipv4.ip_forward=1",
                "net.ipv6.conf.all.forwarding=1",
                "net.ipv4.icmp_ratelimit=0",
                "net.ipv6.icmp.ratelimit=0",
            ],
        );
        let mut root = String::from(
            "netns add c\nnetns add r\n\
             link add c1 type veth peer name c0 netns c\n\
             link add r1 type veth peer name r0 netns r\n\
             addr add 203.0.113.1/24 dev c1\naddr add 2001:db8:c::1/64 dev c1 nodad\nlink set c1 up\n\
             addr add 198.51.100.254/24 dev r1\naddr add 2001:db8:5::fe/64 dev r1 nodad\nlink set r1 up\n\
             addr add 192.0.2.1/32 dev lo\naddr add 2001:db8:f::1/128 dev lo\n\
             route add local 192.0.2.128/25 dev lo\nroute add local 2001:db8:f:1::/64 dev lo\n",
        );
        root.push_str("");
        sh_in("ip", &["-batch", "-"], &root);
        let mut c = String::from("link set lo up\n");
        for i in 0..40u8 {
            c.push_str(&format!("addr add 203.0.113.{}/24 dev c0\n", 10 + i));
            c.push_str(&format!("addr add 2001:db8:c::{:x}/64 dev c0 nodad\n", 0x10 + i as u16));
        }
        c.push_str("link set c0 up\nroute add default via 203.0.113.1\nroute add default via 2001:db8:c::1\n");
        sh_in("ip", &["-n", "c", "-batch", "-"], &c);
        // Send the clients' packets from a qdisc timer, a millisecond late:
        // otherwise a SYN crosses the veth, IPVS and the refusing ICMP error
        // within connect() itself, while the socket is locked, and the error
        // only counts after the SYN is retransmitted a second later.
        sh("ip", &["netns", "exec", "c", "tc", "qdisc", "add", "dev", "c0", "root", "netem", "delay", "1ms"]);
        let mut r = String::from("link set lo up\n");
        for k in 1..=20u8 {
            r.push_str(&format!("addr add 198.51.100.{k}/24 dev r0\n"));
            r.push_str(&format!("addr add 2001:db8:5::{k:x}/64 dev r0 nodad\n"));
        }
        r.push_str("link set r0 up\nroute add default via 198.51.100.254\nroute add default via 2001:db8:5::fe\n");
        sh_in("ip", &["-n", "r", "-batch", "-"], &r);
        sh_in(
            "nft",
            &["-f", "-"],
            "table inet lvskit {\n chain pre {\n  type filter hook prerouting priority mangle;\n  \
             ip daddr 192.0.2.128/25 meta mark set 1\n  ip6 daddr 2001:db8:f:1::/64 meta mark set 1\n }\n}\n",
        );
        let (server, server_out) = helper("r", "server");
        let (mut client, client_out) = helper("c", "client");
        let client_in = client.stdin.take().unwrap();
        let lab = Lab { client, client_in, client_out, server, server_out };
        assert_eq!(lab.server_out.recv_timeout(Duration::from_secs(20)).as_deref(), Ok("listening"));
        assert_eq!(lab.client_out.recv_timeout(Duration::from_secs(20)).as_deref(), Ok("ready"));
        lab
    }

    fn ask(&mut self, line: &str) -> String {
        writeln!(self.client_in, "{line}").unwrap();
        self.client_in.flush().unwrap();
        self.client_out.recv_timeout(Duration::from_secs(20)).expect("client helper answers")
    }

    /// Opens a connection from `src` to `dst`; `false` if it was refused
    /// (the kernel found no real server and answered with an ICMP error).
    pub fn connect(&mut self, src: SocketAddr, dst: SocketAddr) -> bool {
        let r = self.ask(&format!("open {src} {dst}"));
        match r.as_str() {
            "ok" => true,
            "refused" => false,
            other => panic!("connect {src} -> {dst}: {other}"),
        }
    }

    /// Closes every connection the client holds (between scenarios).
    pub fn close_all(&mut self) {
        assert_eq!(self.ask("closeall"), "ok");
    }

    /// Closes the connection from `src` and waits until the server saw the
    /// FIN (so the kernel has counted the connection inactive).
    pub fn close(&mut self, src: SocketAddr) {
        assert_eq!(self.ask(&format!("close {src}")), "ok");
        let want = format!("eof {src}");
        loop {
            let got = self.server_out.recv_timeout(Duration::from_secs(20)).expect("server saw the close");
            if got == want {
                return;
            }
        }
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        let _ = self.client.kill();
        let _ = self.server.kill();
        let _ = self.client.wait();
        let _ = self.server.wait();
    }
}

/// The kernel's connection table (`ipvsadm -Lnc`): client address to real
/// server, with every client of `want` in it. `ipvsadm -Lnc` reads
/// `/proc/net/ip_vs_conn`, a walk of the kernel's hash table that can skip
/// an entry when others expire meanwhile (connections of earlier scenarios
/// do), so the listing is read again, up to ten times, until it shows them
/// all.
pub fn conn_table_with(want: &[SocketAddr]) -> HashMap<SocketAddr, SocketAddr> {
    let mut map = HashMap::new();
    for _ in 0..10 {
        map.extend(conn_table());
        if want.iter().all(|s| map.contains_key(s)) {
            break;
        }
    }
    map
}

/// One reading of the kernel's connection table (`ipvsadm -Lnc`).
pub fn conn_table() -> HashMap<SocketAddr, SocketAddr> {
    let out = sh("ipvsadm", &["-Lnc"]);
    let mut map = HashMap::new();
    for line in out.lines().skip(2) {
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.len() == 6 {
            if let (Ok(src), Ok(dst)) = (f[3].parse(), f[5].parse()) {
                map.insert(src, dst);
            }
        }
    }
    map
}

/// One real server as `ipvsadm -Ln --nosort` lists it: address, weight,
/// active and inactive connections, in the kernel's list order.
pub fn kernel_dests() -> Vec<(SocketAddr, u32, u32, u32)> {
    let out = sh("ipvsadm", &["-Ln", "--nosort"]);
    out.lines()
        .filter_map(|l| l.trim_start().strip_prefix("-> "))
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            let addr = f.first()?.parse().ok()?;
            Some((addr, f.get(2)?.parse().ok()?, f.get(3)?.parse().ok()?, f.get(4)?.parse().ok()?))
        })
        .collect()
}

/// An IPv4-mapped peer address as its IPv4 form.
fn canonical(a: SocketAddr) -> SocketAddr {
    match a.ip() {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => SocketAddr::new(IpAddr::V4(v4), a.port()),
            None => a,
        },
        IpAddr::V4(_) => a,
    }
}

/// The helper's body (run by the ignored `vm_helper` test inside a netns).
pub fn helper_main() {
    let Ok(role) = std::env::var(HELPER_ENV) else { return };
    let say = |s: &str| {
        let mut o = std::io::stdout().lock();
        writeln!(o, "@@ {s}").unwrap();
        o.flush().unwrap();
    };
    match role.as_str() {
        "server" => {
            let (tx, rx) = channel::<String>();
            for port in SERVER_PORTS {
                let l = TcpListener::bind(("::", port)).unwrap_or_else(|e| panic!("bind [::]:{port}: {e}"));
                let tx = tx.clone();
                std::thread::spawn(move || serve(l, tx));
            }
            say("listening");
            for msg in rx {
                say(&msg);
            }
        }
        "client" => {
            say("ready");
            let mut conns: HashMap<SocketAddr, TcpStream> = HashMap::new();
            for line in std::io::stdin().lock().lines().map_while(Result::ok) {
                let f: Vec<&str> = line.split_whitespace().collect();
                match f.as_slice() {
                    ["open", src, dst] => {
                        let (src, dst): (SocketAddr, SocketAddr) = (src.parse().unwrap(), dst.parse().unwrap());
                        let sock = Socket::new(Domain::for_address(src), Type::STREAM, None).unwrap();
                        sock.set_reuse_address(true).unwrap();
                        sock.bind(&src.into()).unwrap();
                        match sock.connect_timeout(&dst.into(), Duration::from_secs(10)) {
                            Ok(()) => {
                                let mut s: TcpStream = sock.into();
                                s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
                                let mut b = [0u8; 1];
                                match s.read_exact(&mut b) {
                                    Ok(()) => {
                                        conns.insert(src, s);
                                        say("ok");
                                    }
                                    Err(e) => say(&format!("error read: {e}")),
                                }
                            }
                            Err(e)
                                if e.kind() == std::io::ErrorKind::ConnectionRefused
                                    || e.raw_os_error() == Some(113) =>
                            {
                                say("refused")
                            }
                            // socket2's connect_timeout saw POLLHUP with SO_ERROR
                            // already clear: the socket was closed before it
                            // connected, which here only an ICMP refusal does (a
                            // blocking connect() reports the same race as
                            // ECONNABORTED). Seen a few times under heavy load.
                            Err(e)
                                if e.kind() == std::io::ErrorKind::Other
                                    && e.to_string().contains("POLLHUP")
                                    && sock.peer_addr().is_err() =>
                            {
                                say("refused")
                            }
                            Err(e) => say(&format!("error connect: {e}")),
                        }
                    }
                    ["closeall"] => {
                        conns.clear();
                        say("ok");
                    }
                    ["close", src] => {
                        let src: SocketAddr = src.parse().unwrap();
                        drop(conns.remove(&src));
                        say("ok");
                    }
                    _ => say(&format!("error: bad command {line:?}")),
                }
            }
        }
        other => panic!("unknown helper role {other}"),
    }
}

/// The real servers' ports: each scenario uses its own, so that the kernel
/// does not revive a server of an earlier scenario from its trash (with that
/// scenario's counters) when the next one adds the same address.
pub const SERVER_PORTS: std::ops::Range<u16> = 8000..8100;

/// The server helper's accept loop on one port: send one byte, then report
/// when the client closes.
fn serve(l: TcpListener, tx: std::sync::mpsc::Sender<String>) {
    for s in l.incoming() {
        let Ok(mut s) = s else { continue };
        let tx = tx.clone();
        let spawned = std::thread::Builder::new().stack_size(64 * 1024).spawn(move || {
            let peer = canonical(s.peer_addr().unwrap());
            let _ = s.write_all(b"x");
            let mut buf = [0u8; 64];
            while matches!(s.read(&mut buf), Ok(n) if n > 0) {}
            // Keep our side open: the kernel's entry stays in FIN_WAIT
            // (inactive) for two minutes.
            let _ = tx.send(format!("eof {peer}"));
            std::thread::sleep(Duration::from_secs(3600));
        });
        spawned.expect("spawn a connection thread");
    }
}
