//! Fuzzes the small parsers of checker settings and tracked files: hex
//! patterns, status-code sets, digests, DNS names and types, file values.
#![no_main]

use libfuzzer_sys::fuzz_target;
use lvskit::check::fuzzing;

fuzz_target!(|data: &[u8]| {
    fuzzing::config_values(data);
});
