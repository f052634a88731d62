//! Fuzzes the SMTP dialogue with arbitrary server bytes in arbitrary chunks.
#![no_main]

use libfuzzer_sys::fuzz_target;
use lvskit::check::smtp::{SmtpDialogue, SmtpStep};

fuzz_target!(|data: &[u8]| {
    let Some((&cut, rest)) = data.split_first() else { return };
    let mut d = SmtpDialogue::new("fuzz.example");
    'outer: for c in rest.chunks((cut as usize % 32) + 1) {
        let mut input = c;
        loop {
            match d.feed(input) {
                Ok(SmtpStep::Done) | Err(_) => break 'outer,
                Ok(SmtpStep::Read) => break,
                Ok(SmtpStep::Write(_)) => input = &[],
            }
        }
    }
});
