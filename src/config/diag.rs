//! Diagnostics: what is wrong with a configuration, where, and how keepalived
//! itself would treat it.
//!
//! Every problem found while loading is collected (loading never stops at the
//! first) as a [`Diagnostic`] with a message, an optional help line, and the
//! place it points at. Its `Display` shows `file:line:col`, the source line
//! and a caret, in the style of rustc:
//!
//! ```text
//! warning: unknown keyword `nb_get_retry` in TCP_CHECK
//!   --> keepalived.conf:34:13
//!    |
//! 34 |             nb_get_retry 3
//!    |             ^^^^^^^^^^^^
//!    = help: `nb_get_retry` is the deprecated name of `retry` ...
//! ```
//!
//! Each diagnostic also records how keepalived 2.2.7 classifies the same
//! problem ([`Keepalived`]: its `config_err_t` level from `lib/parser.h`, and
//! whether it exits or crashes there), or that keepalived says nothing about
//! it. From those, [`keepalived_verdict`] computes what `keepalived -t` would
//! return on the same file, which is how lvskit is tested against the real
//! binary.

use std::fmt;

use super::source::{Location, SourceMap, Span};

/// How serious a problem is for lvskit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Severity {
    /// The configuration cannot be run as written: keepalived would refuse it
    /// (its "cannot run" levels), exit or crash, or lvskit cannot read it.
    Error,
    /// Something keepalived reports but still runs, or that keepalived silently
    /// accepts and lvskit points out.
    Warning,
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
        })
    }
}

/// keepalived's configuration error levels (`config_err_t`, `lib/parser.h`),
/// in keepalived's numeric order.
///
/// `keepalived -t` remembers the numerically *highest* level it reported
/// (`vreport_config_error` in `lib/parser.c`) and maps it to an exit code
/// (`config_test_exit` in `keepalived/core/main.c`): nothing → 0,
/// `FileNotFound`/`BadIf`/`Fatal` → 4, `SecurityError` → 6, anything else →
/// 5. Because the highest number wins, a "would still run" warning reported
/// together with a fatal error turns exit 4 into 5; [`keepalived_verdict`]
/// reproduces that.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ConfigErr {
    /// Printed but not counted (`CONFIG_OK`): e.g. a missing plain `include`.
    Logged,
    /// `CONFIG_FILE_NOT_FOUND`.
    FileNotFound,
    /// `CONFIG_BAD_IF`: an interface that does not exist.
    BadIf,
    /// `CONFIG_FATAL`.
    Fatal,
    /// `CONFIG_MULTIPLE_FILES`: the main file pattern matched several files.
    MultipleFiles,
    /// `CONFIG_UNKNOWN_KEYWORD`.
    UnknownKeyword,
    /// `CONFIG_UNEXPECTED_BOB`: a `{` where none was expected.
    UnexpectedBob,
    /// `CONFIG_MISSING_BOB`: a block without its `{`.
    MissingBob,
    /// `CONFIG_UNEXPECTED_EOB`: an extra `}`.
    UnexpectedEob,
    /// `CONFIG_MISSING_EOB`: `}`s missing at the end.
    MissingEob,
    /// `CONFIG_UNMATCHED_QUOTE`.
    UnmatchedQuote,
    /// `CONFIG_MISSING_PARAMETER`.
    MissingParameter,
    /// `CONFIG_INVALID_NUMBER`.
    InvalidNumber,
    /// `CONFIG_GENERAL_ERROR`.
    GeneralError,
    /// `CONFIG_WARNING`.
    Warning,
    /// `CONFIG_DEPRECATED`.
    Deprecated,
    /// `CONFIG_SECURITY_ERROR`: scripts without `enable_script_security`.
    SecurityError,
}

impl ConfigErr {
    /// keepalived's number for the level (`CONFIG_OK` is 0).
    pub const fn number(self) -> u8 {
        self as u8
    }

    /// Whether keepalived treats the level as "cannot run this configuration".
    pub const fn is_fatal(self) -> bool {
        matches!(self, ConfigErr::FileNotFound | ConfigErr::BadIf | ConfigErr::Fatal)
    }
}

/// Which of keepalived's configuration passes reports a problem. `keepalived
/// -t` reads the file once in the parent (global settings), then once each as
/// the checker, VRRP and BFD processes would (`validate_config`,
/// `keepalived/core/main.c`); an exit or crash in an earlier pass hides
/// everything after it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Pass {
    /// The parent process: `global_defs`, root settings, includes.
    Parent,
    /// The checker (LVS) process: virtual servers and checkers.
    Checker,
    /// The VRRP process.
    Vrrp,
    /// The BFD process.
    Bfd,
}

/// keepalived stops where this problem is met.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Abort {
    /// It exits with this status: 2 for a keyword missing its parameter
    /// (`null_strvec`, `lib/parser.c`), 6 when an `include` it was told to
    /// check failed (`had_config_file_error`, `keepalived/core/main.c`).
    Exit(u8),
    /// It crashes with a segmentation fault (status 139 from a shell).
    Crash,
    /// It never finishes (a definition that expands forever).
    Hang,
}

