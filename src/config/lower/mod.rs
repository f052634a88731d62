//! Lowering: from the directive tree to the typed [`Config`], with the
//! checks keepalived makes while reading and validating.
//!
//! Each keyword is handled as keepalived's handler for it does (the handlers
//! in `keepalived/core/global_parser.c`, `keepalived/vrrp/vrrp_parser.c`,
//! `keepalived/check/check_parser.c` and the checkers), then the whole is
//! validated as `vrrp_complete_init` (`keepalived/vrrp/vrrp.c`) and
//! `validate_check_config` (`keepalived/check/check_data.c`) do: defaults
//! are applied, inconsistent settings corrected and reported. Every report
//! carries keepalived's level, so [`keepalived_verdict`] can tell what
//! `keepalived -t` would return.
//!
//! [`keepalived_verdict`]: super::diag::keepalived_verdict

mod global;
mod lvs;
pub(crate) mod num;
mod vrrp;

use std::time::Duration;

use super::diag::{Abort, ConfigErr, Diagnostic, Pass, Severity};
use super::keywords::Context;
use super::model::{Config, RawDirective, RawLine, Script};
use super::source::Span;
use super::tree::{Directive, Document, Word};
use num::NumError;

/// What lvskit knows about the machine the configuration is meant for.
/// keepalived checks some things against the running system (that
/// interfaces exist); lvskit is told instead.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HostInfo {
    /// The network interfaces that exist. `None` (the default) means
    /// unknown: every interface the configuration names is taken to exist.
    /// An interface named `lo` is the loopback.
    pub interfaces: Option<Vec<String>>,
}

impl HostInfo {
    /// Whether interface `name` exists (always, when unknown).
    pub fn has_interface(&self, name: &str) -> bool {
        self.interfaces.as_ref().is_none_or(|l| l.iter().any(|i| i == name))
    }
}

pub(crate) struct Lowerer<'h> {
    pub(crate) diags: Vec<Diagnostic>,
    pub(crate) pass: Pass,
    pub(crate) host: &'h HostInfo,
    /// Whether a VRRP keyword named an interface that does not exist
    /// (`non_existent_interface_specified`).
    pub(crate) bad_interface: bool,
}

impl<'h> Lowerer<'h> {
    pub(crate) fn new(host: &'h HostInfo) -> Self {
        Lowerer { diags: Vec::new(), pass: Pass::Parent, host, bad_interface: false }
    }

    /// A problem keepalived reports at `level`.
    pub(crate) fn report(&mut self, level: ConfigErr, span: Span, msg: impl Into<String>) -> &mut Diagnostic {
        self.diags.push(Diagnostic::keepalived(level, self.pass, Some(span), msg));
        self.diags.last_mut().expect("just pushed")
    }

    /// A `CONFIG_GENERAL_ERROR` report (most of keepalived's handler checks).
    pub(crate) fn general(&mut self, span: Span, msg: impl Into<String>) -> &mut Diagnostic {
        self.report(ConfigErr::GeneralError, span, msg)
    }

    /// Something keepalived says nothing about.
    pub(crate) fn lint(&mut self, span: Span, msg: impl Into<String>) -> &mut Diagnostic {
        self.diags.push(Diagnostic::lvskit(Severity::Warning, Some(span), msg));
        self.diags.last_mut().expect("just pushed")
    }

