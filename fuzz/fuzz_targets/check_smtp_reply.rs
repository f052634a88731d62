//! Fuzzes the SMTP dialogue with arbitrary server bytes in arbitrary
//! chunks (up to 16 KiB a read, as the runner reads up to 64 KiB): no
//! panic, and, while the input fits in the bound on bytes held ahead of
//! the dialogue, the outcome does not depend on how the bytes were cut.
#![no_main]

use libfuzzer_sys::fuzz_target;
use lvskit::check::Failure;
use lvskit::check::smtp::{MAX_PENDING, SmtpDialogue, SmtpStep};

/// Feeds `data` in chunks of `chunk` bytes; the outcome: `Ok(true)` done,
/// `Ok(false)` waiting for more, or the failure.
fn run(data: &[u8], chunk: usize) -> Result<bool, Failure> {
    let mut d = SmtpDialogue::new("fuzz.example");
    for c in data.chunks(chunk) {
        let mut input = c;
        loop {
            match d.feed(input)? {
                SmtpStep::Done => return Ok(true),
                SmtpStep::Read => break,
                SmtpStep::Write(w) => {
                    assert!(w.ends_with(b"\r\n"));
                    input = &[];
                }
            }
        }
    }
    Ok(false)
}

fuzz_target!(|data: &[u8]| {
    let Some((&cut, rest)) = data.split_first() else { return };
    let chunk = if cut & 0x80 != 0 { ((cut as usize & 0x7f) + 1) * 128 } else { (cut as usize % 32) + 1 };
    let chunked = run(rest, chunk);
    if rest.len() <= MAX_PENDING {
        assert_eq!(chunked, run(rest, rest.len().max(1)), "chunk {chunk}");
        assert_eq!(chunked, run(rest, 1), "chunk {chunk} vs bytewise");
    }
});
