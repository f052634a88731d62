//! `SMTP_CHECK`: the dialogue keepalived holds with a mail server, as a
//! sans-IO state machine (`check/check_smtp.c`).
//!
//! After connecting: read the greeting, which must be 220; send
//! `HELO <helo_name>\r\n`; read the reply, which must be 250; send
//! `QUIT\r\n`; read one more line (any). The check passes when that last
//! line arrives.
//!
//! Deliberate differences: keepalived judges only the first line it reads,
//! so a multi-line greeting (`220-…`) fails there; lvskit follows RFC 5321
//! §4.2 and reads continuation lines up to the final one, and accepts a
//! code followed directly by CRLF. A reply line longer than RFC 5321's
//! 512 bytes is a failure (keepalived discards its 512-byte buffer and
//! reads on until the timeout).
//!
//! Input is parsed as it arrives, whatever the size of one read (keepalived
//! reads into its 512-byte buffer, so a read never fails for its size
//! there either). Memory is bounded: one line (512 bytes), and at most
//! [`MAX_PENDING`] bytes received ahead of the dialogue; one reply (all its
//! continuation lines) may total at most [`MAX_REPLY`] bytes, where
//! keepalived would read on until its timeout.

use super::outcome::Failure;

/// The longest reply line (RFC 5321 §4.5.3.1.5, and keepalived's
/// `SMTP_BUFF_MAX`).
pub const MAX_LINE: usize = 512;
/// The most bytes a server may send ahead of the dialogue (replies to
/// commands not yet sent) before the check fails.
pub const MAX_PENDING: usize = 4096;
/// The most bytes one reply (a greeting or a command's reply with all its
/// continuation lines) may total before the check fails.
pub const MAX_REPLY: usize = 65_536;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Banner,
    Helo,
    Quit,
    Done,
}

/// What the caller should do next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SmtpStep {
    /// Read more.
    Read,
    /// Write these bytes, then read more.
    Write(Vec<u8>),
    /// The check passed; close the connection.
    Done,
}

/// One SMTP check dialogue.
///
/// Feed it what the server sends; when it answers [`SmtpStep::Write`],
/// send those bytes and then call [`feed`](Self::feed) again (with `&[]`
/// if nothing new arrived): bytes that arrived ahead of the command are
/// kept and read as the reply to it.
#[derive(Debug, Clone)]
pub struct SmtpDialogue {
    state: State,
    helo: String,
    line: Vec<u8>,
    /// Bytes of the reply under way, its lines so far included.
    reply_len: usize,
    /// Bytes received ahead of the command they answer.
    pending: Vec<u8>,
}

/// The reply code of a line: three digits followed by a space, a hyphen
/// (continuation), CR, LF or nothing.
pub fn reply_code(line: &[u8]) -> Option<(u16, bool)> {
    let d = line.get(..3)?;
    if !d.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let code = (d[0] - b'0') as u16 * 100 + (d[1] - b'0') as u16 * 10 + (d[2] - b'0') as u16;
    match line.get(3) {
        None | Some(b' ') | Some(b'\r') | Some(b'\n') => Some((code, false)),
        Some(b'-') => Some((code, true)),
        Some(_) => None,
    }
}

impl SmtpDialogue {
    /// A dialogue that will greet with `helo_name`.
    pub fn new(helo_name: &str) -> Self {
        SmtpDialogue {
            state: State::Banner,
            helo: helo_name.to_owned(),
            line: Vec::with_capacity(64),
            reply_len: 0,
            pending: Vec::new(),
        }
    }