    /// Argument `i` of `d`, which keepalived's handler reads unconditionally:
    /// when it is missing keepalived reports the line and exits with status
    /// 2 (`null_strvec`, `lib/parser.c`).
    pub(crate) fn arg<'d>(&mut self, d: &Directive<'d>, i: usize) -> Option<Word<'d>> {
        if let Some(w) = d.arg(i) {
            return Some(w);
        }
        let span = d.span();
        let at = Span::new(span.file, span.end, span.end);
        let name = d.name();
        self.diags.push(
            Diagnostic::keepalived(
                ConfigErr::MissingParameter,
                self.pass,
                Some(if at.is_empty() { span } else { at }),
                format!("`{name}` is missing a parameter"),
            )
            .aborting(Abort::Exit(2))
            .with_help(format!("write a value after `{name}`")),
        );
        None
    }

    /// A keyword keepalived does not know in this block.
    pub(crate) fn unknown<'d>(&mut self, d: &Directive<'d>, ctx: Context) {
        let name = d.name();
        let has_block = d.block().is_some();
        let help = suggest(name, ctx).or_else(|| {
            has_block.then(|| {
                "keepalived ignores the line and reads the block after it as part of this one; lvskit skips the whole block".to_owned()
            })
        });
        let d = self.report(
            ConfigErr::UnknownKeyword,
            d.name_span(),
            format!("unknown keyword `{name}` in {}", ctx.name()),
        );
        d.help = help;
    }

    /// A keyword keepalived accepts and lvskit keeps without interpreting.
    pub(crate) fn keep<'d>(&mut self, d: &Directive<'d>, ctx: Context) -> RawDirective {
        let name = d.name();
        self.lint(d.name_span(), format!("`{name}` in {} is kept but not interpreted by lvskit", ctx.name())).help =
            Some(
                "keepalived accepts it; lvskit keeps it as a raw directive in the configuration's `extra` list".into(),
            );
        raw(d)
    }

    /// Points out words after the ones keepalived reads (it drops them
    /// silently), for keywords with a fixed number of words.
    #[inline(always)]
    pub(crate) fn extra_words<'d>(&mut self, d: &Directive<'d>, ctx: Context) {
        if let Some(max) = super::keywords::excess_args(ctx, d.name(), d.nargs()) {
            self.report_extra_words(d, max);
        }
    }

    #[cold]
    fn report_extra_words<'d>(&mut self, d: &Directive<'d>, max: usize) {
        let first = d.arg(max).expect("nargs > max");
        let last = d.arg(d.nargs() - 1).expect("nargs > 0");
        let span = first.span().to(last.span());
        let rest: Vec<&str> = d.args().skip(max).map(|w| w.as_str()).collect();
        let kept: Vec<&str> = d.words().take(max + 1).map(|w| w.as_str()).collect();
        self.lint(span, format!("keepalived ignores `{}` after `{}`", rest.join(" "), kept.join(" "))).help = Some(
            "start a comment with `#` or `!` if this is a note; keepalived reads nothing more on this line".into(),
        );
    }

    /// Dispatches a keyword that is not modelled: kept if keepalived knows
    /// it, reported as unknown otherwise.
    pub(crate) fn other<'d>(&mut self, d: &Directive<'d>, ctx: Context, extra: &mut Vec<RawDirective>) {
        if ctx.accepts(d.name()) {
            extra.push(self.keep(d, ctx));
        } else {
            self.unknown(d, ctx);
        }
    }

    fn num_error<'d>(&mut self, d: &Directive<'d>, w: Word<'d>, e: NumError, then: &str) {
        let name = d.name();
        let text = w.as_str();
        self.report(ConfigErr::GeneralError, w.span(), format!("`{name}` value `{text}` {e}; {then}"));
    }

    /// `read_unsigned_strvec(strvec, i + 1, min, max)`: the argument must be
    /// there (exit 2 otherwise). On a bad value, reports "`then`" (what
    /// keepalived does instead) and returns `None`.
    pub(crate) fn unsigned<'d>(&mut self, d: &Directive<'d>, i: usize, min: u32, max: u32, then: &str) -> Option<u32> {
        let w = self.arg(d, i)?;
        match num::read_unsigned(w.as_str(), min as u64, max as u64, u32::MAX as u64) {
            Ok(v) => Some(v as u32),
            Err(e) => {
                self.num_error(d, w, e, then);
                None
            }
        }
    }

    /// `read_int_strvec`.
    pub(crate) fn int<'d>(&mut self, d: &Directive<'d>, i: usize, min: i32, max: i32, then: &str) -> Option<i32> {
        let w = self.arg(d, i)?;
        match num::read_int(w.as_str(), min as i64, max as i64) {
            Ok(v) => Some(v as i32),
            Err(e) => {
                self.num_error(d, w, e, then);
                None
            }
        }
    }

    /// `read_timer` / `read_decimal_unsigned_strvec` with 6 decimal places:
    /// seconds with up to microsecond precision, `min_us..=max_us`.
    pub(crate) fn timer<'d>(
        &mut self,
        d: &Directive<'d>,
        i: usize,
        min_us: u64,
        max_us: u64,
        then: &str,
    ) -> Option<Duration> {
        let w = self.arg(d, i)?;
        match num::read_decimal(w.as_str(), min_us, max_us, 6) {
            Ok((v, too_many)) => {
                if too_many {
                    let name = d.name();
                    self.report(
                        ConfigErr::InvalidNumber,
                        w.span(),
                        format!("`{name}` value `{}` has more than 6 decimal places; rounded", w.as_str()),
                    );
                }
                Some(Duration::from_micros(v))
            }
            Err(e) => {
                self.num_error(d, w, e, then);
                None
            }
        }
    }

    /// A keyword with an optional boolean (`true`/`on`/`yes`,
    /// `false`/`off`/`no`), true when absent. An invalid word is reported and
    /// gives `None`.
    pub(crate) fn opt_bool<'d>(&mut self, d: &Directive<'d>) -> Option<bool> {
        match d.arg(0) {
            None => Some(true),
            Some(w) => match num::true_false(w.as_str()) {
                Some(b) => Some(b),
                None => {
                    let name = d.name();
                    self.general(w.span(), format!("invalid value `{}` for `{name}`", w.as_str())).help =
                        Some("write one of true, on, yes, false, off, no; keepalived ignores the line".into());
                    None
                }
            },
        }
    }

    /// The first argument as a string, if there is one; keepalived's
    /// handlers that check for it report `missing` when it is not there.
    pub(crate) fn opt_string<'d>(&mut self, d: &Directive<'d>, missing: &str) -> Option<String> {
        match d.arg(0) {
            Some(w) => Some(w.as_str().to_owned()),
            None => {
                self.general(d.span(), missing.to_owned());
                None
            }
        }
    }

    /// A script keyword: keepalived re-splits the line with quotes and
    /// escapes and takes its second word as the command line, which it splits
    /// again (`notify_script_init`, `set_script_params_array`,
    /// `lib/notify.c`). Returns the command and the words after it (user and
    /// group).
    pub(crate) fn script<'d>(&mut self, d: &Directive<'d>) -> Option<(Script, Vec<String>)> {
        let words = split_quoted_escaped(d.raw());
        let Some(cmd) = words.get(1) else {
            self.lint(d.span(), format!("`{}` without a command", d.name())).help =
                Some("keepalived logs \"Unable to parse script\" and ignores the line".into());
            return None;
        };
        let args = split_quoted_escaped(cmd);
        if args.is_empty() {
            self.lint(d.span(), format!("`{}` with an empty command", d.name()));
            return None;
        }
        let span = d.arg(0).map_or(d.span(), |w| w.span());
        Some((Script { args, span }, words[2..].to_vec()))
    }

    /// A value block's lines (`alloc_value_block`): each directive of the
    /// block is one line of words. `None` when there is no block.
    pub(crate) fn value_lines<'d>(&mut self, d: &Directive<'d>) -> Option<Vec<Directive<'d>>> {
        if d.nargs() > 0 {
            let w = d.arg(0).expect("nargs > 0");
            let name = d.name();
            self.general(w.span(), format!("block `{name}` has extra parameters starting `{}`", w.as_str())).help =
                Some("keepalived reads the words after the keyword as the block's first line".into());
        }
        match d.block() {
            Some(b) => {
                let lines: Vec<Directive<'d>> = b.iter().collect();
                for l in &lines {
                    if let Some(inner) = l.block() {
                        let at = inner.open_span().unwrap_or(l.span());
                        self.general(at, format!("unexpected block inside the `{}` list", d.name()));
                    }
                }
                Some(lines)
            }
            None => {
                self.report(ConfigErr::MissingBob, d.span(), format!("`{}` expects a `{{` block", d.name())).help =
                    Some("keepalived reads the following lines up to a `}` as the block's contents".into());
                None
            }
        }
    }

    /// Requires a `{` block for a keyword with sub-keywords.
    pub(crate) fn block_of<'d>(&mut self, d: &Directive<'d>) -> Option<super::tree::Block<'d>> {
        match d.block() {
            Some(b) => Some(b),
            None => {
                self.report(ConfigErr::MissingBob, d.span(), format!("missing `{{` after `{}`", d.name())).help = Some(
                    "keepalived reads the following lines up to a `}` as this block's contents; lvskit reads none"
                        .into(),
                );
                None
            }
        }
    }
}

