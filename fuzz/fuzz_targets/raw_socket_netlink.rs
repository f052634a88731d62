//! rtnetlink notifications as the `raw-socket` driver's monitor decodes
//! them (`lvskit::backend::raw_socket::NetlinkMonitor::decode`): one
//! datagram of netlink messages, links and addresses added, changed or
//! removed. Seeds: datagrams the kernel sent while a veth pair was created,
//! addressed, flapped and deleted, and link and address dumps.
#![no_main]

use libfuzzer_sys::fuzz_target;
use lvskit::backend::raw_socket::NetlinkMonitor;

fuzz_target!(|data: &[u8]| {
    let mut out = Vec::new();
    let _ = NetlinkMonitor::decode(data, &mut out);
});
