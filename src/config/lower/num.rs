//! keepalived's number readers (`read_int_func`, `read_unsigned_func`,
//! `read_decimal_unsigned_long_func` and `check_true_false` in
//! `lib/parser.c`), as `keepalived -t` applies them: every reading error is
//! reported and the value refused.

use std::fmt;

/// Why a number was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum NumError {
    /// Starts with `-` where only unsigned values are read.
    Negative,
    /// Not a number (trailing characters, empty after a sign ...).
    Invalid,
    /// Outside the type's range.
    Overflow,
    /// Outside the keyword's range.
    Range { min: String, max: String },
}

impl fmt::Display for NumError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NumError::Negative => f.write_str("is negative"),
            NumError::Invalid => f.write_str("is not a number"),
            NumError::Overflow => f.write_str("is too large"),
            NumError::Range { min, max } => write!(f, "is outside {min}..={max}"),
        }
    }
}

/// `strtoul`/`strtoull` base 10 on `s` (which may start with blanks and a
/// sign): the value and whether the whole string was consumed. No digit at
/// all gives 0 with nothing consumed, as in C.
fn strtoull(s: &str) -> (Option<u128>, bool, bool) {
    let t = s.trim_start_matches([' ', '\t', '\n', '\r', '\x0b', '\x0c']);
    let (neg, t) = match t.as_bytes().first() {
        Some(b'-') => (true, &t[1..]),
        Some(b'+') => (false, &t[1..]),
        _ => (false, t),
    };
    let digits = t.bytes().take_while(u8::is_ascii_digit).count();
    if digits == 0 {
        // Nothing converted: endptr is the start of the string.
        return (Some(0), s.is_empty(), false);
    }
    let v = t[..digits].parse::<u128>().ok();
    (v, digits == t.len(), neg)
}

/// `read_unsigned` (and `read_unsigned64`): leading blanks skipped, a `-`
/// refused, trailing characters refused, then the range.
pub(crate) fn read_unsigned(s: &str, min: u64, max: u64, limit: u64) -> Result<u64, NumError> {
    // Fast path for the common case, a plain decimal that cannot overflow:
    // the same value as the general reading.
    // (18 digits cannot overflow a u64.)
    if !s.is_empty() && s.len() <= 18 {
        let mut v = 0u64;
        let all_digits = s.bytes().all(|b| {
            let d = b.wrapping_sub(b'0');
            v = v * 10 + u64::from(d);
            d <= 9
        });
        if all_digits {
            return unsigned_in_range(Some(u128::from(v)), min, max, limit);
        }
    }
    unsigned_in_range(unsigned_value(s)?, min, max, limit)
}

/// [`read_unsigned`] without its fast path.
#[cfg(test)]
fn read_unsigned_general(s: &str, min: u64, max: u64, limit: u64) -> Result<u64, NumError> {
    unsigned_in_range(unsigned_value(s)?, min, max, limit)
}

/// The value `read_unsigned` reads (`None` when too large for `strtoull`),
/// or why there is none.
fn unsigned_value(s: &str) -> Result<Option<u128>, NumError> {
    let off = s.len() - s.trim_start_matches([' ', '\t', '\x0c', '\n', '\r', '\x0b']).len();
    let t = &s[off..];
    if t.starts_with('-') {
        return Err(NumError::Negative);
    }
    let (v, whole, _) = strtoull(t);
    // An empty string converts to 0 with nothing left over: keepalived
    // accepts it as 0.
    if !whole && !t.is_empty() {
        return Err(NumError::Invalid);
    }
    Ok(v)
}

/// A value read by `read_unsigned` against the type's `limit`, then the
/// keyword's range.
#[inline]
fn unsigned_in_range(v: Option<u128>, min: u64, max: u64, limit: u64) -> Result<u64, NumError> {
    let v = match v {
        Some(v) if v <= limit as u128 => v as u64,
        _ => return Err(NumError::Overflow),
    };
    if v < min || v > max {
        return Err(range_error(min, max));
    }
    Ok(v)
}

