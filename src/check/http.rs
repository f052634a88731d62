//! `HTTP_GET` / `SSL_GET`: the request keepalived sends and a sans-IO,
//! incremental reader of the response with keepalived's verdict rules
//! (`check/check_http.c`, `lib/html.c`).
//!
//! The reader keeps at most [`MAX_HEAD`] bytes (keepalived's 4096-byte
//! buffer less its terminating NUL) and streams the body to a callback
//! (which hashes it), so memory per probe is bounded whatever the server
//! sends. The verdict, at end of stream:
//!
//! 1. no complete header (`\r\n\r\n`) → failure "no data received";
//! 2. the status code (three digits between the first two spaces of the
//!    status line) must be in 100..=599 and in the URL's accepted set;
//! 3. with a configured digest, the MD5 of the body (only the first
//!    `Content-Length` bytes when that header is present) must match.
//!
//! A `Content-Length` that disagrees with the bytes received is only
//! reported, as keepalived only logs it.

use std::fmt;
use std::net::SocketAddr;

use super::outcome::Failure;

/// The bytes of the response head (status line, headers and whatever body
/// arrives with them) kept before the end of the header must be seen:
/// keepalived reads into a 4096-byte buffer and keeps one byte for a NUL
/// (`MAX_BUFFER_LENGTH`, `include/check_http.h`).
pub const MAX_HEAD: usize = 4095;

/// keepalived builds the request in a 2048-byte buffer
/// (`GET_BUFFER_LENGTH`); lvskit rejects a request that would not fit
/// rather than truncating it.
pub const MAX_REQUEST: usize = 2047;

/// The HTTP version and connection handling of the request
/// (`http_protocol`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum HttpProtocol {
    /// `1.0`: `GET … HTTP/1.0`, no `Connection` header (the default).
    #[default]
    Http10,
    /// `1.0C`: HTTP/1.0 with `Connection: close`.
    Http10Close,
    /// `1.1`: HTTP/1.1 with `Connection: close`.
    Http11,
}

impl HttpProtocol {
    /// Parses keepalived's spelling: `1.0`, `1.0C`/`1.0c`, `1.1`.
    pub fn from_name(s: &str) -> Option<Self> {
        match s {
            "1.0" => Some(HttpProtocol::Http10),
            "1.0C" | "1.0c" => Some(HttpProtocol::Http10Close),
            "1.1" => Some(HttpProtocol::Http11),
            _ => None,
        }
    }
}

/// A set of accepted HTTP status codes within 100..=599
/// (`status_code 200 300-399 …`).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct StatusSet([u64; 8]);

/// The lowest status code keepalived accepts in a set.
pub const STATUS_MIN: u16 = 100;
/// The highest.
pub const STATUS_MAX: u16 = 599;

impl StatusSet {
    /// No code.
    pub const fn empty() -> Self {
        StatusSet([0; 8])
    }

    /// keepalived's default: 200 to 299.
    pub fn default_codes() -> Self {
        let mut s = Self::empty();
        s.insert_range(200, 299).expect("static range");
        s
    }

    /// Adds `min..=max`; both must be within 100..=599 and ordered.
    pub fn insert_range(&mut self, min: u16, max: u16) -> Result<(), super::CheckError> {
        if !(STATUS_MIN..=STATUS_MAX).contains(&min) || !(STATUS_MIN..=STATUS_MAX).contains(&max) || min > max {
            return Err(super::CheckError::StatusRange { min, max });
        }
        for c in min..=max {
            let b = (c - STATUS_MIN) as usize;
            self.0[b / 64] |= 1 << (b % 64);
        }
        Ok(())
    }

