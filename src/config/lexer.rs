//! The line reader: keepalived's `read_line` (`lib/parser.c`), rebuilt with
//! spans.
//!
//! keepalived reads its configuration line by line and rewrites each line
//! before splitting it into words. This module does the same, in the same
//! order, and keeps track of where every byte of a rewritten line came from:
//!
//! 1. comments are cut at the first `!` or `#` outside double quotes, even
//!    inside a word (`auth_pass abc!def` sets `abc`); `\!` and `\#` outside
//!    quotes stand for the characters themselves; a trailing `\` continues a
//!    multi-line definition; leading and trailing blanks go;
//! 2. a line starting `@ID ` is kept only when ID is the configuration id
//!    (`@^ID ` only when it is not);
//! 3. `$NAME=value` defines a value (a trailing `\` makes it multi-line);
//! 4. `~SEQ(var, start, step, end) text` and `~LST(var, v1, v2 ...) text`
//!    repeat `text` with `$var` set to each value;
//! 5. `$NAME` and `${NAME}` are replaced (also `$_PWD`, `$_INSTANCE`,
//!    `${_RANDOM min max}`, `$_HASH`, `$_BANG`), then steps 1–5 run again;
//! 6. `include PATTERN` (and `includer`, `includem`, `includew`, `includeb`,
//!    `includea`) reads the matching files in its place, relative to the
//!    including file;
//! 7. the line is cut before the first `{` or `}` outside quotes, and after
//!    it, so that every brace ends up on a line of its own.
//!
//! The output is a stream of logical lines, each with a map from its bytes back
//! to source spans: text that comes straight from a file maps to its exact
//! bytes, text produced by a substitution maps to the `$NAME` that produced
//! it.

use std::collections::HashMap;

use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};

use super::diag::{Abort, ConfigErr, Diagnostic, Pass, Severity};
use super::loader::{self, FileKind, Loader};
use super::source::{FileId, SourceMap, Span};

/// keepalived's line buffer size (`MAXBUF`, `lib/parser.h`): longer lines are
/// read in pieces by `fgets`, and substitutions that would make a line longer
/// are refused.
pub const MAXBUF: usize = 1024;

/// How many files one configuration may include in all (a guard against
/// include patterns that multiply).
const MAX_FILES: usize = 4096;

/// How many lines `~SEQ`, `~LST` and multi-line definitions may produce in
/// all (ranges like `~SEQ(i, 1, 1000000000)` would otherwise exhaust memory).
pub const MAX_GENERATED: usize = 1_000_000;

/// How many substitutions one line may take before lvskit decides the
/// definitions refer to each other forever (keepalived loops until it is
/// killed).
const MAX_SUBSTITUTIONS: usize = 4096;

/// How many times the rest of one line may be split at a brace before
/// lvskit decides substitutions keep it going forever (a line of
/// `MAXBUF` bytes has at most that many braces without them).
const MAX_RESIDUES: usize = 4096;

// `include_t` flags (lib/parser.c).
const INC_R: u8 = 0x01;
const INC_M: u8 = 0x02;
const INC_W: u8 = 0x04;
const INC_B: u8 = 0x08;

/// Where a run of a rewritten line's bytes came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Piece {
    /// Offset in the line buffer where the run starts.
    at: u32,
    /// Source offset it maps to.
    orig: u32,
    /// Source length it maps to (for a substitution: the `$NAME`).
    olen: u32,
    /// Whether the run is a verbatim copy of the source (byte for byte).
    verbatim: bool,
}

/// One logical line after rewriting, with its source map.
#[derive(Debug, Clone, Default)]
pub(crate) struct LineBuf {
    pub(crate) text: String,
    pieces: Vec<Piece>,
    pub(crate) file: FileId,
    /// Span of the whole physical line it came from (for messages about the
    /// line as a whole).
    pub(crate) line_span: Span,
}

impl LineBuf {
    fn set_physical(&mut self, file: FileId, text: &str, start: u32) {
        self.text.clear();
        self.text.push_str(text);
        self.pieces.clear();
        self.pieces.push(Piece { at: 0, orig: start, olen: text.len() as u32, verbatim: true });
        self.file = file;
        self.line_span = Span::new(file, start, start + text.len() as u32);
    }

    /// A line whose every byte maps to `span` (a substitution's output).
    fn set_generated(&mut self, text: &str, span: Span) {
        self.text.clear();
        self.text.push_str(text);
        self.pieces.clear();
        self.pieces.push(Piece { at: 0, orig: span.start, olen: span.len(), verbatim: false });
        self.file = span.file;
        self.line_span = span;
    }

    fn copy_from(&mut self, other: &LineBuf) {
        self.text.clear();
        self.text.push_str(&other.text);
        self.pieces.clear();
        self.pieces.extend_from_slice(&other.pieces);
        self.file = other.file;
        self.line_span = other.line_span;
    }

    fn piece_index(&self, at: usize) -> usize {
        match self.pieces.binary_search_by(|p| p.at.cmp(&(at as u32))) {
            Ok(i) => i,
            Err(0) => 0,
            Err(i) => i - 1,
        }
    }

    fn orig_at(&self, at: usize) -> (u32, bool) {
        if self.pieces.is_empty() {
            return (self.line_span.start, false);
        }
        let p = self.pieces[self.piece_index(at)];
        if p.verbatim { (p.orig + (at as u32 - p.at).min(p.olen), true) } else { (p.orig, false) }
    }

    /// The source span of buffer bytes `start..end`, and whether those bytes
    /// are a verbatim copy of it.
    pub(crate) fn span_of(&self, start: usize, end: usize) -> (Span, bool) {
        if self.pieces.is_empty() {
            return (self.line_span, false);
        }
        let i = self.piece_index(start);
        let j = self.piece_index(end.saturating_sub(1).max(start));
        let p = self.pieces[i];
        if i == j && p.verbatim {
            let s = p.orig + (start as u32 - p.at);
            return (Span::new(self.file, s, s + (end - start) as u32), true);
        }
        let (s, _) = self.orig_at(start);
        let q = self.pieces[j];
        let e = if q.verbatim { q.orig + (end.saturating_sub(1) as u32 - q.at) + 1 } else { q.orig + q.olen };
        (Span::new(self.file, s, e.max(s)), false)
    }

    /// Replaces buffer bytes `start..end` by `with`, mapped to `origin` (or,
    /// when `origin` is `None`, to wherever `start` maps).
    fn replace(&mut self, start: usize, end: usize, with: &str, origin: Option<Span>) {
        let (start32, end32) = (start as u32, end as u32);
        let delta = with.len() as i64 - (end - start) as i64;
        let origin = origin.unwrap_or_else(|| {
            let (o, _) = self.orig_at(start);
            Span::new(self.file, o, o)
        });
        let len = self.text.len() as u32;
        let mut out: Vec<Piece> = Vec::with_capacity(self.pieces.len() + 2);
        for (k, p) in self.pieces.iter().enumerate() {
            let p_end = self.pieces.get(k + 1).map_or(len, |n| n.at);
            if p.at < start32 {
                let mut q = *p;
                if q.verbatim && p_end > start32 {
                    q.olen = start32 - p.at;
                }
                out.push(q);
            }
        }
        if !with.is_empty() {
            out.push(Piece { at: start32, orig: origin.start, olen: origin.len(), verbatim: false });
        }
        for (k, p) in self.pieces.iter().enumerate() {
            let p_end = self.pieces.get(k + 1).map_or(len, |n| n.at);
            if p_end <= end32 {
                continue;
            }
            let mut q = *p;
            let new_start = q.at.max(end32);
            if q.verbatim {
                let cut = new_start - q.at;
                q.orig += cut;
                q.olen = q.olen.saturating_sub(cut);
            }
            q.at = (new_start as i64 + delta) as u32;
            out.push(q);
        }
        self.text.replace_range(start..end, with);
        self.pieces = out;
    }