    /// The step under way, for failure reports.
    pub fn step(&self) -> &'static str {
        match self.state {
            State::Banner => "banner",
            State::Helo => "HELO",
            State::Quit => "QUIT",
            State::Done => "done",
        }
    }

    /// Consumes received bytes and says what to do next. Processing stops
    /// at the first reply that calls for a command; the rest waits for the
    /// next call (at most [`MAX_PENDING`] bytes of it).
    pub fn feed(&mut self, data: &[u8]) -> Result<SmtpStep, Failure> {
        // Bytes held from an earlier call come first; what is left once a
        // reply calls for a command (of them, then of `data`) is held.
        let mut held = std::mem::take(&mut self.pending);
        let (used, out) = self.consume(&held)?;
        let (used, out) = match out {
            Some(w) => {
                held.drain(..used);
                (0, Some(w))
            }
            None => {
                held.clear();
                self.consume(data)?
            }
        };
        let Some(w) = out else {
            return Ok(if self.state == State::Done { SmtpStep::Done } else { SmtpStep::Read });
        };
        let rest = &data[used..];
        if held.len() + rest.len() > MAX_PENDING {
            return Err(Failure::SmtpOverflow { limit: MAX_PENDING });
        }
        held.extend_from_slice(rest);
        self.pending = held;
        Ok(SmtpStep::Write(w))
    }

    /// Reads `data` line by line up to the first reply that calls for a
    /// command: how many bytes were used, and that command.
    fn consume(&mut self, data: &[u8]) -> Result<(usize, Option<Vec<u8>>), Failure> {
        for (i, &b) in data.iter().enumerate() {
            if self.state == State::Done {
                return Ok((i, None));
            }
            if self.line.len() >= MAX_LINE {
                return Err(Failure::SmtpLineTooLong { limit: MAX_LINE });
            }
            self.reply_len += 1;
            if self.reply_len > MAX_REPLY {
                return Err(Failure::SmtpOverflow { limit: MAX_REPLY });
            }
            self.line.push(b);
            if b != b'\n' {
                continue;
            }
            let line = std::mem::take(&mut self.line);
            let out = self.line_done(&line)?;
            self.line = line;
            self.line.clear();
            if let Some(w) = out {
                return Ok((i + 1, Some(w)));
            }
        }
        Ok((data.len(), None))
    }

    fn line_done(&mut self, line: &[u8]) -> Result<Option<Vec<u8>>, Failure> {
        let parsed = reply_code(line);
        match self.state {
            State::Banner | State::Helo => {
                let (want, step) = if self.state == State::Banner { (220, "banner") } else { (250, "HELO") };
                match parsed {
                    Some((c, true)) if c == want => Ok(None),
                    Some((c, false)) if c == want => {
                        self.reply_len = 0;
                        if self.state == State::Banner {
                            self.state = State::Helo;
                            Ok(Some(format!("HELO {}\r\n", self.helo).into_bytes()))
                        } else {
                            self.state = State::Quit;
                            Ok(Some(b"QUIT\r\n".to_vec()))
                        }
                    }
                    Some((c, _)) => Err(Failure::SmtpReply { step, code: Some(c) }),
                    None => Err(Failure::SmtpReply { step, code: None }),
                }
            }
            State::Quit => {
                self.state = State::Done;
                Ok(None)
            }
            State::Done => Ok(None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_dialogue() {
        let mut d = SmtpDialogue::new("probe.example");
        assert_eq!(d.feed(b"220 mx.example ESMTP").unwrap(), SmtpStep::Read);
        assert_eq!(d.feed(b"\r\n").unwrap(), SmtpStep::Write(b"HELO probe.example\r\n".to_vec()));
        assert_eq!(d.feed(b"250 hello\r\n").unwrap(), SmtpStep::Write(b"QUIT\r\n".to_vec()));
        assert_eq!(d.feed(b"221 bye\r\n").unwrap(), SmtpStep::Done);
    }

    #[test]
    fn replies_sent_ahead_wait_for_their_command() {
        let mut d = SmtpDialogue::new("h");
        assert_eq!(d.feed(b"220 a\r\n250 b\r\n221 c\r\n").unwrap(), SmtpStep::Write(b"HELO h\r\n".to_vec()));
        assert_eq!(d.feed(b"").unwrap(), SmtpStep::Write(b"QUIT\r\n".to_vec()));
        assert_eq!(d.feed(b"").unwrap(), SmtpStep::Done);
        // Too much ahead of the dialogue.
        let mut d = SmtpDialogue::new("h");
        let mut ahead = b"220 a\r\n".to_vec();
        ahead.extend(std::iter::repeat_n(b"250-x\r\n", MAX_PENDING / 7 + 1).flatten());
        assert_eq!(d.feed(&ahead), Err(Failure::SmtpOverflow { limit: MAX_PENDING }));
        // Within the bound, in two calls.
        let mut d = SmtpDialogue::new("h");
        assert_eq!(d.feed(b"220 a\r\n250-x\r\n").unwrap(), SmtpStep::Write(b"HELO h\r\n".to_vec()));
        assert_eq!(d.feed(b"250 y\r\n221 z\r\n").unwrap(), SmtpStep::Write(b"QUIT\r\n".to_vec()));
        assert_eq!(d.feed(b"").unwrap(), SmtpStep::Done);
    }

    #[test]
    fn a_long_multiline_banner_in_one_read_is_parsed() {
        // 8 KiB of continuation lines and the final line in one read.
        let mut banner = Vec::new();
        for i in 0..200 {
            banner.extend_from_slice(format!("220-line {i:04} of a long greeting from mx.example\r\n").as_bytes());
        }
        assert!(banner.len() > MAX_PENDING);
        banner.extend_from_slice(b"220 ready\r\n");
        let mut d = SmtpDialogue::new("h");
        assert_eq!(d.feed(&banner).unwrap(), SmtpStep::Write(b"HELO h\r\n".to_vec()));
        // And byte by byte.
        let mut d = SmtpDialogue::new("h");
        let last = banner.len() - 1;
        for (i, b) in banner.iter().enumerate() {
            let step = d.feed(std::slice::from_ref(b)).unwrap();
            assert_eq!(step == SmtpStep::Read, i < last, "byte {i}");
        }
    }

    #[test]
    fn an_endless_reply_is_bounded() {
        let mut d = SmtpDialogue::new("h");
        let chunk: Vec<u8> = std::iter::repeat_n(b"220-more\r\n", 1000).flatten().copied().collect();
        let mut r = Ok(SmtpStep::Read);
        for _ in 0..10 {
            r = d.feed(&chunk);
            if r.is_err() {
                break;
            }
        }
        assert_eq!(r, Err(Failure::SmtpOverflow { limit: MAX_REPLY }));
    }

    #[test]
    fn multiline_and_bare_codes() {
        let mut d = SmtpDialogue::new("h");
        assert_eq!(d.feed(b"220-first\r\n220-second\r\n").unwrap(), SmtpStep::Read);
        assert_eq!(d.feed(b"220\r\n").unwrap(), SmtpStep::Write(b"HELO h\r\n".to_vec()));
    }

    #[test]
    fn failures() {
        let mut d = SmtpDialogue::new("h");
        assert_eq!(d.feed(b"554 go away\r\n"), Err(Failure::SmtpReply { step: "banner", code: Some(554) }));
        let mut d = SmtpDialogue::new("h");
        assert_eq!(d.feed(b"hello\r\n"), Err(Failure::SmtpReply { step: "banner", code: None }));
        let mut d = SmtpDialogue::new("h");
        d.feed(b"220 ok\r\n").unwrap();
        assert_eq!(d.feed(b"501 no\r\n"), Err(Failure::SmtpReply { step: "HELO", code: Some(501) }));
        let mut d = SmtpDialogue::new("h");
        assert_eq!(d.feed(&[b'2'; 600]), Err(Failure::SmtpLineTooLong { limit: MAX_LINE }));
    }
}
