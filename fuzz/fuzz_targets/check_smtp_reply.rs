//! Fuzzes the SMTP dialogue with arbitrary server bytes in arbitrary
//! chunks (up to 16 KiB a read, as the runner reads up to 64 KiB): no
//! panic, and, while the input fits in the bound on bytes held ahead of
//! the dialogue, the outcome does not depend on how the bytes were cut.
#![no_main]

use libfuzzer_sys::fuzz_target;
use lvskit::check::fuzzing;

fuzz_target!(|data: &[u8]| {
    let _ = fuzzing::smtp_reply(data);
});