    /// Removes the first `n` bytes (what `replace(0, n, "", None)` does,
    /// without allocating).
    fn drop_front(&mut self, n: usize) {
        if n == 0 {
            return;
        }
        let n32 = n as u32;
        let len = self.text.len() as u32;
        // Pieces that end by `n` go; the one straddling it is cut.
        let mut k = 0;
        while k + 1 < self.pieces.len() && self.pieces[k + 1].at <= n32 {
            k += 1;
        }
        let straddles = self.pieces.get(k).is_some_and(|p| {
            let p_end = self.pieces.get(k + 1).map_or(len, |q| q.at);
            p.at <= n32 && p_end > n32
        });
        let first_kept = if straddles { k } else { k + 1 };
        self.pieces.drain(..first_kept.min(self.pieces.len()));
        for (i, q) in self.pieces.iter_mut().enumerate() {
            if i == 0 && straddles && q.at < n32 {
                if q.verbatim {
                    let cut = n32 - q.at;
                    q.orig += cut;
                    q.olen = q.olen.saturating_sub(cut);
                }
                q.at = 0;
            } else {
                q.at -= n32;
            }
        }
        self.text.drain(..n);
    }

    /// Keeps the first `n` bytes.
    fn truncate(&mut self, n: usize) {
        if n < self.text.len() {
            self.text.truncate(n);
            self.pieces.retain(|p| (p.at as usize) < n);
        }
    }

    /// A copy of bytes `start..` as a new line.
    fn tail(&self, start: usize) -> LineBuf {
        let mut t = LineBuf::default();
        self.tail_into(start, &mut t);
        t
    }

    /// Makes `out` a copy of bytes `start..` of this line (reusing its
    /// allocations).
    fn tail_into(&self, start: usize, out: &mut LineBuf) {
        out.copy_from(self);
        out.drop_front(start);
    }
}

fn is_blank(b: u8) -> bool {
    b == b' ' || b == b'\t'
}

/// A comment character that cut an unquoted word: the span of what the cut
/// dropped of the word (from the `!`/`#` to the next blank), the whole word
/// and what keepalived keeps of it.
struct WordCut {
    span: Span,
    ch: char,
    word: String,
    kept: String,
}

/// keepalived's `decomment`: strips leading blanks, removes the `\` of `\!`
/// and `\#` outside quotes, cuts at the first `!`/`#` outside quotes, strips
/// trailing blanks and keeps a trailing `\` (continuation). Returns whether a
/// quote was left open, and the word the comment cut, if it started inside
/// one (right after a character other than a blank, a quote or a brace).
fn decomment(line: &mut LineBuf) -> (bool, Option<WordCut>) {
    let lead = line.text.bytes().take_while(|&b| is_blank(b)).count();
    line.drop_front(lead);
    let mut quote = false;
    let mut cont = false;
    let mut skip: Option<usize> = None;
    let mut i = 0;
    loop {
        let b = line.text.as_bytes();
        let Some(off) = b[i..].iter().position(|&c| matches!(c, b'!' | b'#' | b'"' | b'\\')) else { break };
        let p = i + off;
        match b[p] {
            b'"' => {
                if skip.is_none() {
                    quote = !quote;
                }
                i = p + 1;
            }
            b'\\' => {
                if p + 1 < b.len() {
                    if !quote && (b[p + 1] == b'#' || b[p + 1] == b'!') {
                        line.replace(p, p + 1, "", None);
                        i = p + 1;
                    } else {
                        i = p + 2;
                    }
                    continue;
                }
                line.truncate(p);
                cont = true;
                break;
            }
            _ => {
                if !quote && skip.is_none() {
                    skip = Some(p);
                }
                i = p + 1;
            }
        }
    }
    let unterminated = quote;
    let mut word_cut = None;
    if let Some(s) = skip {
        let b = line.text.as_bytes();
        if s > 0 && !matches!(b[s - 1], b' ' | b'\t' | b'"' | b'{' | b'}') {
            let start = b[..s].iter().rposition(|&c| is_blank(c)).map_or(0, |i| i + 1);
            let end = s + b[s..].iter().position(|&c| is_blank(c)).unwrap_or(b.len() - s);
            let (span, _) = line.span_of(s, end);
            word_cut = Some(WordCut {
                span,
                ch: b[s] as char,
                word: line.text[start..end].to_owned(),
                kept: line.text[start..s].to_owned(),
            });
        }
        line.truncate(s);
    }
    let keep = line.text.trim_end_matches([' ', '\t']).len();
    line.truncate(keep);
    if cont {
        let n = line.text.len();
        line.replace(n, n, "\\", None);
    }
    (unterminated, word_cut)
}

/// A `$NAME` reference found on a line: the name, how many bytes it spans
/// after the `$`, and any `${_RANDOM MIN MAX}` bounds.
type Reference = (String, usize, Option<(u64, u64)>);

/// A `$NAME` definition.
#[derive(Debug, Clone)]
struct Def {
    value: String,
    multiline: bool,
    std: Option<StdDef>,
    span: Option<Span>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum StdDef {
    Pwd,
    Instance,
    Random,
}

/// A pending `~SEQ` or `~LST` expansion.
#[derive(Debug)]
struct Seq {
    kind: SeqKind,
    template: LineBuf,
}

#[derive(Debug)]
enum SeqKind {
    Range { var: String, next: i64, step: i64, last: i64, hex: bool },
    List { params: Vec<String>, sets: Vec<Vec<String>>, next: usize },
}

/// One file being read.
#[derive(Debug)]
struct Cursor {
    file: FileId,
    name: String,
    pos: usize,
    len: usize,
}

/// One `include` (or the main file): the files its pattern matched.
#[derive(Debug)]
struct IncludeFrame {
    pending: std::collections::VecDeque<String>,
    current: Option<Cursor>,
    include_type: u8,
    saved_include_check: u8,
    pattern: String,
    opened: u32,
    at: Option<Span>,
}

/// Options that change how lines are read.
#[derive(Debug, Clone, Default)]
pub(crate) struct LexOptions {
    pub config_id: Option<String>,
    pub cwd: String,
    pub random_seed: u64,
    pub max_generated: Option<usize>,
    /// Read every line through the general path (tests compare the two).
    pub no_fast_path: bool,
}

const PLAIN: u8 = 0;
pub(crate) const BLANK: u8 = 1;
const BRACE: u8 = 2;
const SPECIAL: u8 = 3;
const NEWLINE: u8 = 4;

/// How [`Preprocessor::next_plain`] sees each byte: `SPECIAL` bytes
/// (comments, quotes, backslashes, `$`, `\r` and the blanks that are not
/// space or tab) send the line to the general path.
pub(crate) static PLAIN_CLASS: [u8; 256] = {
    let mut t = [PLAIN; 256];
    t[b' ' as usize] = BLANK;
    t[b'\t' as usize] = BLANK;
    t[b'{' as usize] = BRACE;
    t[b'}' as usize] = BRACE;
    t[b'\n' as usize] = NEWLINE;
    let special = b"$!#\"\\\r\x0b\x0c";
    let mut i = 0;
    while i < special.len() {
        t[special[i] as usize] = SPECIAL;
        i += 1;
    }
    t
};

/// A line [`Preprocessor::next_plain`] read: where its words are (maybe
/// none) and the brace that ends it, if any.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Plain {
    /// The whole physical line (its words went to `next_plain`'s `push`).
    pub(crate) line: Span,
    /// A final `{` or `}`.
    pub(crate) brace: Option<(u8, Span)>,
}

