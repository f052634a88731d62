//! Replies of the kernel to an rtnetlink address dump, as
//! `lvskit::backend::netlink::NetlinkAddresses::decode_dump` reads them for
//! `NetlinkAddresses::addresses` (the raw-socket monitor's dumps use the same
//! step). The first four bytes (little-endian) are the request's sequence
//! number; the rest is one `recv` worth of netlink messages. Seeds: dumps
//! captured in a namespace with IPv4 (labelled, secondary, host-scoped) and
//! IPv6 addresses, and edits of them (interrupted, failed, other request,
//! truncated).
#![no_main]

use libfuzzer_sys::fuzz_target;
use lvskit::backend::netlink::NetlinkAddresses;

fuzz_target!(|data: &[u8]| {
    let Some((seq, buf)) = data.split_first_chunk::<4>() else { return };
    let _ = NetlinkAddresses::decode_dump(buf, u32::from_le_bytes(*seq));
});
