//! The `/proc/net/ip_vs_conn` reader and writer: a proptest round trip over
//! arbitrary entries, and the fuzz corpus (`fuzz/corpus/proc_ip_vs_conn/`)
//! replayed on stable with the fuzz target's own check.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
mod corpus_support;

use lvskit::ipvs::conn::{ConnEntry, ConnState, SctpState, TcpState, parse_proc, render_proc};
use proptest::prelude::*;

fn addr(v6: bool) -> impl Strategy<Value = IpAddr> {
    if v6 {
        any::<u128>().prop_map(|a| IpAddr::V6(Ipv6Addr::from(a))).boxed()
    } else {
        any::<u32>().prop_map(|a| IpAddr::V4(Ipv4Addr::from(a))).boxed()
    }
}

fn entry() -> impl Strategy<Value = ConnEntry> {
    (any::<bool>(), any::<bool>()).prop_flat_map(|(v6, dv6)| {
        (
            addr(v6),
            addr(v6),
            addr(dv6),
            any::<u16>(),
            any::<u16>(),
            any::<u16>(),
            0u8..5,
            0u8..14,
            any::<bool>(),
            0u32..20_000_000,
        )
            .prop_map(|(c, v, d, cport, vport, dport, kind, st, assured, expires_secs)| {
                // Templates: client port 0, state NONE/ASSURED; connections:
                // a port of their own (port 0 would read as a template).
                let (protocol, state, template, cport) = match kind {
                    0 => (6, ConnState::Tcp(TcpState::ALL[st as usize % 11]), false, cport.max(1)),
                    1 => (17, ConnState::Udp, false, cport.max(1)),
                    2 => (132, ConnState::Sctp(SctpState::ALL[st as usize]), false, cport.max(1)),
                    3 => ([0u8, 6, 17, 132][st as usize % 4], ConnState::Template { assured }, true, 0),
                    _ => (6, ConnState::Template { assured: true }, true, 0),
                };
                ConnEntry {
                    protocol,
                    client: SocketAddr::new(c, cport),
                    virtual_addr: SocketAddr::new(v, vport),
                    dest: SocketAddr::new(d, dport),
                    state,
                    template,
                    expires_secs,
                    forward: None,
                    controlled: false,
                    controls: 0,
                }
            })
    })
}

proptest! {
    #[test]
    fn render_then_parse_is_identity(entries in prop::collection::vec(entry(), 0..20)) {
        let text = render_proc(&entries);
        prop_assert_eq!(parse_proc(&text).unwrap(), entries);
    }

    #[test]
    fn parse_never_panics(text in "\\PC{0,300}") {
        let _ = parse_proc(&format!("Pro FromIP\n{text}"));
    }
}

/// The fuzz target's check.
fn check(data: &[u8]) {
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(entries) = parse_proc(text) {
            let again = render_proc(&entries);
            assert_eq!(parse_proc(&again).expect("rendered text parses"), entries);
        }
    }
}

#[test]
fn fuzz_corpus_replays() {
    let corpus = corpus_support::corpus("proc_ip_vs_conn");
    for (_, data) in &corpus {
        check(data);
    }
    assert!(corpus.len() >= 5, "corpus too small: {}", corpus.len());
}