/// Converts a directive, with its block, to a [`RawDirective`].
pub(crate) fn raw(d: &Directive<'_>) -> RawDirective {
    RawDirective {
        name: d.name().to_owned(),
        args: d.args().map(|w| w.as_str().to_owned()).collect(),
        block: d.block().map(|b| b.iter().map(|c| raw(&c)).collect()),
        span: d.span(),
    }
}

/// A value-block line as a [`RawLine`].
pub(crate) fn raw_line(d: &Directive<'_>) -> RawLine {
    RawLine { words: d.words().map(|w| w.as_str().to_owned()).collect(), span: d.span() }
}

/// `alloc_strvec_quoted_escaped` (`lib/parser.c`): words split at blanks;
/// `"..."` and `'...'` quote; `\` escapes (`\n`, `\t`, `\xHH`, `\NNN`
/// octal, `\cX` control, `\E` escape ...).
pub fn split_quoted_escaped(src: &str) -> Vec<String> {
    let b = src.as_bytes();
    let ws = |c: u8| matches!(c, b' ' | b'\t' | b'\x0c' | b'\n' | b'\r' | b'\x0b');
    let mut out = Vec::new();
    let mut i = 0;
    let mut quote: u8 = 0;
    loop {
        while i < b.len() && ws(b[i]) {
            i += 1;
        }
        if i >= b.len() {
            break;
        }
        let mut word: Vec<u8> = Vec::new();
        while i < b.len() {
            let c = b[i];
            if c == b'\\' {
                i += 1;
                let Some(&e) = b.get(i) else { return out };
                if e == b'x' && b.get(i + 1).is_some_and(u8::is_ascii_hexdigit) {
                    i += 1;
                    let mut v: u8 = 0;
                    while let Some(&h) = b.get(i).filter(|h| h.is_ascii_hexdigit()) {
                        v = v.wrapping_shl(4) | (h as char).to_digit(16).unwrap_or(0) as u8;
                        i += 1;
                    }
                    word.push(v);
                } else if e == b'c' && i + 1 < b.len() {
                    word.push(b[i + 1] & 0x1f);
                    i += 2;
                } else if (b'0'..=b'7').contains(&e) {
                    let mut v: u8 = e - b'0';
                    i += 1;
                    for _ in 0..2 {
                        if let Some(&o) = b.get(i).filter(|o| (b'0'..=b'7').contains(o)) {
                            v = v.wrapping_shl(3).wrapping_add(o - b'0');
                            i += 1;
                        }
                    }
                    word.push(v);
                } else {
                    word.push(match e {
                        b'a' => 0x07,
                        b'b' => 0x08,
                        b'E' => 0x1b,
                        b'f' => 0x0c,
                        b'n' => b'\n',
                        b'r' => b'\r',
                        b't' => b'\t',
                        b'v' => 0x0b,
                        other => other,
                    });
                    i += 1;
                }
                continue;
            }
            if quote != 0 {
                if c == quote {
                    quote = 0;
                } else {
                    word.push(c);
                }
                i += 1;
                continue;
            }
            if c == b'"' || c == b'\'' {
                quote = c;
                i += 1;
                continue;
            }
            if ws(c) {
                break;
            }
            word.push(c);
            i += 1;
        }
        if quote != 0 {
            // keepalived reports the unmatched quote and drops the line.
            return Vec::new();
        }
        out.push(String::from_utf8_lossy(&word).into_owned());
    }
    out
}

