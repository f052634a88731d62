//! Fuzzes the DNS reply reader and the verdict on it.
#![no_main]

use libfuzzer_sys::fuzz_target;
use lvskit::check::dns;

fuzz_target!(|data: &[u8]| {
    let _ = dns::parse_reply(data);
    let id = data.get(..2).map_or(0, |b| u16::from_be_bytes([b[0], b[1]]));
    let _ = dns::judge_reply(id, data);
});