    /// Parses keepalived's `status_code` arguments (`200`, `300-399`).
    pub fn parse<'a>(args: impl IntoIterator<Item = &'a str>) -> Result<Self, super::CheckError> {
        let mut s = Self::empty();
        for a in args {
            let bad = || super::CheckError::StatusSyntax { arg: a.to_owned() };
            let (lo, hi) = match a.split_once('-') {
                Some((lo, hi)) => (lo.parse::<u16>().map_err(|_| bad())?, hi.parse::<u16>().map_err(|_| bad())?),
                None => {
                    let v = a.parse::<u16>().map_err(|_| bad())?;
                    (v, v)
                }
            };
            s.insert_range(lo, hi)?;
        }
        Ok(s)
    }

    /// Whether `code` is in the set.
    pub fn contains(&self, code: u16) -> bool {
        if !(STATUS_MIN..=STATUS_MAX).contains(&code) {
            return false;
        }
        let b = (code - STATUS_MIN) as usize;
        self.0[b / 64] & (1 << (b % 64)) != 0
    }

    /// Whether the set is empty.
    pub fn is_empty(&self) -> bool {
        self.0.iter().all(|w| *w == 0)
    }
}

impl StatusSet {
    /// The set as maximal ranges, in order.
    pub fn ranges(&self) -> impl Iterator<Item = (u16, u16)> + '_ {
        let mut c = STATUS_MIN;
        std::iter::from_fn(move || {
            while c <= STATUS_MAX && !self.contains(c) {
                c += 1;
            }
            if c > STATUS_MAX {
                return None;
            }
            let start = c;
            while c < STATUS_MAX && self.contains(c + 1) {
                c += 1;
            }
            let end = c;
            c += 1;
            Some((start, end))
        })
    }
}

impl fmt::Debug for StatusSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut l = f.debug_list();
        for (a, b) in self.ranges() {
            if a == b {
                l.entry(&format_args!("{a}"));
            } else {
                l.entry(&format_args!("{a}-{b}"));
            }
        }
        l.finish()
    }
}

impl fmt::Display for StatusSet {
    /// keepalived's `status_code` syntax: `200 300-302`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, (a, b)) in self.ranges().enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            if a == b {
                write!(f, "{a}")?;
            } else {
                write!(f, "{a}-{b}")?;
            }
        }
        Ok(())
    }
}

/// Builds keepalived's request (`request_template` in `check_http.c`):
///
/// ```text
/// GET <path> HTTP/1.<0|1>\r\n
/// User-Agent: KeepAliveClient\r\n
/// [Connection: close\r\n]
/// Host: <vhost | addr:port>\r\n\r\n
/// ```
///
/// Without a virtual host the `Host` is the destination address and port,
/// an IPv6 address in brackets (RFC 2732). Fails if the request would not
/// fit keepalived's 2048-byte buffer or if the path or host holds a CR, LF
/// or space that would break the request line.
pub fn build_request(
    path: &str,
    protocol: HttpProtocol,
    vhost: Option<&str>,
    dst: SocketAddr,
) -> Result<Vec<u8>, super::CheckError> {
    if path.contains(['\r', '\n', ' ']) || vhost.is_some_and(|h| h.contains(['\r', '\n'])) {
        return Err(super::CheckError::RequestSyntax { path: path.to_owned() });
    }
    let minor = if protocol == HttpProtocol::Http11 { 1 } else { 0 };
    let conn = if protocol == HttpProtocol::Http10 { "" } else { "Connection: close\r\n" };
    let host = match vhost {
        Some(h) => h.to_owned(),
        None => match dst {
            SocketAddr::V4(a) => format!("{}:{}", a.ip(), a.port()),
            SocketAddr::V6(a) => format!("[{}]:{}", a.ip(), a.port()),
        },
    };
    let req = format!("GET {path} HTTP/1.{minor}\r\nUser-Agent: KeepAliveClient\r\n{conn}Host: {host}\r\n\r\n");
    if req.len() > MAX_REQUEST {
        return Err(super::CheckError::RequestTooLong { len: req.len(), max: MAX_REQUEST });
    }
    Ok(req.into_bytes())
}

