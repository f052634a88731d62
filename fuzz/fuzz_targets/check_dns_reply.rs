//! Fuzzes the DNS reply reader and the verdict on it.
#![no_main]

use libfuzzer_sys::fuzz_target;
use lvskit::check::fuzzing;

fuzz_target!(|data: &[u8]| {
    let _ = fuzzing::dns_reply(data);
});