/// A "did you mean" for an unknown keyword: a deprecated name, a keyword of
/// another block, or a close spelling.
fn suggest(name: &str, ctx: Context) -> Option<String> {
    if name == "nb_get_retry" {
        return Some(
            "`nb_get_retry` is the deprecated name of `retry`, which keepalived only accepts in HTTP_GET and SSL_GET; lvskit reads it as `retry` here too"
                .into(),
        );
    }
    let best = ctx
        .keywords()
        .iter()
        // A length difference beyond the threshold is already too far (and
        // skipping it keeps long unknown words cheap).
        .filter(|k| name.len().abs_diff(k.len()) <= 2.max(k.len() / 4))
        .map(|k| (edit_distance(name, k), *k))
        .filter(|(d, k)| *d <= 2.max(k.len() / 4) && *d < k.len())
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| k);
    if let Some(k) = best {
        return Some(format!("did you mean `{k}`?"));
    }
    for other in [
        Context::Root,
        Context::GlobalDefs,
        Context::VrrpInstance,
        Context::VirtualServer,
        Context::RealServer,
        Context::TcpCheck,
        Context::HttpGet,
    ] {
        if other != ctx && other.accepts(name) {
            return Some(format!("`{name}` belongs in a {} block, not in {}", other.name(), ctx.name()));
        }
    }
    None
}

/// Levenshtein distance.
fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut cur = vec![0; b.len() + 1];
    for i in 1..=a.len() {
        cur[0] = i;
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            cur[j] = (prev[j] + 1).min(cur[j - 1] + 1).min(prev[j - 1] + cost);
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[b.len()]
}

/// Lowers a document. Never fails: every problem is a diagnostic.
pub(crate) fn lower(doc: &Document, host: &HostInfo) -> (Config, Vec<Diagnostic>) {
    let mut st = Lowering::new(host);
    let root = doc.root();
    // The parent pass: global settings.
    for d in root.iter() {
        if d.name() == "global_defs" {
            st.global(d);
        }
    }
    // Everything else, in file order.
    for d in root.iter() {
        if d.name() != "global_defs" {
            st.other(d);
        }
    }
    st.finish()
}