/// The line reader.
pub(crate) struct Preprocessor<'l, L: Loader + ?Sized> {
    loader: &'l L,
    opts: LexOptions,
    pub(crate) sources: SourceMap,
    pub(crate) diags: Vec<Diagnostic>,
    stack: Vec<IncludeFrame>,
    defs: HashMap<String, Def>,
    seqs: Vec<Seq>,
    /// Remaining lines of multi-line definitions being expanded, innermost
    /// last: the text, how far it was read, the `$NAME` span it maps to and
    /// how many `~SEQ`s were pending when it started (`multiline_seq_depth`).
    multi: Vec<(String, usize, Span, usize)>,
    /// Multi-line definition being read.
    defining: Option<String>,
    residue: Option<LineBuf>,
    /// A buffer to build the next residue in.
    spare: Option<LineBuf>,
    /// Residues read since the last line from another source.
    residue_run: usize,
    pub(crate) block_depth: i32,
    include_check: u8,
    rng: StdRng,
    scratch: String,
    files_opened: usize,
    generated: usize,
    pub(crate) pass: Pass,
}

impl<'l, L: Loader + ?Sized> Preprocessor<'l, L> {
    pub(crate) fn new(loader: &'l L, opts: LexOptions) -> Self {
        let mut defs = HashMap::new();
        let mut std_def = |name: &str, value: &str, std: Option<StdDef>| {
            defs.insert(name.to_owned(), Def { value: value.to_owned(), multiline: false, std, span: None });
        };
        std_def("_PWD", "", Some(StdDef::Pwd));
        std_def("_INSTANCE", "", Some(StdDef::Instance));
        std_def("_RANDOM", "", Some(StdDef::Random));
        std_def("_HASH", "#", None);
        std_def("_BANG", "!", None);
        let rng = StdRng::seed_from_u64(opts.random_seed);
        Preprocessor {
            loader,
            opts,
            sources: SourceMap::new(),
            diags: Vec::new(),
            stack: Vec::new(),
            defs,
            seqs: Vec::new(),
            multi: Vec::new(),
            defining: None,
            residue: None,
            spare: None,
            residue_run: 0,
            block_depth: 0,
            include_check: 0,
            rng,
            scratch: String::new(),
            files_opened: 0,
            generated: 0,
            pass: Pass::Parent,
        }
    }

    fn ka(&mut self, level: ConfigErr, span: Option<Span>, msg: impl Into<String>) -> &mut Diagnostic {
        self.diags.push(Diagnostic::keepalived(level, self.pass, span, msg));
        self.diags.last_mut().expect("just pushed")
    }

    fn lvskit(&mut self, sev: Severity, span: Option<Span>, msg: impl Into<String>) -> &mut Diagnostic {
        self.diags.push(Diagnostic::lvskit(sev, span, msg));
        self.diags.last_mut().expect("just pushed")
    }

    /// Sets `include_check` as `global_defs` does (`include_check_set`).
    pub(crate) fn set_include_check(&mut self, flags: u8) {
        self.include_check = flags;
    }

    /// The current `include_check` flags.
    pub(crate) fn include_check(&self) -> u8 {
        self.include_check
    }

    /// Opens the main file (`check_conf_file`, then `open_glob_file` with
    /// read/match/wildcard checks). Returns false if nothing could be opened.
    pub(crate) fn open_main(&mut self, path: &str) -> bool {
        let g = loader::glob(self.loader, path);
        let readable: Vec<String> = g.matches.iter().filter(|m| !m.ends_with('/')).cloned().collect();
        if g.matches.is_empty() {
            let d = Diagnostic::keepalived(
                ConfigErr::Logged,
                Pass::Parent,
                None,
                format!("cannot read configuration file `{path}`: no such file"),
            );
            self.diags.push(Diagnostic { severity: Severity::Error, ..d }.with_help(
                "keepalived 2.2.7 -t prints \"Config files missing\" and exits 0 here; lvskit treats a missing main file as an error",
            ));
            return false;
        }
        if readable.len() > 1 {
            self.ka(
                ConfigErr::MultipleFiles,
                None,
                format!(
                    "the configuration file pattern `{path}` matches {} files; reading them all, starting with `{}`",
                    readable.len(),
                    readable[0]
                ),
            );
        }
        self.push_frame(g.matches, INC_R | INC_M | INC_W, path.to_owned(), None)
    }

    fn file_error(&mut self, error_type: u8, frame_type: u8, span: Option<Span>, msg: String, help: Option<&str>) {
        let hit = (self.include_check | frame_type) & error_type != 0;
        let d = if hit {
            Diagnostic::keepalived(ConfigErr::FileNotFound, Pass::Parent, span, msg).aborting(Abort::Exit(6))
        } else {
            let mut d = Diagnostic::keepalived(ConfigErr::Logged, Pass::Parent, span, msg);
            d.severity = Severity::Warning;
            d.with_help(help.unwrap_or(
                "keepalived does not count this as an error; use `includea` or `include_check` to make it one",
            ))
        };
        self.diags.push(d);
    }

    /// Opens the files an `include` matched, as `open_glob_file` does.
    fn include(&mut self, pattern: &str, include_type: u8, at: Span) {
        let dir = self.current_dir();
        let full = loader::join(&dir, pattern);
        let g = loader::glob(self.loader, &full);
        let frame_type = include_type;
        if g.matches.is_empty() {
            if g.missing > 0 {
                let t = if loader::has_brace(&full) { INC_B } else { INC_M };
                self.file_error(t, frame_type, Some(at), format!("included file `{pattern}` does not exist"), None);
            } else if g.had_wildcards && (self.include_check | include_type) & INC_W != 0 {
                self.file_error(INC_W, frame_type, Some(at), format!("no file matches `{pattern}`"), None);
            } else if g.had_wildcards {
                self.lvskit(Severity::Warning, Some(at), format!("no file matches `{pattern}`")).help =
                    Some("keepalived silently includes nothing here".into());
            }
            return;
        }
        if g.missing > 0 {
            let hit = (self.include_check | include_type) & INC_B != 0;
            self.file_error(INC_B, frame_type, Some(at), format!("some files named by `{pattern}` do not exist"), None);
            if hit {
                return;
            }
        }
        self.push_frame(g.matches, include_type, pattern.to_owned(), Some(at));
    }

    fn push_frame(&mut self, matches: Vec<String>, include_type: u8, pattern: String, at: Option<Span>) -> bool {
        let frame = IncludeFrame {
            pending: matches.into(),
            current: None,
            include_type,
            saved_include_check: self.include_check,
            pattern,
            opened: 0,
            at,
        };
        self.stack.push(frame);
        if self.open_next_in_frame() {
            true
        } else {
            let f = self.stack.pop().expect("pushed above");
            self.include_check = f.saved_include_check;
            false
        }
    }