/// The status code of a response head, keepalived's way
/// (`extract_status_code`, `lib/html.c`): skip to the first space (a CR
/// before it means no code), then exactly three characters forming a
/// number and followed by a space. Anything else gives 0.
pub fn extract_status_code(head: &[u8]) -> u16 {
    let Some(sp) = head.iter().position(|&b| b == b' ' || b == b'\r') else { return 0 };
    if head[sp] != b' ' {
        return 0;
    }
    let rest = &head[sp + 1..];
    // keepalived needs the fourth byte to exist and be a space.
    if rest.len() < 4 || rest[0] == b' ' || rest[3] != b' ' {
        return 0;
    }
    // strtoul: optional whitespace and sign, then digits; the parse must
    // end exactly at the fourth byte. With three bytes that means three
    // digits, or a sign followed by two digits (which makes no valid code).
    let d = &rest[..3];
    if d.iter().all(u8::is_ascii_digit) {
        (d[0] - b'0') as u16 * 100 + (d[1] - b'0') as u16 * 10 + (d[2] - b'0') as u16
    } else {
        0
    }
}

/// The `Content-Length` of a response head, keepalived's way
/// (`extract_content_length`): the first `Content-Length:` (exact case),
/// then a decimal number (leading blanks allowed) that must end the line.
/// `None` when absent or malformed. lvskit searches only the head, where
/// keepalived searches whatever its first read returned.
pub fn extract_content_length(head: &[u8]) -> Option<u64> {
    const KEY: &[u8] = b"Content-Length:";
    let at = head.windows(KEY.len()).position(|w| w == KEY)?;
    let mut rest = &head[at + KEY.len()..];
    while let [b' ' | b'\t' | b'\x0b' | b'\x0c', tail @ ..] = rest {
        rest = tail;
    }
    let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
    if digits == 0 {
        return None;
    }
    match rest.get(digits) {
        None | Some(b'\r') | Some(b'\n') => {}
        Some(_) => return None,
    }
    let mut v: u64 = 0;
    for &b in &rest[..digits] {
        v = v.checked_mul(10)?.checked_add(u64::from(b - b'0'))?;
    }
    Some(v)
}

/// Position just past the first `\r\n\r\n` (`extract_html`).
fn find_head_end(buf: &[u8]) -> Option<usize> {
    buf.windows(4).position(|w| w == b"\r\n\r\n").map(|p| p + 4)
}

/// An incremental reader of one HTTP response.
///
/// Feed it the bytes as they arrive with [`feed`](Self::feed); body bytes
/// that count towards the digest are passed to the callback. At end of
/// stream call [`finish`](Self::finish) for the verdict.
#[derive(Debug, Clone, Default)]
pub struct ResponseReader {
    head: Vec<u8>,
    head_done: bool,
    status: u16,
    content_length: Option<u64>,
    body_bytes: u64,
}

/// What a finished response looked like, for the caller's logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResponseSummary {
    /// The status code (0 if unparsable).
    pub status: u16,
    /// The `Content-Length`, if present.
    pub content_length: Option<u64>,
    /// Body bytes received.
    pub body_bytes: u64,
}

impl ResponseSummary {
    /// Whether a `Content-Length` was given and differs from what arrived
    /// (keepalived logs this once per difference; it is not a failure).
    pub fn length_mismatch(&self) -> bool {
        self.content_length.is_some_and(|l| l != self.body_bytes)
    }
}

impl ResponseReader {
    /// A reader for a new response.
    pub fn new() -> Self {
        Self::default()
    }

    /// Whether the head (status line and headers) has been read.
    pub fn head_complete(&self) -> bool {
        self.head_done
    }

    /// Bytes held in memory: the head read so far (at most [`MAX_HEAD`]);
    /// body bytes are passed on, never kept.
    pub fn buffered(&self) -> usize {
        self.head.len()
    }

    /// The status code, once the head is complete.
    pub fn status(&self) -> Option<u16> {
        self.head_done.then_some(self.status)
    }