#[cold]
fn range_error(min: impl ToString, max: impl ToString) -> NumError {
    NumError::Range { min: min.to_string(), max: max.to_string() }
}

/// `read_int`: `strtol` base 10, then the `int` range, then the keyword's.
pub(crate) fn read_int(s: &str, min: i64, max: i64) -> Result<i64, NumError> {
    let t = s.trim_start_matches([' ', '\t', '\x0c', '\n', '\r', '\x0b']);
    let (v, whole, neg) = strtoull(t);
    if !whole && !t.is_empty() {
        return Err(NumError::Invalid);
    }
    let v = match v {
        Some(v) if v <= i32::MAX as u128 + 1 => {
            let v = v as i64;
            if neg { -v } else { v }
        }
        _ => return Err(NumError::Overflow),
    };
    if v < i32::MIN as i64 || v > i32::MAX as i64 {
        return Err(NumError::Overflow);
    }
    if v < min || v > max {
        return Err(range_error(min, max));
    }
    Ok(v)
}

/// `read_decimal_unsigned_long_func` with `shift` decimal places (6 for
/// timers, microseconds): the value times 10^shift. More decimal places than
/// `shift` are reported but rounded and accepted (the second element says
/// so).
pub(crate) fn read_decimal(s: &str, min: u64, max: u64, shift: u32) -> Result<(u64, bool), NumError> {
    // Fast path for the common case, a short whole number: the same result
    // as the general path below without building the shifted string.
    if !s.is_empty() && s.len() <= 12 && shift <= 6 && s.bytes().all(|b| b.is_ascii_digit()) {
        let v = s.bytes().fold(0u64, |v, b| v * 10 + u64::from(b - b'0')) * 10u64.pow(shift);
        if v >= min && v <= max {
            return Ok((v, false));
        }
    }
    if s.starts_with('-') {
        return Err(NumError::Negative);
    }
    let (int_part, frac) = match s.find('.') {
        Some(i) => (&s[..i], &s[i + 1..]),
        None => (s, ""),
    };
    let mut too_many = false;
    let mut round_up = false;
    let mut frac_used = frac;
    if frac.len() > shift as usize {
        too_many = true;
        round_up = frac.as_bytes()[shift as usize] >= b'5';
        frac_used = &frac[..shift as usize];
    }
    let mut digits = String::with_capacity(int_part.len() + shift as usize);
    digits.push_str(int_part);
    digits.push_str(frac_used);
    for _ in frac_used.len()..shift as usize {
        digits.push('0');
    }
    let (v, whole, _) = strtoull(&digits);
    if !whole {
        return Err(NumError::Invalid);
    }
    let Some(mut v) = v.filter(|v| *v <= u64::MAX as u128).map(|v| v as u64) else { return Err(NumError::Overflow) };
    if round_up {
        v += 1;
    }
    if v < min || v > max {
        let scale = 10u64.pow(shift);
        let fmt = |x: u64| {
            if shift == 0 { x.to_string() } else { format!("{}.{:0w$}", x / scale, x % scale, w = shift as usize) }
        };
        return Err(NumError::Range { min: fmt(min), max: fmt(max) });
    }
    Ok((v, too_many))
}

/// What `read_decimal_unsigned_long_func` keeps of a string that is not a
/// number when called with `ignore_error` (as `garp_group` does): the
/// leading digits of the value shifted by `shift` decimal places (`strtoull`
/// of the rewritten string, 0 when it starts with no digit).
pub(crate) fn decimal_prefix(s: &str, shift: u32) -> u64 {
    let (int_part, frac) = match s.find('.') {
        Some(i) => (&s[..i], &s[i + 1..]),
        None => (s, ""),
    };
    let frac_used = &frac[..frac.len().min(shift as usize)];
    let mut v: u64 = 0;
    let mut len = 0;
    for b in int_part.bytes().chain(frac_used.bytes()) {
        if !b.is_ascii_digit() {
            break;
        }
        v = v.saturating_mul(10).saturating_add(u64::from(b - b'0'));
        len += 1;
    }
    if len < int_part.len() + frac_used.len() {
        // Stopped at a non-digit: the zeros added after it are not read.
        return v;
    }
    v.saturating_mul(10u64.saturating_pow(shift - frac_used.len() as u32))
}