    /// Opens the next readable file of the top frame (`open_conf_file`).
    fn open_next_in_frame(&mut self) -> bool {
        loop {
            let Some(top) = self.stack.last_mut() else { return false };
            let Some(path) = top.pending.pop_front() else { return false };
            let (itype, at) = (top.include_type, top.at);
            if path.ends_with('/') {
                self.file_error(
                    INC_R,
                    itype,
                    at,
                    format!("configuration file `{path}` is a directory - skipping"),
                    None,
                );
                continue;
            }
            let norm = loader::normalize(&path);
            let open_names: Vec<&str> =
                self.stack.iter().filter_map(|f| f.current.as_ref()).map(|c| c.name.as_str()).collect();
            if let Some(first) = open_names.iter().position(|n| loader::normalize(n) == norm) {
                let chain = open_names[first..].join(" -> ");
                let d = Diagnostic::lvskit(Severity::Error, at, format!("`{path}` includes itself ({chain} -> {path})"))
                    .with_help("keepalived 2.2.7 follows the cycle until it runs out of file descriptors; lvskit skips the repeated include");
                self.diags.push(d);
                continue;
            }
            if self.files_opened >= MAX_FILES {
                let d = Diagnostic::lvskit(
                    Severity::Error,
                    at,
                    format!("more than {MAX_FILES} files included; not reading `{path}`"),
                );
                self.diags.push(d);
                continue;
            }
            self.files_opened += 1;
            match self.loader.kind(&path) {
                Some(FileKind::Regular) => {}
                _ => {
                    self.file_error(
                        INC_R,
                        itype,
                        at,
                        format!("configuration file `{path}` is not a regular non-executable file - skipping"),
                        None,
                    );
                    continue;
                }
            }
            match self.loader.read(&path) {
                Ok(bytes) => {
                    let len = bytes.len();
                    let id = self.sources.add(path.clone(), bytes);
                    let top = self.stack.last_mut().expect("checked above");
                    top.opened += 1;
                    top.current = Some(Cursor { file: id, name: path, pos: 0, len });
                    return true;
                }
                Err(e) => {
                    self.file_error(
                        INC_R,
                        itype,
                        at,
                        format!("configuration file `{path}` cannot be read: {e} - skipping"),
                        None,
                    );
                }
            }
        }
    }

    /// The directory of the file being read (includes are relative to it).
    fn current_dir(&self) -> String {
        self.stack
            .iter()
            .rev()
            .find_map(|f| f.current.as_ref())
            .map(|c| loader::parent_dir(&c.name).to_owned())
            .unwrap_or_default()
    }

    /// Reads the next physical line (decommented) into `out`; false at the
    /// end of all files.
    fn next_physical(&mut self, out: &mut LineBuf) -> bool {
        loop {
            let Some(top) = self.stack.last_mut() else { return false };
            let Some(cur) = top.current.as_mut() else {
                if !self.end_file() {
                    return false;
                }
                continue;
            };
            if cur.pos >= cur.len {
                if !self.end_file() {
                    return false;
                }
                continue;
            }
            let file = cur.file;
            let start = cur.pos;
            let text = self.sources.file(file).text();
            let rest = &text[start..];
            let (line, adv) = match rest.find('\n') {
                Some(i) => (&rest[..i], i + 1),
                None => (rest, rest.len()),
            };
            let line = line.strip_suffix('\r').unwrap_or(line);
            let line = line.trim_end_matches(['\r', '\n']);
            let cur = self.stack.last_mut().and_then(|t| t.current.as_mut()).expect("checked above");
            cur.pos += adv;
            if line.is_empty() {
                if let Some(name) = self.defining.take() {
                    self.finish_multiline_def(&name);
                }
                continue;
            }
            // `line` borrows `self.sources`; copy it into the output buffer.
            let (lstart, llen) = (start as u32, line.len() as u32);
            self.scratch.clear();
            self.scratch.push_str(line);
            out.set_physical(file, &self.scratch, lstart);
            if llen as usize >= MAXBUF {
                self.lvskit(
                    Severity::Warning,
                    Some(out.line_span),
                    format!(
                        "line is {llen} bytes long; keepalived reads lines of up to {} bytes and splits longer ones",
                        MAXBUF - 1
                    ),
                );
            }
            let (unterminated, cut) = decomment(out);
            if unterminated {
                let span = out.line_span;
                self.ka(ConfigErr::GeneralError, Some(span), "unterminated quote").help =
                    Some("close the string with `\"`; keepalived drops the rest of the line from the quote on".into());
            }
            if let Some(c) = cut {
                let WordCut { span, ch, word, kept } = c;
                self.lvskit(
                    Severity::Warning,
                    Some(span),
                    format!("`{ch}` starts a comment inside the word `{word}`; keepalived reads `{kept}`"),
                )
                .help = Some(format!(
                    "`!` and `#` start a comment even inside a word; write `\\{ch}` for a literal `{ch}`, or put a blank before it if this is a comment"
                ));
            }
            if !out.text.is_empty() {
                return true;
            }
        }
    }

    /// Ends the current file; opens the frame's next match or pops the frame.
    fn end_file(&mut self) -> bool {
        let Some(top) = self.stack.last_mut() else { return false };
        top.current = None;
        // keepalived restores include_check at the end of each file
        // (`end_file`).
        self.include_check = top.saved_include_check;
        if self.open_next_in_frame() {
            return true;
        }
        let f = self.stack.pop().expect("non-empty");
        self.include_check = f.saved_include_check;
        if f.opened == 0 && f.at.is_some() {
            // keepalived logs "No config files matched" here (end_glob).
            let _ = f.pattern;
        }
        !self.stack.is_empty()
    }

    fn finish_multiline_def(&mut self, name: &str) {
        if let Some(d) = self.defs.get_mut(name) {
            if d.value.is_empty() {
                d.multiline = false;
            }
        }
    }

    /// Reads the next logical line: every brace on a line of its own, empty
    /// lines skipped, includes followed. False at the end.
    pub(crate) fn next_line(&mut self, buf: &mut LineBuf) -> bool {
        loop {
            if !self.next_candidate(buf) {
                return false;
            }
            if buf.text.is_empty() {
                continue;
            }
            if self.check_include(buf) {
                continue;
            }
            break;
        }
        self.split_braces(buf);
        true
    }

    /// One line through the residue/seq/multi-line/file sources and the
    /// `@`, definition, `~SEQ` and substitution steps. The line may come out
    /// empty (skip it).
    fn next_candidate(&mut self, buf: &mut LineBuf) -> bool {
        let generating = !self.seqs.is_empty() || !self.multi.is_empty();
        if generating && self.residue.is_none() {
            self.generated += 1;
            if self.generated > self.opts.max_generated.unwrap_or(MAX_GENERATED) {
                let span = self.multi.last().map(|m| m.2).or(self.seqs.last().map(|s| s.template.line_span));
                let d = Diagnostic::lvskit(
                    Severity::Error,
                    span,
                    format!(
                        "~SEQ, ~LST and multi-line definitions produce more than {} lines",
                        self.opts.max_generated.unwrap_or(MAX_GENERATED)
                    ),
                )
                .with_help("lvskit stops expanding here; check the ranges (keepalived would go on generating lines)");
                self.diags.push(d);
                self.seqs.clear();
                self.multi.clear();
            }
        }
        let from_residue = self.residue.is_some();
        if let Some(r) = self.residue.take() {
            self.residue_run += 1;
            if self.residue_run > MAX_RESIDUES {
                // Substitutions keep adding braces and references to what
                // follows them: keepalived splits and substitutes forever.
                let d = Diagnostic::keepalived(
                    ConfigErr::GeneralError,
                    self.pass,
                    Some(r.line_span),
                    format!("this line splits at `{{`/`}}` more than {MAX_RESIDUES} times"),
                )
                .aborting(Abort::Hang)
                .with_help("a definition used here brings another brace and another reference each time it is substituted; keepalived 2.2.7 loops forever on this line");
                self.diags.push(d);
                self.residue_run = 0;
                buf.text.clear();
                return true;
            }
            self.spare = Some(std::mem::replace(buf, r));
        } else if self.seqs.len() > self.multi.last().map_or(0, |m| m.3) {
            self.next_seq_line(buf);
        } else if let Some((text, pos, span, _)) = self.multi.last_mut() {
            let rest = &text[*pos..];
            let (line, done) = match rest.find('\n') {
                Some(i) => (rest[..i].to_owned(), false),
                None => (rest.to_owned(), true),
            };
            let span = *span;
            if done {
                self.multi.pop();
            } else {
                *pos += line.len() + 1;
            }
            buf.set_generated(&line, span);
        } else {
            if !self.next_physical(buf) {
                return false;
            }
            if let Some(name) = self.defining.clone() {
                self.continue_multiline_def(&name, buf);
                buf.text.clear();
                return true;
            }
        }
        if !from_residue {
            self.residue_run = 0;
        }
        self.rewrite(buf);
        true
    }

