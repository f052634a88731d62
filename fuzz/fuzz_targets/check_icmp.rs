//! Fuzzes the ICMP reader in every socket mode.
#![no_main]

use libfuzzer_sys::fuzz_target;
use lvskit::check::fuzzing;

fuzz_target!(|data: &[u8]| {
    fuzzing::icmp(data);
});
