//! Fuzzes the HTTP response reader: any bytes, cut into chunks anywhere,
//! must give a verdict without panicking, with at most `MAX_HEAD` bytes
//! buffered at any time, and with the head found exactly where the first
//! `\r\n\r\n` ends (if within `MAX_HEAD`), failed as too long otherwise.
#![no_main]

use libfuzzer_sys::fuzz_target;
use lvskit::check::fuzzing;

fuzz_target!(|data: &[u8]| {
    let _ = fuzzing::http_response(data);
});
