//! Replies of the kernel's `IPVS` generic netlink family, decoded all the way
//! into the model (`lvskit::backend::netlink::family::decode_replies`). The
//! first byte picks the family assumed for real servers that do not name
//! theirs; the rest is one `recv` worth of netlink messages from family 32
//! (the id the VM's kernel gave `IPVS` in the seed captures).
#![no_main]

use libfuzzer_sys::fuzz_target;
use lvskit::backend::netlink::family::decode_replies;
use lvskit::ipvs::Family;

fuzz_target!(|data: &[u8]| {
    let Some((&sel, buf)) = data.split_first() else { return };
    let family = if sel & 1 == 0 { Family::V4 } else { Family::V6 };
    let _ = decode_replies(buf, 32, family);
});