    fn continue_multiline_def(&mut self, name: &str, buf: &LineBuf) {
        let mut line = buf.text.as_str();
        let mut more = false;
        if let Some(l) = line.strip_suffix('\\') {
            line = l.trim_end_matches([' ', '\t']);
            more = true;
        }
        let Some(def) = self.defs.get_mut(name) else { return };
        // keepalived does not add a line that is only a `\`.
        if !line.is_empty() || !more {
            def.value.push_str(line);
            if more {
                def.value.push('\n');
            }
        }
        if !more {
            self.defining = None;
            if def.value.is_empty() {
                def.multiline = false;
            }
        }
    }

    fn next_seq_line(&mut self, buf: &mut LineBuf) {
        let Some(seq) = self.seqs.last_mut() else { return };
        let mut done = false;
        let mut sets: Vec<(String, String)> = Vec::new();
        match &mut seq.kind {
            SeqKind::Range { var, next, step, last, hex } => {
                let v = if *hex { format!("{:x}", *next as u64) } else { next.to_string() };
                sets.push((var.clone(), v));
                *next = next.wrapping_add(*step);
                if (*step > 0 && *next > *last) || (*step < 0 && *next < *last) {
                    done = true;
                }
            }
            SeqKind::List { params, sets: values, next } => {
                for (p, v) in params.iter().zip(&values[*next]) {
                    sets.push((p.clone(), v.clone()));
                }
                *next += 1;
                if *next >= values.len() {
                    done = true;
                }
            }
        }
        buf.copy_from(&seq.template);
        if done {
            self.seqs.pop();
        }
        for (k, v) in sets {
            self.set_definition(&k, v, None);
        }
    }

    fn set_definition(&mut self, name: &str, value: String, span: Option<Span>) {
        let d = self.defs.entry(name.to_owned()).or_insert(Def {
            value: String::new(),
            multiline: false,
            std: None,
            span: None,
        });
        d.value = value;
        d.std = None;
        d.multiline = false;
        if span.is_some() {
            d.span = span;
        }
    }

    /// Steps 2–5: `@ID`, definitions, `~SEQ`/`~LST`, substitutions.
    fn rewrite(&mut self, buf: &mut LineBuf) {
        // Substitutions made on this line, over all rounds.
        let mut substitutions = 0;
        loop {
            if buf.text.starts_with('@') {
                let (rev, ofs) = if buf.text.as_bytes().get(1) == Some(&b'^') { (true, 2) } else { (false, 1) };
                let Some(sp) = buf.text[ofs..].find([' ', '\t']).map(|i| i + ofs) else {
                    buf.text.clear();
                    return;
                };
                let id = &buf.text[ofs..sp];
                let matches = self.opts.config_id.as_deref() == Some(id);
                if matches == rev {
                    buf.text.clear();
                    return;
                }
                let skip = sp + buf.text[sp..].bytes().take_while(|&b| is_blank(b)).count();
                buf.drop_front(skip);
            }
            if buf.text.starts_with('$') && self.check_definition(buf) {
                buf.text.clear();
                return;
            }
            if buf.text.starts_with("~SEQ") || buf.text.starts_with("~LST") {
                let ok = if buf.text.as_bytes()[1] == b'S' { self.add_seq(buf) } else { self.add_lst(buf) };
                if !ok {
                    let what = if buf.text.as_bytes()[1] == b'S' { "~SEQ" } else { "~LST" };
                    let span = buf.line_span;
                    self.ka(ConfigErr::GeneralError, Some(span), format!("invalid {what} specification `{}`", buf.text)).help = Some(
                        "write `~SEQ(var, start, step, end) text`, `~SEQ(var, start, end) text` or `~LST(var, v1, v2, ...) text`".into(),
                    );
                }
                buf.text.clear();
                return;
            }
            if buf.text.starts_with('~') {
                return;
            }
            if !buf.text.contains('$') {
                return;
            }
            match self.replace_params(buf, &mut substitutions) {
                Ok(true) => {}
                Ok(false) => return,
                Err(()) => return,
            }
            let _ = decomment(buf);
            let recheck = buf.text.starts_with('@') || buf.text.contains('$');
            if !recheck {
                return;
            }
        }
    }

    /// `check_definition`: `$NAME=value` at the start of a line.
    fn check_definition(&mut self, buf: &mut LineBuf) -> bool {
        let b = buf.text.as_bytes();
        if b.len() < 2 || !(b[1].is_ascii_alphabetic() || b[1] == b'_') {
            return false;
        }
        let mut p = 2;
        while p < b.len() && b[p] != b'=' {
            if !(b[p].is_ascii_alphanumeric() || b[p] == b'_') {
                return false;
            }
            p += 1;
        }
        if p >= b.len() {
            return false;
        }
        let name = buf.text[1..p].to_owned();
        let vstart = p + 1 + b[p + 1..].iter().take_while(|&&c| is_blank(c)).count();
        let mut value = buf.text[vstart..].to_owned();
        let mut multiline = false;
        if value.ends_with('\\') {
            multiline = true;
            value.pop();
            let t = value.trim_end_matches([' ', '\t']).len();
            value.truncate(t);
            if !value.is_empty() {
                value.push('\n');
            }
        }
        let (span, _) = buf.span_of(0, buf.text.len());
        self.defs.insert(name.clone(), Def { value, multiline, std: None, span: Some(span) });
        if multiline {
            self.defining = Some(name);
        }
        true
    }

    /// `find_definition` for a reference at `buf[at]` (just after the `$`):
    /// the name, the bytes it spans after the `$`, and any `_RANDOM`
    /// parameters.
    fn find_reference(&self, text: &str, at: usize) -> Option<Reference> {
        let b = text.as_bytes();
        let braces = b.get(at) == Some(&b'{');
        let n0 = if braces { at + 1 } else { at };
        let first = *b.get(n0)?;
        if !(first.is_ascii_alphabetic() || first == b'_') {
            return None;
        }
        let mut p = n0 + 1;
        while p < b.len() && (b[p].is_ascii_alphanumeric() || b[p] == b'_') {
            p += 1;
        }
        let name = &text[n0..p];
        let mut params: Option<(usize, usize)> = None;
        let consumed;
        if braces {
            let mut q = p;
            while q < b.len() && (b[q] == b' ' || b[q].is_ascii_digit()) {
                if b[q] != b' ' {
                    let s = params.map_or(q, |(s, _)| s);
                    params = Some((s, q));
                }
                q += 1;
            }
            if let Some((_, e)) = params {
                if e + 1 != q {
                    return None;
                }
            }
            if b.get(q) != Some(&b'}') {
                return None;
            }
            consumed = q + 1 - at;
        } else {
            if p < b.len() && !matches!(b[p], b' ' | b'\t' | b',' | b')') {
                return None;
            }
            consumed = p - at;
        }
        let at_end = at + consumed == b.len();
        let def = self.defs.get(name)?;
        if def.multiline && !at_end {
            return None;
        }
        let random = match params {
            None => None,
            Some((s, e)) => {
                if def.std != Some(StdDef::Random) {
                    return None;
                }
                let nums: Vec<u64> =
                    text[s..=e].split(' ').filter(|w| !w.is_empty()).filter_map(|w| w.parse().ok()).collect();
                let min = nums.first().copied().unwrap_or(0);
                let max = nums.get(1).copied().unwrap_or(32767);
                Some((min, max))
            }
        };
        Some((name.to_owned(), consumed, random))
    }

