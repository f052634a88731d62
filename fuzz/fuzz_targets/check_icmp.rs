//! Fuzzes the ICMP reader in every socket mode.
#![no_main]

use libfuzzer_sys::fuzz_target;
use lvskit::check::icmp;

fuzz_target!(|data: &[u8]| {
    for v6 in [false, true] {
        for raw in [false, true] {
            let _ = icmp::parse(v6, raw, data);
            let _ = icmp::judge(v6, raw, Some((1, 2)), data);
            let _ = icmp::judge(v6, raw, None, data);
        }
    }
});
