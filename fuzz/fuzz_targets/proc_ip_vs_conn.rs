//! Fuzzes the `/proc/net/ip_vs_conn` reader: it never panics, and whatever
//! it accepts renders back to text it reads as the same entries.
#![no_main]

use libfuzzer_sys::fuzz_target;
use lvskit::ipvs::conn::{parse_proc, render_proc};

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(entries) = parse_proc(text) {
            let again = render_proc(&entries);
            assert_eq!(parse_proc(&again).expect("rendered text parses"), entries);
        }
    }
});