    /// `replace_param`: substitutes every reference on the line. Ok(false)
    /// when nothing was substituted; Err once the line has had more than
    /// `MAX_SUBSTITUTIONS` (`count`, kept over the line's rounds).
    fn replace_params(&mut self, buf: &mut LineBuf, count: &mut usize) -> Result<bool, ()> {
        let mut cur = 0;
        let mut found = false;
        while let Some(off) = buf.text[cur..].find('$') {
            let pos = cur + off;
            if pos + 1 >= buf.text.len() {
                break;
            }
            let Some((name, consumed, random)) = self.find_reference(&buf.text, pos + 1) else {
                cur = pos + 1;
                continue;
            };
            *count += 1;
            if *count > MAX_SUBSTITUTIONS {
                let (span, _) = buf.span_of(pos, pos + 1 + consumed);
                let d = Diagnostic::keepalived(ConfigErr::GeneralError, self.pass, Some(span), format!("`${name}` expands forever"))
                    .aborting(Abort::Hang)
                    .with_help("a definition refers to itself, directly or through others; keepalived 2.2.7 loops forever on this line");
                self.diags.push(d);
                return Err(());
            }
            found = true;
            let (ref_span, _) = buf.span_of(pos, pos + 1 + consumed);
            let def = self.defs.get(&name).expect("found above").clone();
            let value = match def.std {
                Some(StdDef::Pwd) => {
                    let dir = self.current_dir();
                    let d =
                        if dir.starts_with('/') { dir } else { loader::normalize(&loader::join(&self.opts.cwd, &dir)) };
                    if d.is_empty() { ".".to_owned() } else { d }
                }
                Some(StdDef::Instance) => self.opts.config_id.clone().unwrap_or_default(),
                Some(StdDef::Random) => {
                    let (min, max) = random.unwrap_or((0, 32767));
                    let v = if max >= min { self.rng.random_range(min..=max) } else { min };
                    v.to_string()
                }
                None => def.value.clone(),
            };
            let replacement = if def.multiline {
                let first_len = value.find('\n').unwrap_or(value.len());
                let rest = value.get(first_len + 1..).unwrap_or("").to_owned();
                self.multi.push((rest, 0, ref_span, self.seqs.len()));
                value[..first_len].to_owned()
            } else {
                value
            };
            if buf.text.len() - (1 + consumed) + replacement.len() >= MAXBUF {
                self.ka(ConfigErr::Logged, Some(ref_span), format!("substituting `${name}` would make the line longer than {} bytes; keepalived stops substituting on this line", MAXBUF - 1));
                return Ok(false);
            }
            buf.replace(pos, pos + 1 + consumed, &replacement, Some(ref_span));
            if replacement.trim_start_matches([' ', '\t']).starts_with('~') {
                break;
            }
        }
        Ok(found)
    }

    /// `add_seq`. Returns false for a malformed specification.
    fn add_seq(&mut self, buf: &LineBuf) -> bool {
        let t = buf.text.as_str();
        let b = t.as_bytes();
        let mut p = 4;
        let hex = b.get(p) == Some(&b'x');
        if hex {
            p += 1;
        }
        p += count_blanks(&b[p..]);
        if b.get(p) != Some(&b'(') {
            return false;
        }
        p += 1;
        p += count_blanks(&b[p..]);
        let var_start = p;
        while p < b.len() && !matches!(b[p], b' ' | b'\t' | b',' | b')') {
            p += 1;
        }
        let var = t[var_start..p].to_owned();
        p += count_blanks(&b[p..]);
        if p >= b.len() || b[p] == b')' || var.is_empty() {
            return false;
        }
        p += 1;
        p += count_blanks(&b[p..]);
        let Some(close) = t[p..].find(')').map(|i| i + p) else { return false };
        // keepalived copies the parameters into a 64-byte buffer.
        if close + 2 - p > 64 {
            return false;
        }
        // The parameters may use definitions.
        let mut params = LineBuf::default();
        params.set_generated(&t[p..=close], buf.line_span);
        if self.replace_params(&mut params, &mut 0).is_err() {
            return false;
        }
        let nums = params.text.trim_end_matches(')');
        let parts: Vec<&str> = nums.split(',').collect();
        let mut vals = Vec::new();
        for part in &parts {
            match parse_c_long(part) {
                Some(v) => vals.push(v),
                None => return false,
            }
        }
        let (start, step, end) = match vals[..] {
            [one] => (if one < 0 { -1 } else { 1 }, if one < 1 { -1 } else { 1 }, one),
            [a, b] => (a, if a <= b { 1 } else { -1 }, b),
            [a, s, e] => {
                if s == 0 || (a < e && s < 0) || (a > e && s > 0) {
                    return false;
                }
                (a, s, e)
            }
            _ => return false,
        };
        if hex && (start < 0 || end < 0) {
            return false;
        }
        let text_start = close + 1 + count_blanks(&b[close + 1..]);
        let template = buf.tail(text_start);
        self.seqs.push(Seq { kind: SeqKind::Range { var, next: start, step, last: end, hex }, template });
        true
    }

    /// `add_lst`. Returns false for a malformed specification.
    fn add_lst(&mut self, buf: &LineBuf) -> bool {
        let t = buf.text.as_str();
        let b = t.as_bytes();
        let mut p = 4;
        p += count_blanks(&b[p..]);
        if b.get(p) != Some(&b'(') {
            return false;
        }
        p += 1;
        p += count_blanks(&b[p..]);
        let mut end_char = b',';
        if b.get(p) == Some(&b'{') {
            end_char = b'}';
            p += 1;
            p += count_blanks(&b[p..]);
        }
        let mut params = Vec::new();
        loop {
            let s = p;
            while p < b.len() && !matches!(b[p], b' ' | b'\t' | b',' | b'}') {
                p += 1;
            }
            params.push(t[s..p].to_owned());
            p += count_blanks(&b[p..]);
            match b.get(p) {
                Some(&c) if c == end_char => break,
                Some(b',') => {
                    p += 1;
                    p += count_blanks(&b[p..]);
                }
                _ => return false,
            }
        }
        if b.get(p) == Some(&b'}') {
            p += 1;
            p += count_blanks(&b[p..]);
        }
        if b.get(p) != Some(&b',') {
            return false;
        }
        p += 1;
        p += count_blanks(&b[p..]);
        let mut sets: Vec<Vec<String>> = Vec::new();
        loop {
            let mut end_char = b',';
            if b.get(p) == Some(&b'{') {
                end_char = b'}';
                p += 1;
                p += count_blanks(&b[p..]);
            }
            let mut set = Vec::new();
            loop {
                let s = p;
                while p < b.len() && !matches!(b[p], b' ' | b'\t' | b',' | b'}' | b')') {
                    p += 1;
                }
                set.push(t[s..p].to_owned());
                p += count_blanks(&b[p..]);
                match b.get(p) {
                    Some(&c) if c == end_char || (c == b')' && end_char == b',') => break,
                    Some(b',') => {
                        p += 1;
                        p += count_blanks(&b[p..]);
                        // More values than parameters.
                        if set.len() >= params.len() {
                            return false;
                        }
                    }
                    _ => return false,
                }
            }
            while set.len() < params.len() {
                set.push(String::new());
            }
            sets.push(set);
            if b.get(p) == Some(&b'}') && end_char == b'}' {
                p += 1;
                p += count_blanks(&b[p..]);
            }
            match b.get(p) {
                Some(b')') => break,
                Some(b',') => {
                    p += 1;
                    p += count_blanks(&b[p..]);
                }
                _ => return false,
            }
        }
        if params.is_empty() || sets.is_empty() {
            return false;
        }
        let text_start = p + 1 + count_blanks(&b[(p + 1).min(b.len())..]);
        let template = buf.tail(text_start.min(t.len()));
        self.seqs.push(Seq { kind: SeqKind::List { params, sets, next: 0 }, template });
        true
    }