/// How keepalived 2.2.7 treats the same problem.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Keepalived {
    /// The level it reports.
    pub level: ConfigErr,
    /// Whether it stops there.
    pub abort: Option<Abort>,
    /// The pass that reports it.
    pub pass: Pass,
}

/// One problem in a configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// Error or warning, for lvskit.
    pub severity: Severity,
    /// What is wrong.
    pub message: String,
    /// How to fix it, when there is something useful to say.
    pub help: Option<String>,
    /// Where, as a span (none for whole-configuration problems).
    pub span: Option<Span>,
    /// Where, resolved: file, line, column and the line's text.
    pub location: Option<Location>,
    /// How keepalived 2.2.7 treats it; `None` when keepalived says nothing
    /// (lvskit points out something keepalived silently accepts).
    pub keepalived: Option<Keepalived>,
}

impl Diagnostic {
    /// A diagnostic keepalived reports at `level` in `pass`. Its severity
    /// follows the level: the "cannot run" levels are errors, the rest
    /// warnings.
    pub fn keepalived(level: ConfigErr, pass: Pass, span: Option<Span>, message: impl Into<String>) -> Self {
        Diagnostic {
            severity: if level.is_fatal() { Severity::Error } else { Severity::Warning },
            message: message.into(),
            help: None,
            span,
            location: None,
            keepalived: Some(Keepalived { level, abort: None, pass }),
        }
    }

    /// A diagnostic keepalived does not report.
    pub fn lvskit(severity: Severity, span: Option<Span>, message: impl Into<String>) -> Self {
        Diagnostic { severity, message: message.into(), help: None, span, location: None, keepalived: None }
    }

    /// Adds a help line.
    pub fn with_help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    /// Marks that keepalived stops here (which makes it an error).
    pub fn aborting(mut self, abort: Abort) -> Self {
        if let Some(k) = &mut self.keepalived {
            k.abort = Some(abort);
        }
        self.severity = Severity::Error;
        self
    }

    /// Whether this is an error.
    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }

    pub(crate) fn resolve(&mut self, sources: &SourceMap) {
        if self.location.is_none() {
            if let Some(span) = self.span {
                if span.file.index() < sources.len() {
                    self.location = Some(sources.locate(span));
                }
            }
        }
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{}: {}", self.severity, self.message)?;
        if let Some(loc) = &self.location {
            let num = loc.line.to_string();
            let pad = " ".repeat(num.len());
            writeln!(f, "{pad}--> {loc}")?;
            writeln!(f, "{pad} |")?;
            let (shown, caret_at, caret_w) = render_line(&loc.line_text, loc.col, loc.width);
            writeln!(f, "{num} | {shown}")?;
            writeln!(f, "{pad} | {}{}", " ".repeat(caret_at), "^".repeat(caret_w.max(1)))?;
            if let Some(help) = &self.help {
                writeln!(f, "{pad} = help: {help}")?;
            }
            if let Some(note) = self.keepalived_note() {
                writeln!(f, "{pad} = note: {note}")?;
            }
        } else {
            if let Some(help) = &self.help {
                writeln!(f, "  = help: {help}")?;
            }
            if let Some(note) = self.keepalived_note() {
                writeln!(f, "  = note: {note}")?;
            }
        }
        Ok(())
    }
}

impl Diagnostic {
    fn keepalived_note(&self) -> Option<String> {
        let k = self.keepalived?;
        Some(match k.abort {
            Some(Abort::Exit(code)) => format!("keepalived 2.2.7 stops here and exits with status {code}"),
            Some(Abort::Crash) => "keepalived 2.2.7 crashes (segmentation fault) on this".to_owned(),
            Some(Abort::Hang) => "keepalived 2.2.7 never finishes reading this".to_owned(),
            None if k.level == ConfigErr::Logged => "keepalived 2.2.7 only logs this and carries on".to_owned(),
            None if k.level.is_fatal() => "keepalived 2.2.7 cannot run this configuration".to_owned(),
            None => return None,
        })
    }
}

/// Expands tabs (to 4 columns) for display and returns where the caret
/// starts and how wide it is, in display columns.
fn render_line(line: &str, col: u32, width: u32) -> (String, usize, usize) {
    let mut shown = String::with_capacity(line.len());
    let mut caret_at = 0;
    let mut caret_end = 0;
    let start = col.saturating_sub(1) as usize;
    let end = start + width as usize;
    for (i, c) in line.chars().enumerate() {
        if i == start {
            caret_at = shown.chars().count();
        }
        if c == '\t' {
            shown.push_str("    ");
        } else {
            shown.push(c);
        }
        if i + 1 == end {
            caret_end = shown.chars().count();
        }
    }
    let n = line.chars().count();
    if start >= n {
        caret_at = shown.chars().count();
    }
    if end > n || caret_end < caret_at {
        caret_end = caret_at + 1;
    }
    (shown, caret_at, caret_end - caret_at)
}