    /// Consumes received bytes. `digest` gets the body bytes that count
    /// towards the MD5 (at most `Content-Length` of them). Fails when the
    /// head grows past [`MAX_HEAD`] bytes without ending: keepalived's
    /// buffer is full at that point and it judges the response empty.
    pub fn feed(&mut self, mut data: &[u8], digest: &mut dyn FnMut(&[u8])) -> Result<(), Failure> {
        if !self.head_done {
            let before = self.head.len();
            let room = MAX_HEAD - before;
            let take = data.len().min(room);
            self.head.extend_from_slice(&data[..take]);
            data = &data[take..];
            // The terminator may straddle the previous chunk.
            let scan_from = before.saturating_sub(3);
            match find_head_end(&self.head[scan_from..]) {
                Some(end) => {
                    let end = scan_from + end;
                    self.head_done = true;
                    self.status = extract_status_code(&self.head[..end]);
                    self.content_length = extract_content_length(&self.head[..end]);
                    let body = std::mem::take(&mut self.head);
                    self.body(&body[end..], digest);
                    self.head = body;
                    self.head.truncate(end);
                }
                None if self.head.len() >= MAX_HEAD => {
                    return Err(Failure::HttpHeadTooLong { limit: MAX_HEAD });
                }
                None => return Ok(()),
            }
        }
        if !data.is_empty() {
            self.body(data, digest);
        }
        Ok(())
    }

    fn body(&mut self, data: &[u8], digest: &mut dyn FnMut(&[u8])) {
        if data.is_empty() {
            return;
        }
        let hashed = match self.content_length {
            None => data,
            Some(cl) => {
                let left = cl.saturating_sub(self.body_bytes);
                &data[..(left.min(data.len() as u64) as usize)]
            }
        };
        if !hashed.is_empty() {
            digest(hashed);
        }
        self.body_bytes += data.len() as u64;
    }