/// Lowering one top-level directive at a time (what [`lower`] does for a
/// whole document, and what streaming does as each top-level block is
/// read): the `global_defs` blocks first (keepalived's parent pass), then
/// everything else in file order, then validation.
pub(crate) struct Lowering<'h> {
    lw: Lowerer<'h>,
    config: Config,
    vrrp: vrrp::VrrpReader,
    lvs: lvs::LvsReader,
    /// Whether a directive other than `global_defs` was lowered.
    started: bool,
    /// Whether room for the virtual servers was asked for (once, at the
    /// first `virtual_server`, whatever the answer).
    vs_reserved: bool,
}

impl<'h> Lowering<'h> {
    pub(crate) fn new(host: &'h HostInfo) -> Self {
        Lowering {
            lw: Lowerer::new(host),
            config: Config::default(),
            vrrp: vrrp::VrrpReader::default(),
            lvs: lvs::LvsReader::default(),
            started: false,
            vs_reserved: false,
        }
    }

    /// A top-level directive read in one pass: `false` (nothing done) when
    /// it is a `global_defs` after other directives, which keepalived reads
    /// before them: the file must then be lowered as a whole ([`lower`]).
    pub(crate) fn top(&mut self, d: Directive<'_>) -> bool {
        if d.name() == "global_defs" {
            if self.started {
                return false;
            }
            self.global(d);
        } else {
            self.started = true;
            self.other(d);
        }
        true
    }

    /// A `global_defs` block (the parent pass).
    pub(crate) fn global(&mut self, d: Directive<'_>) {
        let lw = &mut self.lw;
        lw.pass = Pass::Parent;
        if let Some(b) = lw.block_of(&d) {
            global::global_defs(lw, b, &mut self.config.global);
        }
    }

    /// Any other top-level directive: each process reads its own blocks
    /// (the checker: virtual servers; VRRP: instances ...).
    pub(crate) fn other(&mut self, d: Directive<'_>) {
        let lw = &mut self.lw;
        match d.name() {
            "vrrp_instance" | "vrrp_sync_group" | "vrrp_script" | "vrrp_track_process" | "static_ipaddress"
            | "static_routes" | "static_rules" | "track_file" | "vrrp_track_file" | "garp_group" => {
                lw.pass = Pass::Vrrp;
                self.vrrp.root(lw, &d, &mut self.config);
            }
            "virtual_server" | "virtual_server_group" | "SSL" => {
                lw.pass = Pass::Checker;
                if !self.vs_reserved && d.name() == "virtual_server" {
                    self.vs_reserved = true;
                    // Room for as many as the rest of the file would hold at
                    // this one's size: at most one per 64 bytes left, that
                    // is `size_of::<VirtualServer>() / 64` (about 6) times
                    // the file's size, and only if the memory is there (a
                    // hint, not a need).
                    if let Some(n) = d.like_after() {
                        let _ = self.config.virtual_servers.try_reserve(n + 1);
                    }
                }
                self.lvs.root(lw, &d, &mut self.config);
            }
            _ => {
                lw.pass = Pass::Parent;
                lw.other(&d, Context::Root, &mut self.config.extra);
            }
        }
    }

    /// Validation, in the order keepalived's processes run it: the checker
    /// (`validate_check_config`), then VRRP (`vrrp_complete_init`).
    pub(crate) fn finish(mut self) -> (Config, Vec<Diagnostic>) {
        let lw = &mut self.lw;
        lw.pass = Pass::Checker;
        lvs::validate(lw, &mut self.config, self.lvs);
        lw.pass = Pass::Vrrp;
        vrrp::validate(lw, &mut self.config, self.vrrp);
        (self.config, self.lw.diags)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoted_escaped_split() {
        assert_eq!(split_quoted_escaped(r#"a "b c" 'd e' f\ g \x41\101\n"#), ["a", "b c", "d e", "f g", "AA\n"]);
        assert_eq!(split_quoted_escaped("  "), Vec::<String>::new());
        assert!(split_quoted_escaped("a \"b").is_empty());
    }

    #[test]
    fn suggestions() {
        assert_eq!(
            suggest("virtual_route_id", Context::VrrpInstance).as_deref(),
            Some("did you mean `virtual_router_id`?")
        );
        assert!(suggest("real_server", Context::Root).unwrap().contains("virtual_server block"));
        assert!(suggest("nb_get_retry", Context::TcpCheck).unwrap().contains("deprecated"));
    }
}