    /// `check_include`: follows an `include` line. True if it was one.
    fn check_include(&mut self, buf: &LineBuf) -> bool {
        let b = buf.text.as_bytes();
        if !buf.text.starts_with("include") || b.len() <= 7 {
            return false;
        }
        let (itype, p) = if b[7].is_ascii_whitespace() {
            (0, 8)
        } else if b.len() > 8 && b[8].is_ascii_whitespace() && b"rmwba".contains(&b[7]) {
            let t = match b[7] {
                b'r' => INC_R,
                b'a' => INC_R | INC_M | INC_B | INC_W,
                b'w' => INC_R | INC_M | INC_W,
                b'm' => INC_R | INC_M,
                _ => INC_R | INC_B,
            };
            (t, 9)
        } else {
            return false;
        };
        let p = p + count_blanks(&b[p.min(b.len())..]);
        let pattern = buf.text[p.min(b.len())..].to_owned();
        let (span, _) = buf.span_of(p.min(b.len()), b.len());
        let span = if span.is_empty() { buf.line_span } else { span };
        if pattern.is_empty() {
            self.lvskit(Severity::Warning, Some(buf.line_span), "`include` without a file name");
            return true;
        }
        if self.stack.len() > 64 {
            self.lvskit(Severity::Error, Some(span), format!("includes nested more than 64 deep at `{pattern}`"))
                .help = Some("a file includes itself, directly or through others".into());
            return true;
        }
        self.include(&pattern, itype, span);
        true
    }

    /// Step 7: cut the line at its first brace outside quotes.
    fn split_braces(&mut self, buf: &mut LineBuf) {
        let b = buf.text.as_bytes();
        let mut found = None;
        if b[0] == b'{' || b[0] == b'}' {
            found = Some(0);
        } else {
            let mut i = 0;
            while i < b.len() {
                match b[i] {
                    b'{' | b'}' => {
                        found = Some(i);
                        break;
                    }
                    b'"' => match b[i + 1..].iter().position(|&c| c == b'"') {
                        Some(j) => i += j + 2,
                        None => break,
                    },
                    _ => i += 1,
                }
            }
        }
        if let Some(p) = found {
            let skip = if p == 0 { 1 + count_blanks(&b[1..]) } else { 0 };
            if p + skip < b.len() {
                let mut residue = self.spare.take().unwrap_or_default();
                buf.tail_into(p + skip, &mut residue);
                let keep = residue.text.trim_end_matches([' ', '\t']).len();
                residue.truncate(keep);
                buf.truncate(p + skip);
                self.residue = Some(residue);
            }
        }
        let keep = buf.text.trim_end_matches([' ', '\t']).len();
        buf.truncate(keep);
        if buf.text == "{" || buf.text == "}" {
            let (span, _) = buf.span_of(0, 1);
            self.count_brace(buf.text.as_bytes()[0], span);
        }
    }

    /// A line that is a lone brace: keeps `block_depth`, and reports a `}`
    /// that closes nothing.
    pub(crate) fn count_brace(&mut self, brace: u8, span: Span) {
        if brace == b'{' {
            self.block_depth += 1;
        } else if self.block_depth < 1 {
            self.ka(ConfigErr::UnexpectedEob, Some(span), "extra `}` found").help =
                Some("this `}` closes no block; remove it or add the `{` it was meant to match".into());
            self.block_depth = 0;
        } else {
            self.block_depth -= 1;
        }
    }

    /// The fast path of [`next_line`](Self::next_line): when the next line
    /// comes straight from a file and has nothing for the rewriting steps
    /// (no comment, quote, backslash, `$`, leading `@` or `~`, `include`,
    /// at most one brace and only at its end, shorter than `MAXBUF`), it is
    /// consumed and returned as source offsets, exactly as `next_line` would
    /// have split it, its words handed to `push` in order as they are
    /// found. `None` leaves the line to `next_line`: the words `push` was
    /// given for it are then to be dropped.
    #[inline]
    pub(crate) fn next_plain(&mut self, mut push: impl FnMut(Span)) -> Option<Plain> {
        if self.opts.no_fast_path
            || self.residue.is_some()
            || !self.seqs.is_empty()
            || !self.multi.is_empty()
            || self.defining.is_some()
        {
            return None;
        }
        let cur = self.stack.last()?.current.as_ref()?;
        if cur.pos >= cur.len {
            return None;
        }
        let (file, start) = (cur.file, cur.pos);
        let text = self.sources.file(file).text().as_bytes();
        // One pass over the line: its end, its words, a brace, and any byte
        // that needs the general path. `first`: where the first word starts.
        let mut first: Option<usize> = None;
        let mut brace: Option<usize> = None;
        let mut i = start;
        let mut newline = false;
        let class = |i: usize| PLAIN_CLASS[text[i] as usize];
        loop {
            // Spaces eight at a time (indentation), then any tabs.
            while let Some(chunk) = text.get(i..i + 8) {
                let x = u64::from_le_bytes(chunk.try_into().expect("8 bytes")) ^ u64::from_le_bytes([b' '; 8]);
                if x != 0 {
                    i += (x.trailing_zeros() / 8) as usize;
                    break;
                }
                i += 8;
            }
            while i < text.len() && is_blank(text[i]) {
                i += 1;
            }
            if i >= text.len() {
                break;
            }
            let c = class(i);
            if c == PLAIN {
                if brace.is_some() {
                    return None;
                }
                let w = i;
                let rest = &text[i + 1..];
                i += 1 + rest.iter().position(|&b| PLAIN_CLASS[b as usize] != PLAIN).unwrap_or(rest.len());
                push(Span::new(file, w as u32, i as u32));
                first.get_or_insert(w);
            } else if c == NEWLINE {
                newline = true;
                break;
            } else if c == BRACE {
                if brace.is_some() {
                    return None;
                }
                brace = Some(i);
                i += 1;
            } else {
                return None;
            }
        }
        let line_len = i - start;
        if line_len >= MAXBUF {
            return None;
        }
        let adv = line_len + usize::from(newline);
        if let Some(first) = first {
            // Conditional and sequence lines, and `include` with its variants
            // (`includea` ...).
            if matches!(text[first], b'@' | b'~') || text[first..].starts_with(b"include") {
                return None;
            }
        }
        let s = start as u32;
        let plain = Plain {
            line: Span::new(file, s, s + line_len as u32),
            brace: brace.map(|i| (text[i], Span::new(file, i as u32, i as u32 + 1))),
        };
        self.stack.last_mut().and_then(|t| t.current.as_mut()).expect("checked above").pos += adv;
        self.residue_run = 0;
        Some(plain)
    }
}

fn count_blanks(b: &[u8]) -> usize {
    b.iter().take_while(|&&c| is_blank(c)).count()
}

