//! Replays the `netlink_route_reply` fuzz target's corpus
//! (`fuzz/corpus/netlink_route_reply/`) on stable, exactly as the target
//! feeds it (no input may panic the decoder), and checks what the captured
//! dumps and their edits decode to.
#![cfg(all(feature = "netlink", target_os = "linux"))]

mod corpus_support;

use std::net::IpAddr;

use lvskit::backend::netlink::{AddressDumpPart, NetlinkAddresses};
use lvskit::backend::{AddrFlags, AddrScope, BackendError};

/// One named input of the corpus.
fn seed(name: &str) -> Vec<u8> {
    corpus_support::input("netlink_route_reply", name)
}

fn decode(data: &[u8]) -> Result<AddressDumpPart, BackendError> {
    let (seq, buf) = data.split_first_chunk::<4>().expect("4-byte sequence number");
    NetlinkAddresses::decode_dump(buf, u32::from_le_bytes(*seq))
}

#[test]
fn corpus_decodes_without_panicking() {
    let mut n = 0;
    for (_, data) in corpus_support::corpus("netlink_route_reply") {
        if data.len() >= 4 {
            let _ = decode(&data);
        }
        n += 1;
    }
    assert!(n >= 9, "corpus entries: {n}");
}

#[test]
fn captured_dumps_decode_to_the_namespace_addresses() {
    // The namespace had lo (127.0.0.1/8, ::1/128) and a veth d0 with
    // 192.0.2.1/24 labelled d0:vip, the secondary 192.0.2.2/24, the
    // host-scoped 198.51.100.7/32 and 2001:db8::1/64 (plus its link-local).
    let v4 = decode(&seed("capture-fam2-0")).expect("IPv4 dump");
    assert!(!v4.done && !v4.interrupted);
    let found: Vec<(IpAddr, u8)> = v4.addresses.iter().map(|e| (e.address.addr, e.address.prefix_len)).collect();
    for want in ["127.0.0.1/8", "192.0.2.1/24", "192.0.2.2/24", "198.51.100.7/32"] {
        let (a, p) = want.split_once('/').unwrap();
        assert!(found.contains(&(a.parse().unwrap(), p.parse().unwrap())), "{want} in {found:?}");
    }
    let vip = v4.addresses.iter().find(|e| e.address.addr == "192.0.2.1".parse::<IpAddr>().unwrap()).unwrap();
    assert_eq!(vip.address.label.as_deref(), Some("d0:vip"));
    assert!(!vip.flags.contains(AddrFlags::SECONDARY));
    let second = v4.addresses.iter().find(|e| e.address.addr == "192.0.2.2".parse::<IpAddr>().unwrap()).unwrap();
    assert!(second.flags.contains(AddrFlags::SECONDARY), "{second:?}");
    let host = v4.addresses.iter().find(|e| e.address.addr == "198.51.100.7".parse::<IpAddr>().unwrap()).unwrap();
    assert_eq!(host.address.scope, AddrScope::Host);
    // The dump's end came in its own datagram.
    let end = decode(&seed("capture-fam2-1")).expect("NLMSG_DONE");
    assert!(end.done && end.addresses.is_empty());
    let v6 = decode(&seed("capture-fam10-0")).expect("IPv6 dump");
    assert!(v6.done);
    assert!(v6.addresses.iter().any(|e| e.address.addr == "2001:db8::1".parse::<IpAddr>().unwrap()));
    let all = decode(&seed("capture-fam0-0")).expect("both families");
    assert_eq!(all.addresses.len(), v4.addresses.len() + v6.addresses.len());
}

#[test]
fn edited_dumps_are_flagged_or_refused() {
    assert!(decode(&seed("synthetic-done-interrupted")).expect("decodes").interrupted);
    assert!(matches!(decode(&seed("synthetic-done-eperm")), Err(BackendError::Kernel { .. })));
    let other = decode(&seed("synthetic-other-request")).expect("decodes");
    assert!(other.addresses.is_empty() && !other.done, "replies to another request are skipped");
    assert!(matches!(decode(&seed("synthetic-truncated")), Err(BackendError::Decode { .. })));
}
