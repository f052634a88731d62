//! `FILE_CHECK`: how keepalived reads a tracked file and what the number
//! in it means for a real server (`trackers/track_file.c`).
//!
//! The file's first 127 bytes are read as an integer the way C's
//! `strtol(buf, NULL, 0)` does (leading blanks, a sign, `0x` hex or `0`
//! octal prefixes; no digits reads as 0). A missing or empty file reads as
//! 0. A number outside `i32::MIN..=i32::MAX + 1` is ignored (the previous
//! value stays).
//!
//! With weight 0, a non-zero value is a failure (with `reverse`, a zero
//! value is). With a non-zero weight, `value × weight` (negated with
//! `reverse`) is added to the server's weight, and a product at or below
//! `i32::MIN` is a failure.

/// The bytes keepalived reads from the file.
pub const READ_LEN: usize = 127;

/// Reads the number in a tracked file's contents (`process_track_file`).
/// `None` means "out of range, ignore".
pub fn parse_value(contents: &[u8]) -> Option<i64> {
    let b = &contents[..contents.len().min(READ_LEN)];
    // strtol stops at a NUL as C strings do.
    let b = &b[..b.iter().position(|&c| c == 0).unwrap_or(b.len())];
    let mut i = 0;
    while i < b.len() && matches!(b[i], b' ' | b'\t' | b'\n' | b'\r' | b'\x0b' | b'\x0c') {
        i += 1;
    }
    let neg = match b.get(i) {
        Some(b'-') => {
            i += 1;
            true
        }
        Some(b'+') => {
            i += 1;
            false
        }
        _ => false,
    };
    let (radix, start) = if b.get(i) == Some(&b'0')
        && matches!(b.get(i + 1), Some(b'x' | b'X'))
        && b.get(i + 2).is_some_and(u8::is_ascii_hexdigit)
    {
        (16, i + 2)
    } else if b.get(i) == Some(&b'0') {
        (8, i)
    } else {
        (10, i)
    };
    let mut v: i128 = 0;
    let mut any = false;
    for &c in &b[start..] {
        let d = match (c as char).to_digit(radix) {
            Some(d) => d,
            None => break,
        };
        any = true;
        v = v * radix as i128 + d as i128;
        if v > i64::MAX as i128 + 1 {
            // strtol sets ERANGE: keepalived ignores the value.
            return None;
        }
    }
    if !any {
        return Some(0);
    }
    let v = if neg { -v } else { v };
    if v < i32::MIN as i128 || v > i32::MAX as i128 + 1 {
        return None;
    }
    Some(v as i64)
}

/// What a tracked value means for the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FileStatus {
    /// The server fails.
    Fault,
    /// The server is up; this is added to its weight.
    Weight(i32),
}

/// The status for `value` with the check's `weight` and `reverse`
/// (`update_track_file_status`).
pub fn status(value: i64, weight: i32, reverse: bool) -> FileStatus {
    if weight == 0 {
        return if (value != 0) != reverse { FileStatus::Fault } else { FileStatus::Weight(0) };
    }
    let mult: i128 = if reverse { -1 } else { 1 };
    let p = (value as i128 * weight as i128 * mult).clamp(i32::MIN as i128, i32::MAX as i128) as i32;
    if p == i32::MIN { FileStatus::Fault } else { FileStatus::Weight(p) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_read_like_strtol() {
        assert_eq!(parse_value(b""), Some(0));
        assert_eq!(parse_value(b"  42\n"), Some(42));
        assert_eq!(parse_value(b"-7"), Some(-7));
        assert_eq!(parse_value(b"0x1f"), Some(31));
        assert_eq!(parse_value(b"010"), Some(8));
        assert_eq!(parse_value(b"abc"), Some(0));
        assert_eq!(parse_value(b"2147483648"), Some(2147483648));
        assert_eq!(parse_value(b"2147483649"), None);
        assert_eq!(parse_value(b"-2147483649"), None);
        assert_eq!(parse_value(b"99999999999999999999999"), None);
        assert_eq!(parse_value(b"0x"), Some(0));
    }

    #[test]
    fn statuses() {
        assert_eq!(status(0, 0, false), FileStatus::Weight(0));
        assert_eq!(status(3, 0, false), FileStatus::Fault);
        assert_eq!(status(0, 0, true), FileStatus::Fault);
        assert_eq!(status(3, 0, true), FileStatus::Weight(0));
        assert_eq!(status(5, 2, false), FileStatus::Weight(10));
        assert_eq!(status(5, 2, true), FileStatus::Weight(-10));
        assert_eq!(status(i32::MIN as i64, 1, false), FileStatus::Fault);
        assert_eq!(status(-(1 << 30), 4, false), FileStatus::Fault);
    }
}