/// `strtol(s, &end, 0)` followed by skipping blanks: the value, if the whole
/// part (leading blanks, sign, `0x`/`0` prefix, digits, trailing blanks) is a
/// number. An empty part reads as 0, as `strtol` does.
fn parse_c_long(s: &str) -> Option<i64> {
    let t = s.trim_matches([' ', '\t', '\n', '\r', '\x0b', '\x0c']);
    if t.is_empty() {
        return Some(0);
    }
    let (neg, t) = match t.as_bytes()[0] {
        b'-' => (true, &t[1..]),
        b'+' => (false, &t[1..]),
        _ => (false, t),
    };
    let v = if let Some(h) = t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
        i64::from_str_radix(h, 16).ok()?
    } else if t.len() > 1 && t.starts_with('0') {
        i64::from_str_radix(&t[1..], 8).ok()?
    } else {
        t.parse::<i64>().ok()?
    };
    Some(if neg { -v } else { v })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::loader::MemoryLoader;

    fn lines(files: &[(&str, &str)], id: Option<&str>) -> (Vec<String>, Vec<Diagnostic>) {
        let mut l = MemoryLoader::new();
        for (p, t) in files {
            l.insert(*p, *t);
        }
        let mut pp = Preprocessor::new(
            &l,
            LexOptions {
                config_id: id.map(str::to_owned),
                cwd: "/".into(),
                random_seed: 1,
                max_generated: None,
                no_fast_path: false,
            },
        );
        assert!(pp.open_main(files[0].0));
        let mut buf = LineBuf::default();
        let mut out = Vec::new();
        while pp.next_line(&mut buf) {
            out.push(buf.text.clone());
        }
        (out, pp.diags)
    }

    #[test]
    fn comments_and_braces() {
        let (l, _) = lines(&[("/k.conf", "a { b # c\n  auth_pass abc!def\n\\#x \"q#r\" }\n!full\n")], None);
        assert_eq!(l, ["a", "{", "b", "auth_pass abc", "#x \"q#r\"", "}"]);
    }

    #[test]
    fn conditionals() {
        let src = "@high prio 1\n@low prio 2\n@^high other\nplain\n@x\n";
        assert_eq!(lines(&[("/k", src)], Some("high")).0, ["prio 1", "plain"]);
        assert_eq!(lines(&[("/k", src)], Some("low")).0, ["prio 2", "other", "plain"]);
        assert_eq!(lines(&[("/k", src)], None).0, ["other", "plain"]);
    }

    #[test]
    fn definitions_and_multiline() {
        let src = "$IP=192.0.2\n$M=real_server ${IP}.10 80 { \\\n  weight 2 \\\n}\nvs ${IP}.1 $IP.x\n$M\nend\n";
        let (l, _) = lines(&[("/k", src)], None);
        assert_eq!(l, ["vs 192.0.2.1 $IP.x", "real_server 192.0.2.10 80", "{", "weight 2", "}", "end"]);
    }

    #[test]
    fn seq_and_lst() {
        let src = "~SEQ(n, 1, 3) rs 10.0.0.$n\n~SEQx(h, 9, 11) v $h\n~LST(p, a, b) x $p\n~LST({a,b}, {1,2}, {3}) y ${a}-$b $a-\n~SEQ(i,2) ~SEQ(j,2) z ${i}$j\n";
        let (l, d) = lines(&[("/k", src)], None);
        assert!(d.is_empty(), "{d:?}");
        assert_eq!(
            l,
            [
                "rs 10.0.0.1",
                "rs 10.0.0.2",
                "rs 10.0.0.3",
                "v 9",
                "v a",
                "v b",
                "x a",
                "x b",
                "y 1-2 $a-",
                "y 3- $a-",
                "z 11",
                "z 12",
                "z 21",
                "z 22"
            ]
        );
    }

    #[test]
    fn include_cycles_are_cut() {
        let files = [("/k/a.conf", "include b.conf\nx\n"), ("/k/b.conf", "include a.conf\ninclude b.conf\ny\n")];
        let (l, d) = lines(&files, None);
        assert_eq!(l, ["y", "x"]);
        assert_eq!(d.len(), 2);
        assert!(d.iter().all(|d| d.is_error() && d.message.contains("includes itself")));
    }

    #[test]
    fn includes_relative_and_missing() {
        let files = [
            ("/etc/k/main.conf", "a\ninclude conf.d/*.conf\ninclude nope.conf\nincludea nope2.conf\nz\n"),
            ("/etc/k/conf.d/2.conf", "two\n"),
            ("/etc/k/conf.d/1.conf", "one\n"),
        ];
        let (l, d) = lines(&files, None);
        assert_eq!(l, ["a", "one", "two", "z"]);
        assert_eq!(d.len(), 2);
        assert_eq!(d[0].keepalived.unwrap().level, ConfigErr::Logged);
        assert_eq!(d[1].keepalived.unwrap().abort, Some(Abort::Exit(6)));
    }

    #[test]
    fn spans_map_to_source() {
        let mut l = MemoryLoader::new();
        l.insert("/k", "$X=10.0.0.1\n  vs $X 80 {\n");
        let mut pp = Preprocessor::new(&l, LexOptions::default());
        assert!(pp.open_main("/k"));
        let mut buf = LineBuf::default();
        assert!(pp.next_line(&mut buf));
        assert_eq!(buf.text, "vs 10.0.0.1 80");
        let (s, verbatim) = buf.span_of(0, 2);
        assert!(verbatim);
        assert_eq!(pp.sources.slice(s), "vs");
        let (s, verbatim) = buf.span_of(3, 11);
        assert!(!verbatim);
        assert_eq!(pp.sources.slice(s), "$X");
        let (s, verbatim) = buf.span_of(12, 14);
        assert!(verbatim);
        assert_eq!(pp.sources.slice(s), "80");
        assert!(pp.next_line(&mut buf));
        assert_eq!(buf.text, "{");
        let (s, _) = buf.span_of(0, 1);
        assert_eq!(pp.sources.slice(s), "{");
    }

    #[test]
    fn self_reference_does_not_hang() {
        let (_, d) = lines(&[("/k", "$A=$A\nx $A\n")], None);
        assert!(d.iter().any(|d| d.keepalived.and_then(|k| k.abort) == Some(Abort::Hang)));
    }

    /// `drop_front` (in place) does what `replace(0, n, "", None)` does.
    #[test]
    fn drop_front_is_replace() {
        let mut base = LineBuf::default();
        base.set_physical(FileId(0), "  alpha $X beta $Y gamma", 100);
        base.replace(8, 10, "one two", Some(Span::new(FileId(0), 108, 110)));
        base.replace(20, 22, "", Some(Span::new(FileId(0), 120, 122)));
        for n in 0..=base.text.len() {
            let mut a = base.clone();
            a.drop_front(n);
            let mut b = base.clone();
            if n > 0 {
                b.replace(0, n, "", None);
            }
            assert_eq!((a.text.as_str(), &a.pieces), (b.text.as_str(), &b.pieces), "n = {n}");
        }
    }

    /// keepalived 2.2.7 never finishes on these (checked with `keepalived
    /// -t` under a timeout): each substitution brings a brace, the line is
    /// split there, and the rest is substituted again.
    #[test]
    fn braces_brought_by_substitution_do_not_hang() {
        // Returning at all is the proof (keepalived loops for ever here); the
        // expansion is cut off by the substitution limit, not left to grow.
        for text in ["$X={ $X\n$X\n", "$X=} $X\n$X\n", "$X=a{$X\n$X\n"] {
            let (out, d) = lines(&[("/k", text)], None);
            assert!(d.iter().any(|d| d.keepalived.and_then(|k| k.abort) == Some(Abort::Hang)), "{text}");
            assert!(out.len() <= MAX_SUBSTITUTIONS + 2, "{text}: {} lines", out.len());
        }
    }

    #[test]
    fn c_numbers() {
        assert_eq!(parse_c_long(" 0x10 "), Some(16));
        assert_eq!(parse_c_long("010"), Some(8));
        assert_eq!(parse_c_long("-3"), Some(-3));
        assert_eq!(parse_c_long(""), Some(0));
        assert_eq!(parse_c_long("x"), None);
    }
}