/// `check_true_false`: `true`/`on`/`yes`, `false`/`off`/`no`.
pub(crate) fn true_false(s: &str) -> Option<bool> {
    match s {
        "true" | "on" | "yes" => Some(true),
        "false" | "off" | "no" => Some(false),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unsigned_fast_path_reads_as_the_general_path() {
        for s in
            ["0", "1", "007", "65535", "65536", "4294967295", "4294967296", "999999999999999999", "000000000000000001"]
                .into_iter()
                .chain([
                    "",
                    " 1",
                    "1 ",
                    "+1",
                    "-1",
                    "1a",
                    "a1",
                    "99999999999999999x",
                    "9999999999999999999",
                    "1.5",
                    "0x1f",
                ])
        {
            for (min, max, limit) in
                [(0, 65535, u32::MAX as u64), (1, u32::MAX as u64, u32::MAX as u64), (0, u64::MAX, u64::MAX)]
            {
                assert_eq!(read_unsigned(s, min, max, limit), read_unsigned_general(s, min, max, limit), "{s}");
            }
        }
    }

    #[test]
    fn unsigned_like_strtoul() {
        assert_eq!(read_unsigned("42", 0, 100, u32::MAX as u64), Ok(42));
        assert_eq!(read_unsigned(" +7", 0, 100, u32::MAX as u64), Ok(7));
        assert_eq!(read_unsigned("", 0, 100, u32::MAX as u64), Ok(0));
        assert_eq!(read_unsigned("-1", 0, 100, u32::MAX as u64), Err(NumError::Negative));
        assert_eq!(read_unsigned("0x10", 0, 100, u32::MAX as u64), Err(NumError::Invalid));
        assert_eq!(read_unsigned("5 ", 0, 100, u32::MAX as u64), Err(NumError::Invalid));
        assert_eq!(read_unsigned("4294967296", 0, u32::MAX as u64, u32::MAX as u64), Err(NumError::Overflow));
        assert!(matches!(read_unsigned("256", 1, 255, u32::MAX as u64), Err(NumError::Range { .. })));
    }

    #[test]
    fn int_like_strtol() {
        assert_eq!(read_int("-253", -253, 253), Ok(-253));
        assert!(matches!(read_int("254", -253, 253), Err(NumError::Range { .. })));
        assert_eq!(read_int("1a", -5, 5), Err(NumError::Invalid));
    }

    #[test]
    fn decimal_fast_path_agrees_with_the_general_one() {
        for s in ["0", "3", "007", "60", "4294", "999999999999", "1234567890123", "18446744073709"] {
            for (min, max) in [(0, u64::MAX), (1, u32::MAX as u64), (0, i32::MAX as u64), (2_000_000, 5_000_000)] {
                // A `.0` suffix takes the general path to the same value.
                assert_eq!(
                    read_decimal(s, min, max, 6),
                    read_decimal(&format!("{s}.0"), min, max, 6),
                    "{s} {min} {max}"
                );
            }
        }
    }

    #[test]
    fn decimals_like_keepalived() {
        assert_eq!(read_decimal("1", 0, u64::MAX, 6), Ok((1_000_000, false)));
        assert_eq!(read_decimal("0.5", 0, u64::MAX, 6), Ok((500_000, false)));
        assert_eq!(read_decimal(".25", 0, u64::MAX, 6), Ok((250_000, false)));
        assert_eq!(read_decimal("1.0000005", 0, u64::MAX, 6), Ok((1_000_001, true)));
        assert_eq!(read_decimal("1.5.3", 0, u64::MAX, 6), Err(NumError::Invalid));
        assert_eq!(read_decimal("-1", 0, u64::MAX, 6), Err(NumError::Negative));
        let e = read_decimal("0.001", 10_000, 255_000_000, 6).unwrap_err();
        assert_eq!(e.to_string(), "is outside 0.010000..=255.000000");
    }
}