    /// The verdict at end of stream (`http_handle_response`): `digest` is
    /// the MD5 of what [`feed`](Self::feed) passed on, needed only when
    /// the URL has a digest.
    pub fn finish(&self, url: &super::spec::UrlSpec, digest: Option<[u8; 16]>) -> Result<ResponseSummary, Failure> {
        if !self.head_done {
            return Err(Failure::HttpNoData);
        }
        if !url.status.contains(self.status) {
            return Err(Failure::HttpStatus { status: self.status });
        }
        if let Some(want) = url.digest {
            let got = digest.ok_or(Failure::HttpDigest { got: None })?;
            if got != want {
                return Err(Failure::HttpDigest { got: Some(got) });
            }
        }
        Ok(ResponseSummary { status: self.status, content_length: self.content_length, body_bytes: self.body_bytes })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::spec::UrlSpec;

    fn read_all(chunks: &[&[u8]]) -> (ResponseReader, Vec<u8>) {
        let mut r = ResponseReader::new();
        let mut body = Vec::new();
        for c in chunks {
            r.feed(c, &mut |b| body.extend_from_slice(b)).unwrap();
        }
        (r, body)
    }

    #[test]
    fn request_matches_keepalived_template() {
        let dst: SocketAddr = "192.0.2.10:8080".parse().unwrap();
        let r = build_request("/health", HttpProtocol::Http10, None, dst).unwrap();
        assert_eq!(r, b"GET /health HTTP/1.0\r\nUser-Agent: KeepAliveClient\r\nHost: 192.0.2.10:8080\r\n\r\n");
        let r = build_request("/", HttpProtocol::Http11, Some("www.example.org"), dst).unwrap();
        assert_eq!(
            r,
            b"GET / HTTP/1.1\r\nUser-Agent: KeepAliveClient\r\nConnection: close\r\nHost: www.example.org\r\n\r\n"
        );
        let v6: SocketAddr = "[2001:db8::1]:80".parse().unwrap();
        let r = build_request("/", HttpProtocol::Http10Close, None, v6).unwrap();
        assert_eq!(
            r,
            b"GET / HTTP/1.0\r\nUser-Agent: KeepAliveClient\r\nConnection: close\r\nHost: [2001:db8::1]:80\r\n\r\n"
        );
        let long = "/".repeat(3000);
        assert!(matches!(
            build_request(&long, HttpProtocol::Http10, None, dst),
            Err(crate::check::CheckError::RequestTooLong { .. })
        ));
        assert!(build_request("/a b", HttpProtocol::Http10, None, dst).is_err());
    }

    #[test]
    fn status_code_rules_follow_html_c() {
        assert_eq!(extract_status_code(b"HTTP/1.1 200 OK\r\n"), 200);
        assert_eq!(extract_status_code(b"HTTP/1.0 503 Service Unavailable\r\n"), 503);
        // No space after the code: keepalived finds none.
        assert_eq!(extract_status_code(b"HTTP/1.1 200\r\n"), 0);
        assert_eq!(extract_status_code(b"HTTP/1.1 20 OK\r\n"), 0);
        assert_eq!(extract_status_code(b"HTTP/1.1  200 OK\r\n"), 0);
        assert_eq!(extract_status_code(b"HTTP/1.1\r\n200 OK"), 0);
        assert_eq!(extract_status_code(b"garbage"), 0);
        assert_eq!(extract_status_code(b"X 2a0 y"), 0);
        assert_eq!(extract_status_code(b""), 0);
    }

    #[test]
    fn content_length_rules_follow_html_c() {
        assert_eq!(extract_content_length(b"HTTP/1.0 200 OK\r\nContent-Length: 12\r\n\r\n"), Some(12));
        assert_eq!(extract_content_length(b"HTTP/1.0 200 OK\r\nContent-Length:7\r\n\r\n"), Some(7));
        assert_eq!(extract_content_length(b"HTTP/1.0 200 OK\r\ncontent-length: 12\r\n\r\n"), None);
        assert_eq!(extract_content_length(b"HTTP/1.0 200 OK\r\nContent-Length: 12x\r\n\r\n"), None);
        assert_eq!(extract_content_length(b"HTTP/1.0 200 OK\r\nContent-Length: \r\n\r\n"), None);
        assert_eq!(extract_content_length(b"Content-Length: 99999999999999999999999\r\n"), None);
    }

    #[test]
    fn status_sets_parse_ranges() {
        let s = StatusSet::parse(["200", "300-302", "599"]).unwrap();
        assert!(s.contains(200) && s.contains(301) && s.contains(599));
        assert!(!s.contains(201) && !s.contains(303) && !s.contains(99) && !s.contains(600));
        assert!(StatusSet::parse(["99"]).is_err());
        assert!(StatusSet::parse(["300-200"]).is_err());
        assert!(StatusSet::parse(["2x0"]).is_err());
        assert_eq!(format!("{:?}", s), "[200, 300-302, 599]");
        let d = StatusSet::default_codes();
        assert!(d.contains(200) && d.contains(299) && !d.contains(300));
    }

    #[test]
    fn reader_splits_head_and_body_across_chunks() {
        let (r, body) = read_all(&[b"HTTP/1.0 200 OK\r\nContent-Le", b"ngth: 5\r\n\r", b"\nhel", b"lo and more"]);
        assert_eq!(body, b"hello");
        let s = r.finish(&UrlSpec::new("/"), None).unwrap();
        assert_eq!(s, ResponseSummary { status: 200, content_length: Some(5), body_bytes: 14 });
        assert!(s.length_mismatch());
    }

    #[test]
    fn reader_verdicts() {
        let url = UrlSpec::new("/");
        let (r, _) = read_all(&[b"HTTP/1.0 500 Oops\r\n\r\n"]);
        assert_eq!(r.finish(&url, None), Err(Failure::HttpStatus { status: 500 }));
        let (r, _) = read_all(&[b"HTTP/1.0 200 OK\r\nX: y\r\n"]);
        assert_eq!(r.finish(&url, None), Err(Failure::HttpNoData));
        let url = UrlSpec::new("/").digest([1; 16]);
        let (r, _) = read_all(&[b"HTTP/1.0 200 OK\r\n\r\nbody"]);
        assert_eq!(r.finish(&url, Some([2; 16])), Err(Failure::HttpDigest { got: Some([2; 16]) }));
        assert!(r.finish(&url, Some([1; 16])).is_ok());
    }

    #[test]
    fn endless_head_is_refused_at_the_buffer_size() {
        let mut r = ResponseReader::new();
        let mut sink = |_: &[u8]| {};
        r.feed(b"HTTP/1.0 200 OK\r\n", &mut sink).unwrap();
        let line = b"X-Filler: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n";
        let mut err = None;
        for _ in 0..100 {
            if let Err(e) = r.feed(line, &mut sink) {
                err = Some(e);
                break;
            }
        }
        assert_eq!(err, Some(Failure::HttpHeadTooLong { limit: MAX_HEAD }));
    }
}