/// What `keepalived -t` would do on a configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeepalivedVerdict {
    /// It exits with this status: 0 (clean), 2 (a keyword missing its
    /// parameter), 4 (cannot run), 5 (runs, with errors reported), 6 (script
    /// security, or a checked `include` failed).
    Exit(u8),
    /// It crashes (segmentation fault).
    Crash,
    /// It never finishes.
    Hang,
}

impl fmt::Display for KeepalivedVerdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeepalivedVerdict::Exit(c) => write!(f, "exit {c}"),
            KeepalivedVerdict::Crash => f.write_str("crash"),
            KeepalivedVerdict::Hang => f.write_str("hang"),
        }
    }
}

/// The verdict `keepalived -t` (2.2.7) reaches on the problems it would
/// report: the first abort in pass order, else the exit code of the highest
/// level reported (see [`ConfigErr`]).
pub fn keepalived_verdict(diags: &[Diagnostic]) -> KeepalivedVerdict {
    let mut first_abort: Option<(Pass, usize, Abort)> = None;
    let mut highest: Option<ConfigErr> = None;
    for (i, d) in diags.iter().enumerate() {
        let Some(k) = d.keepalived else { continue };
        if let Some(a) = k.abort {
            // Exit 6 for a failed checked include happens after the whole
            // parent pass; other aborts happen where they are met.
            let order = if a == Abort::Exit(6) { usize::MAX } else { i };
            if first_abort.is_none_or(|(p, o, _)| (k.pass, order) < (p, o)) {
                first_abort = Some((k.pass, order, a));
            }
        }
        if k.level != ConfigErr::Logged {
            highest = Some(highest.map_or(k.level, |h| h.max(k.level)));
        }
    }
    if let Some((_, _, a)) = first_abort {
        return match a {
            Abort::Exit(c) => KeepalivedVerdict::Exit(c),
            Abort::Crash => KeepalivedVerdict::Crash,
            Abort::Hang => KeepalivedVerdict::Hang,
        };
    }
    KeepalivedVerdict::Exit(match highest {
        None => 0,
        Some(l) if l.is_fatal() => 4,
        Some(ConfigErr::SecurityError) => 6,
        Some(_) => 5,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::source::{FileId, SourceMap};

    fn ka(level: ConfigErr) -> Diagnostic {
        Diagnostic::keepalived(level, Pass::Checker, None, "x")
    }

    #[test]
    fn verdict_follows_the_highest_level() {
        assert_eq!(keepalived_verdict(&[]), KeepalivedVerdict::Exit(0));
        assert_eq!(keepalived_verdict(&[ka(ConfigErr::Logged)]), KeepalivedVerdict::Exit(0));
        assert_eq!(keepalived_verdict(&[ka(ConfigErr::Fatal)]), KeepalivedVerdict::Exit(4));
        // keepalived keeps the numerically highest level: a warning hides a fatal error.
        assert_eq!(keepalived_verdict(&[ka(ConfigErr::BadIf), ka(ConfigErr::Warning)]), KeepalivedVerdict::Exit(5));
        assert_eq!(keepalived_verdict(&[ka(ConfigErr::UnknownKeyword)]), KeepalivedVerdict::Exit(5));
        assert_eq!(keepalived_verdict(&[ka(ConfigErr::SecurityError)]), KeepalivedVerdict::Exit(6));
        let lvskit_only = Diagnostic::lvskit(Severity::Warning, None, "y");
        assert_eq!(keepalived_verdict(&[lvskit_only]), KeepalivedVerdict::Exit(0));
    }

    #[test]
    fn first_abort_in_pass_order_wins() {
        let vrrp_exit =
            Diagnostic::keepalived(ConfigErr::MissingParameter, Pass::Vrrp, None, "a").aborting(Abort::Exit(2));
        let crash = Diagnostic::keepalived(ConfigErr::GeneralError, Pass::Checker, None, "b").aborting(Abort::Crash);
        assert_eq!(keepalived_verdict(&[vrrp_exit.clone(), crash]), KeepalivedVerdict::Crash);
        let inc = Diagnostic::keepalived(ConfigErr::FileNotFound, Pass::Parent, None, "c").aborting(Abort::Exit(6));
        let parent_exit =
            Diagnostic::keepalived(ConfigErr::MissingParameter, Pass::Parent, None, "d").aborting(Abort::Exit(2));
        assert_eq!(keepalived_verdict(&[inc, parent_exit]), KeepalivedVerdict::Exit(2));
    }

    #[test]
    fn display_has_location_line_and_caret() {
        let mut m = SourceMap::new();
        let id = m.add("k.conf", b"a {\n\tnb_get_retry 3\n}\n".to_vec());
        let _ = FileId::default();
        let mut d = Diagnostic::keepalived(
            ConfigErr::UnknownKeyword,
            Pass::Checker,
            Some(Span::new(id, 5, 17)),
            "unknown keyword `nb_get_retry`",
        )
        .with_help("use `retry`");
        d.resolve(&m);
        let s = d.to_string();
        assert_eq!(
            s,
            "warning: unknown keyword `nb_get_retry`\n --> k.conf:2:2\n  |\n2 |     nb_get_retry 3\n  |     ^^^^^^^^^^^^\n  = help: use `retry`\n"
        );
    }
}
