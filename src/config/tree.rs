//! The directive tree: each logical line's words (keepalived's `strvec`) with
//! their spans, nested by `{` `}`.
//!
//! keepalived splits a line into words at blanks; a word that starts with `"`
//! runs to the next `"` (no escapes) and a bare word stops at a `"`
//! (`alloc_strvec_r`, `lib/parser.c`). A line whose first word is `{` opens a
//! block for the directive on the line before it, `}` closes the innermost
//! one. The tree knows nothing about keywords: lowering (into [`Config`](super::Config)) gives
//! it meaning.
//!
//! Memory: one node per directive (a few dozen bytes) and one word entry
//! per word; word texts that are verbatim copies of the source (almost all)
//! are ranges into it, the rest (substitutions) share one string buffer.

use std::fmt;

use super::diag::{ConfigErr, Diagnostic};
use super::lexer::{LexOptions, LineBuf, Preprocessor};
use super::loader::Loader;
use super::source::{FileId, SourceMap, Span};

#[derive(Debug, Clone, Copy)]
enum TextRef {
    Src { file: u32, start: u32, len: u32 },
    Own { start: u32, len: u32 },
}

/// The text `t` refers to: a range of a source file or of `owned` (the
/// document's texts that are not in a file).
#[inline]
fn resolve<'a>(sources: &'a SourceMap, owned: &'a str, t: TextRef) -> &'a str {
    match t {
        TextRef::Src { file, start, len } => &sources.file(FileId(file)).text()[start as usize..(start + len) as usize],
        TextRef::Own { start, len } => &owned[start as usize..(start + len) as usize],
    }
}

/// One word: its span, and where its text is, in 16 bytes. Almost every
/// word's text is its span (without the quotes when quoted); the others
/// (substitutions) point into a side table of [`TextRef`]s.
#[derive(Debug, Clone, Copy)]
struct WordData {
    span: Span,
    /// [`QUOTED`] bit, and [`INLINE`] or an index into the side table.
    text: u32,
}

/// The word was written in double quotes.
const QUOTED: u32 = 1 << 31;
/// The text is the span (inside the quotes when quoted).
const INLINE: u32 = QUOTED - 1;

impl WordData {
    fn new(text: TextRef, span: Span, quoted: bool, texts: &mut Vec<TextRef>) -> Self {
        let q = if quoted { QUOTED } else { 0 };
        let (start, len) = Self::inline_range(span, quoted);
        let inline =
            matches!(text, TextRef::Src { file, start: s, len: l } if file == span.file.0 && s == start && l == len);
        if inline {
            return WordData { span, text: INLINE | q };
        }
        let i = texts.len() as u32;
        // A configuration has fewer words than bytes (u32 offsets).
        debug_assert!(i < INLINE);
        texts.push(text);
        WordData { span, text: i | q }
    }

    #[inline]
    fn inline_range(span: Span, quoted: bool) -> (u32, u32) {
        if quoted && span.end >= span.start + 2 {
            (span.start + 1, span.end - span.start - 2)
        } else {
            (span.start, span.end - span.start)
        }
    }

    #[inline]
    fn quoted(&self) -> bool {
        self.text & QUOTED != 0
    }

    #[inline]
    fn text_ref(&self, texts: &[TextRef]) -> TextRef {
        let i = self.text & !QUOTED;
        if i == INLINE {
            let (start, len) = Self::inline_range(self.span, self.quoted());
            TextRef::Src { file: self.span.file.0, start, len }
        } else {
            texts[i as usize]
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Node {
    first_word: u32,
    nwords: u32,
    /// Index one past this node's last descendant.
    end: u32,
    raw: TextRef,
    line: Span,
    /// Index of its `{` and `}` in the document's block table, or
    /// [`NO_BLOCK`] (most directives have none: the table keeps nodes small).
    block: u32,
}

/// A node without a block.
const NO_BLOCK: u32 = u32::MAX;

/// The `{` and `}` of block `b` of a block table ([`NO_BLOCK`]: none).
#[inline]
fn block_at(blocks: &[(Span, Option<Span>)], b: u32) -> Option<(Span, Option<Span>)> {
    (b != NO_BLOCK).then(|| blocks[b as usize])
}

/// A parsed configuration: its sources and its directives.
pub struct Document {
    sources: SourceMap,
    nodes: Vec<Node>,
    words: Vec<WordData>,
    /// The texts of words that are not their span.
    texts: Vec<TextRef>,
    /// The `{` and `}` of each block.
    blocks: Vec<(Span, Option<Span>)>,
    owned: String,
}

impl fmt::Debug for Document {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Document").field("files", &self.sources.len()).field("directives", &self.nodes.len()).finish()
    }
}

impl Document {
    /// Everything the tree holds (lines, blocks, words with their spans and
    /// texts), as text: what tests and the fuzz target compare between two
    /// readings.
    pub(crate) fn structure(&self) -> String {
        use fmt::Write as _;
        let mut out = String::new();
        for n in &self.nodes {
            // Writing to a String cannot fail.
            let _ =
                write!(out, "{:?} {:?} {:?} {} [", n.line, block_at(&self.blocks, n.block), n.end, self.text(n.raw));
            for w in &self.words[n.first_word as usize..(n.first_word + n.nwords) as usize] {
                let _ = write!(
                    out,
                    "{:?}={:?}{} ",
                    w.span,
                    self.text(w.text_ref(&self.texts)),
                    if w.quoted() { "q" } else { "" }
                );
            }
            out.push_str("]\n");
        }
        out
    }

    /// The source files.
    pub fn sources(&self) -> &SourceMap {
        &self.sources
    }

    /// The source files, without the tree.
    pub fn into_sources(self) -> SourceMap {
        self.sources
    }

    /// The top-level directives.
    pub fn root(&self) -> Block<'_> {
        Block { doc: self, start: 0, end: self.nodes.len() as u32, open: None, close: None }
    }

    /// Number of directives at all levels.
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// Whether there is no directive.
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    #[inline]
    fn text(&self, t: TextRef) -> &str {
        resolve(&self.sources, &self.owned, t)
    }

    /// A word's text: most are their span, read straight from the source.
    #[inline(always)]
    fn word_text(&self, w: WordData) -> &str {
        if w.text == INLINE {
            let file = self.sources.file(w.span.file).text();
            return &file[w.span.start as usize..w.span.end as usize];
        }
        self.text(w.text_ref(&self.texts))
    }
}

/// One word of a directive.
#[derive(Debug, Clone, Copy)]
pub struct Word<'d> {
    text: &'d str,
    span: Span,
    quoted: bool,
}

impl<'d> Word<'d> {
    /// The word's text (without quotes; substitutions applied).
    pub fn as_str(&self) -> &'d str {
        self.text
    }

    /// Where it is (quotes included).
    pub fn span(&self) -> Span {
        self.span
    }

    /// Whether it was written in double quotes.
    pub fn is_quoted(&self) -> bool {
        self.quoted
    }
}

impl fmt::Display for Word<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.text)
    }
}

impl PartialEq<&str> for Word<'_> {
    fn eq(&self, other: &&str) -> bool {
        self.text == *other
    }
}

/// One directive: a keyword, its arguments, and maybe a block.
#[derive(Clone, Copy)]
pub struct Directive<'d> {
    doc: &'d Document,
    idx: u32,
    /// The keyword (looked at by every handler: resolved once).
    name: &'d str,
}

impl fmt::Debug for Directive<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Directive").field("words", &self.words().map(|w| w.as_str()).collect::<Vec<_>>()).finish()
    }
}

impl<'d> Directive<'d> {
    #[inline]
    fn at(doc: &'d Document, idx: u32) -> Self {
        let w = doc.words[doc.nodes[idx as usize].first_word as usize];
        Directive { doc, idx, name: doc.word_text(w) }
    }

    #[inline]
    fn node(&self) -> &'d Node {
        &self.doc.nodes[self.idx as usize]
    }

    #[inline]
    fn word_at(&self, i: u32) -> Word<'d> {
        let w = self.doc.words[i as usize];
        Word { text: self.doc.word_text(w), span: w.span, quoted: w.quoted() }
    }

    /// The keyword (first word).
    #[inline]
    pub fn name(&self) -> &'d str {
        self.name
    }

    /// The keyword as a word.
    #[inline]
    pub fn name_word(&self) -> Word<'d> {
        self.word_at(self.node().first_word)
    }

    /// The keyword's span.
    #[inline]
    pub fn name_span(&self) -> Span {
        self.doc.words[self.node().first_word as usize].span
    }

    /// Number of arguments (words after the keyword).
    pub fn nargs(&self) -> usize {
        self.node().nwords as usize - 1
    }

    /// Argument `i` (0 is the first word after the keyword).
    #[inline]
    pub fn arg(&self, i: usize) -> Option<Word<'d>> {
        let n = self.node();
        (i + 1 < n.nwords as usize).then(|| self.word_at(n.first_word + 1 + i as u32))
    }

    /// The arguments.
    pub fn args(&self) -> impl ExactSizeIterator<Item = Word<'d>> + 'd {
        let n = *self.node();
        let d = *self;
        (n.first_word + 1..n.first_word + n.nwords).map(move |i| d.word_at(i))
    }

    /// All words, keyword first.
    pub fn words(&self) -> impl ExactSizeIterator<Item = Word<'d>> + 'd {
        let n = *self.node();
        let d = *self;
        (n.first_word..n.first_word + n.nwords).map(move |i| d.word_at(i))
    }

    /// The span from the keyword to the last argument.
    #[inline]
    pub fn span(&self) -> Span {
        let n = self.node();
        let first = self.doc.words[n.first_word as usize].span;
        let last = self.doc.words[(n.first_word + n.nwords - 1) as usize].span;
        first.to(last)
    }

    /// The span of the whole source line the directive is on.
    pub fn line_span(&self) -> Span {
        self.node().line
    }

    /// The logical line as keepalived hands it to keyword handlers
    /// (`buf_extern`): after comments, conditionals and substitutions, before
    /// word splitting. Script keywords re-split it with escapes.
    pub fn raw(&self) -> &'d str {
        self.doc.text(self.node().raw)
    }

    /// How many more directives of this one's length (from its line's start
    /// to its block's `}`, counted as 64 bytes at least) the rest of its
    /// file would hold: a size hint for the vectors lowering fills, so that
    /// a file of 10 000 virtual servers does not copy the ones already read
    /// at each doubling. `None` without a closed block, or when the block
    /// ends in another file than it starts (an `include` inside it). An
    /// estimate only: a wrong one costs a reallocation or some unused
    /// capacity, never a result.
    pub(crate) fn like_after(&self) -> Option<usize> {
        let close = self.block()?.close_span()?;
        let line = self.line_span();
        if close.file != line.file {
            return None;
        }
        let start = line.start;
        let file_len = self.doc.sources.file(close.file).text().len();
        let len = close.end.checked_sub(start)?.max(64) as usize;
        Some(file_len.saturating_sub(close.end as usize) / len)
    }

    /// The block, if the directive has one.
    pub fn block(&self) -> Option<Block<'d>> {
        let n = self.node();
        block_at(&self.doc.blocks, n.block).map(|(open, close)| Block {
            doc: self.doc,
            start: self.idx + 1,
            end: n.end,
            open: Some(open),
            close,
        })
    }
}

/// The directives of one block (or of the whole file).
#[derive(Clone, Copy)]
pub struct Block<'d> {
    doc: &'d Document,
    start: u32,
    end: u32,
    open: Option<Span>,
    close: Option<Span>,
}

impl fmt::Debug for Block<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

impl<'d> Block<'d> {
    /// The directives directly in this block, in order.
    pub fn iter(&self) -> Directives<'d> {
        Directives { doc: self.doc, next: self.start, end: self.end }
    }

    /// Whether the block holds no directive.
    pub fn is_empty(&self) -> bool {
        self.start >= self.end
    }

    /// The `{` (none for the file's top level).
    pub fn open_span(&self) -> Option<Span> {
        self.open
    }

    /// The `}` (none for the top level, or when it is missing).
    pub fn close_span(&self) -> Option<Span> {
        self.close
    }
}

impl<'d> IntoIterator for Block<'d> {
    type Item = Directive<'d>;
    type IntoIter = Directives<'d>;
    fn into_iter(self) -> Directives<'d> {
        self.iter()
    }
}

/// Iterator over a block's directives.
#[derive(Clone)]
pub struct Directives<'d> {
    doc: &'d Document,
    next: u32,
    end: u32,
}

impl<'d> Iterator for Directives<'d> {
    type Item = Directive<'d>;
    fn next(&mut self) -> Option<Directive<'d>> {
        if self.next >= self.end {
            return None;
        }
        let idx = self.next;
        self.next = self.doc.nodes[idx as usize].end;
        Some(Directive::at(self.doc, idx))
    }
}

enum Frame {
    Real(u32),
    /// An unexpected `{`: its contents stay at the enclosing level.
    Phantom(Span),
}

/// Builds the tree from the preprocessor's lines.
struct Builder<'s> {
    /// The tree so far (its sources stay with the preprocessor until the
    /// tree is handed over).
    doc: Document,
    frames: Vec<Frame>,
    attachable: Option<u32>,
    /// Streaming: each top-level directive, once complete, is handed to
    /// this sink and then forgotten (the vectors are reused).
    sink: Option<&'s mut Sink<'s>>,
    /// The sink asked to stop.
    stopped: bool,
}

/// What [`stream`] hands each complete top-level directive to; `false`
/// stops reading.
pub(crate) type Sink<'s> = dyn FnMut(Directive<'_>) -> bool + 's;

impl<'s> Builder<'s> {
    fn new(sink: Option<&'s mut Sink<'s>>) -> Self {
        Builder {
            doc: Document {
                sources: SourceMap::default(),
                nodes: Vec::new(),
                words: Vec::new(),
                texts: Vec::new(),
                blocks: Vec::new(),
                owned: String::new(),
            },
            frames: Vec::new(),
            attachable: None,
            sink,
            stopped: false,
        }
    }

    /// Streaming: hands the top-level directives read so far (all complete:
    /// no block is open) to the sink, then forgets them.
    fn flush<L: Loader + ?Sized>(&mut self, pp: &mut Preprocessor<'_, L>) {
        let Some(sink) = self.sink.as_mut() else { return };
        if self.doc.nodes.is_empty() || self.stopped {
            return;
        }
        std::mem::swap(&mut pp.sources, &mut self.doc.sources);
        for d in self.doc.root().iter() {
            if !sink(d) {
                self.stopped = true;
                break;
            }
        }
        std::mem::swap(&mut pp.sources, &mut self.doc.sources);
        let doc = &mut self.doc;
        doc.nodes.clear();
        doc.words.clear();
        doc.texts.clear();
        doc.blocks.clear();
        doc.owned.clear();
    }

    fn text_ref(&mut self, buf: &LineBuf, start: usize, end: usize) -> (TextRef, Span) {
        let (span, verbatim) = buf.span_of(start, end);
        if verbatim {
            (TextRef::Src { file: span.file.0, start: span.start, len: span.len() }, span)
        } else {
            let s = self.doc.owned.len() as u32;
            self.doc.owned.push_str(&buf.text[start..end]);
            (TextRef::Own { start: s, len: (end - start) as u32 }, span)
        }
    }

    /// keepalived's `alloc_strvec_r`: pushes the line's words; returns how
    /// many, and reports an unmatched quote.
    fn split_words<L: Loader + ?Sized>(&mut self, buf: &LineBuf, pp: &mut Preprocessor<'_, L>) -> u32 {
        let b = buf.text.as_bytes();
        let ws = |c: u8| matches!(c, b' ' | b'\t' | b'\x0c' | b'\n' | b'\r' | b'\x0b');
        let mut i = 0;
        let mut n = 0;
        loop {
            while i < b.len() && ws(b[i]) {
                i += 1;
            }
            if i >= b.len() {
                break;
            }
            if b[i] == b'"' {
                let Some(close) = b[i + 1..].iter().position(|&c| c == b'"').map(|j| i + 1 + j) else {
                    let (span, _) = buf.span_of(i, b.len());
                    let line = buf.line_span;
                    // decomment() may have reported the same quote already.
                    let reported = pp
                        .diags
                        .last()
                        .and_then(|d| d.span)
                        .is_some_and(|s| s.file == line.file && s.start >= line.start && s.start <= line.end);
                    if !reported {
                        pp.diags.push(
                            Diagnostic::keepalived(ConfigErr::UnmatchedQuote, pp.pass, Some(span), "unmatched quote")
                                .with_help("close the string with `\"`; keepalived drops the rest of the line from the quote on"),
                        );
                    }
                    break;
                };
                let (text, _) = self.text_ref(buf, i + 1, close);
                let (span, _) = buf.span_of(i, close + 1);
                self.doc.words.push(WordData::new(text, span, true, &mut self.doc.texts));
                i = close + 1;
            } else {
                let s = i;
                while i < b.len() && !ws(b[i]) && b[i] != b'"' {
                    i += 1;
                }
                let (text, span) = self.text_ref(buf, s, i);
                self.doc.words.push(WordData::new(text, span, false, &mut self.doc.texts));
            }
            n += 1;
        }
        n
    }

    /// A `{` or `}` line: opens a block for the directive just read, or
    /// closes the innermost one.
    fn brace<L: Loader + ?Sized>(&mut self, pp: &mut Preprocessor<'_, L>, b: u8, span: Span) {
        if b == b'{' {
            match self.attachable.take() {
                Some(idx) => {
                    self.doc.nodes[idx as usize].block = self.doc.blocks.len() as u32;
                    self.doc.blocks.push((span, None));
                    self.frames.push(Frame::Real(idx));
                }
                None => {
                    pp.diags.push(
                        Diagnostic::keepalived(ConfigErr::UnexpectedBob, pp.pass, Some(span), "unexpected `{`")
                            .with_help("a `{` must follow the keyword whose block it opens"),
                    );
                    self.frames.push(Frame::Phantom(span));
                }
            }
            return;
        }
        self.attachable = None;
        match self.frames.pop() {
            Some(Frame::Real(idx)) => {
                let end = self.doc.nodes.len() as u32;
                let node = &mut self.doc.nodes[idx as usize];
                node.end = end;
                if node.block != NO_BLOCK {
                    self.doc.blocks[node.block as usize].1 = Some(span);
                }
                // A top-level block is complete: nothing can attach to
                // what has been read.
                if self.sink.is_some() && !self.frames.iter().any(|f| matches!(f, Frame::Real(_))) {
                    self.flush(pp);
                }
            }
            Some(Frame::Phantom(_)) => {}
            None => {
                // The lexer already reported the extra `}`.
            }
        }
    }

    fn word_text<'a, L: Loader + ?Sized>(&'a self, pp: &'a Preprocessor<'_, L>, t: TextRef) -> &'a str {
        resolve(&pp.sources, &self.doc.owned, t)
    }

    /// A directive of `n` words from `first_word`.
    fn directive<L: Loader + ?Sized>(
        &mut self,
        pp: &mut Preprocessor<'_, L>,
        first_word: u32,
        n: u32,
        raw: TextRef,
        line: Span,
    ) {
        let idx = self.doc.nodes.len() as u32;
        self.doc.nodes.push(Node { first_word, nwords: n, end: idx + 1, raw, line, block: NO_BLOCK });
        self.attachable = Some(idx);
        // `include_check` in `global_defs` changes how the following
        // includes are checked, as soon as it is read.
        if self.frames.len() != 1
            || self.word_text(pp, self.doc.words[first_word as usize].text_ref(&self.doc.texts)) != "include_check"
        {
            return;
        }
        let Some(Frame::Real(p)) = self.frames.first() else { return };
        let pw = self.doc.words[self.doc.nodes[*p as usize].first_word as usize];
        if self.word_text(pp, pw.text_ref(&self.doc.texts)) != "global_defs" {
            return;
        }
        let args: Vec<String> = (1..n)
            .map(|k| self.word_text(pp, self.doc.words[(first_word + k) as usize].text_ref(&self.doc.texts)).to_owned())
            .collect();
        let flags = include_check_flags(pp.include_check(), &args);
        pp.set_include_check(flags);
    }

    /// Reads every line of `pp` into the tree.
    fn build<L: Loader + ?Sized>(mut self, pp: &mut Preprocessor<'_, L>) -> Document {
        // Room for what the main file holds, going by typical line lengths
        // (growing the vectors line by line costs more than the guess).
        // (Streaming keeps one top-level block at a time.)
        if self.sink.is_none() {
            let size: usize = (0..pp.sources.len()).map(|i| pp.sources.file(FileId(i as u32)).text().len()).sum();
            self.doc.nodes.reserve(size / 20);
            self.doc.words.reserve(size / 10);
        }
        let mut buf = LineBuf::default();
        loop {
            if self.stopped {
                break;
            }
            let first_word = self.doc.words.len() as u32;
            let words = &mut self.doc.words;
            if let Some(plain) = pp.next_plain(|span| words.push(WordData { span, text: INLINE })) {
                let n = self.doc.words.len() as u32 - first_word;
                if n > 0 {
                    // The words' extent: from the first one's start to the
                    // last one's end (all in the line's file).
                    let (a, b) =
                        (self.doc.words[first_word as usize].span, self.doc.words[self.doc.words.len() - 1].span);
                    let w = a.to(b);
                    self.directive(
                        pp,
                        first_word,
                        n,
                        TextRef::Src { file: w.file.0, start: w.start, len: w.len() },
                        plain.line,
                    );
                }
                if let Some((b, span)) = plain.brace {
                    pp.count_brace(b, span);
                    self.brace(pp, b, span);
                }
                continue;
            }
            // Words the fast path found before it gave the line up.
            self.doc.words.truncate(first_word as usize);
            if !pp.next_line(&mut buf) {
                break;
            }
            let n = self.split_words(&buf, pp);
            if n == 0 {
                continue;
            }
            let first = self.doc.words[first_word as usize];
            let brace = match self.word_text(pp, first.text_ref(&self.doc.texts)) {
                "{" => Some(b'{'),
                "}" => Some(b'}'),
                _ => None,
            };
            if let Some(b) = brace {
                self.doc.words.truncate(first_word as usize);
                self.brace(pp, b, first.span);
                continue;
            }
            let (raw, _) = self.text_ref(&buf, 0, buf.text.len());
            self.directive(pp, first_word, n, raw, buf.line_span);
        }
        // Unclosed blocks.
        let open: Vec<Span> = self
            .frames
            .iter()
            .map(|f| match f {
                Frame::Real(i) => {
                    block_at(&self.doc.blocks, self.doc.nodes[*i as usize].block).map(|b| b.0).unwrap_or_default()
                }
                Frame::Phantom(s) => *s,
            })
            .collect();
        let end = self.doc.nodes.len() as u32;
        for f in &self.frames {
            if let Frame::Real(i) = f {
                self.doc.nodes[*i as usize].end = end;
            }
        }
        if pp.block_depth > 0 {
            let n = pp.block_depth;
            pp.diags.push(
                Diagnostic::keepalived(
                    ConfigErr::MissingEob,
                    pp.pass,
                    open.first().copied(),
                    format!("{n} missing `}}`{}", if n > 1 { "s" } else { "" }),
                )
                .with_help("this block, and any opened inside it, is not closed before the end of the configuration"),
            );
        }
        self.flush(pp);
        self.doc.sources = std::mem::take(&mut pp.sources);
        self.doc
    }
}

/// `include_check_set` (`lib/parser.c`): the flags after an `include_check`
/// line. No argument checks everything; a bare word sets read plus that
/// check; `+word`/`-word` add or remove one.
pub(crate) fn include_check_flags(current: u8, args: &[String]) -> u8 {
    const R: u8 = 0x01;
    if args.is_empty() {
        return 0x0f;
    }
    let mut flags = current;
    for (i, word) in args.iter().enumerate() {
        let (op, name) = match word.as_bytes().first() {
            Some(b'-') => (-1, &word[1..]),
            Some(b'+') => (1, &word[1..]),
            _ => {
                if i != 0 {
                    continue;
                }
                flags = 0;
                (0, word.as_str())
            }
        };
        let f = match name {
            "read" => R,
            "match" => 0x02,
            "wildcard_match" => 0x04,
            "brace_match" => 0x08,
            _ => continue,
        };
        match op {
            0 => flags = R | f,
            1 => flags |= f,
            _ => flags &= !f,
        }
    }
    flags
}

/// Reads a whole configuration into a [`Document`].
pub(crate) fn parse<L: Loader + ?Sized>(pp: &mut Preprocessor<'_, L>) -> Document {
    Builder::new(None).build(pp)
}

/// Reads `path` twice, with the plain-line fast path and without it, and
/// gives what each reading produced (the tree's [`Document::structure`], the
/// diagnostics, the brace depth), for tests and the fuzz target to compare.
pub(crate) fn read_both_ways<L: Loader + ?Sized>(
    loader: &L,
    path: &str,
    lex: &LexOptions,
) -> [(String, String, i32); 2] {
    [false, true].map(|no_fast_path| {
        let mut pp = Preprocessor::new(loader, LexOptions { no_fast_path, ..lex.clone() });
        pp.open_main(path);
        let d = parse(&mut pp);
        (d.structure(), format!("{:?}", pp.diags), pp.block_depth)
    })
}

/// Reads a whole configuration, handing each top-level directive (with its
/// block) to `sink` as soon as it is complete, and keeping none: the
/// returned document has the sources and no directive. Memory: one
/// top-level block's nodes and words at a time. Stops early when `sink`
/// returns `false`.
pub(crate) fn stream<'s, L: Loader + ?Sized>(pp: &mut Preprocessor<'_, L>, sink: &'s mut Sink<'s>) -> Document {
    Builder::new(Some(sink)).build(pp)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::lexer::LexOptions;
    use crate::config::loader::MemoryLoader;

    fn doc(text: &str) -> (Document, Vec<Diagnostic>) {
        let l = MemoryLoader::new().with("/k.conf", text);
        let mut pp = Preprocessor::new(&l, LexOptions::default());
        assert!(pp.open_main("/k.conf"));
        let d = parse(&mut pp);
        (d, pp.diags)
    }

    #[test]
    fn like_after_estimates_the_rest_of_the_file() {
        // Three blocks of 199 bytes from the line's start to the `}`, a
        // newline after each: two more after the first.
        let block = format!("vs {{{}\n{}}}\n", " ".repeat(95), " ".repeat(98));
        assert_eq!(block.len(), 200);
        let text = block.repeat(3);
        let (d, _) = doc(&text);
        let top: Vec<_> = d.root().iter().collect();
        assert_eq!(top.len(), 3);
        assert_eq!(top[0].like_after(), Some(2));
        assert_eq!(top[1].like_after(), Some(1));
        assert_eq!(top[2].like_after(), Some(0));
        // A block shorter than 64 bytes counts as 64 (205 bytes follow this
        // 5-byte one); no block, or an unclosed one: no estimate.
        let text = format!("a {{\n}}{}\nc {{\n", "\nb".repeat(100));
        let (d, _) = doc(&text);
        let top: Vec<_> = d.root().iter().collect();
        assert_eq!(top[0].like_after(), Some((text.len() - 5) / 64));
        assert_eq!(top[1].like_after(), None);
        assert_eq!(top.last().unwrap().like_after(), None);
        // A block closed in an included file: no estimate.
        let l = MemoryLoader::new().with("/k.conf", "a {\ninclude /i.conf\n").with("/i.conf", "b\n}\nc\n");
        let mut pp = Preprocessor::new(&l, LexOptions::default());
        assert!(pp.open_main("/k.conf"));
        let d = parse(&mut pp);
        let a = d.root().iter().next().unwrap();
        assert!(a.block().unwrap().close_span().is_some());
        assert_eq!(a.like_after(), None);
    }

    #[test]
    fn nesting_and_words() {
        let (d, diags) = doc("a 1 \"two words\" x\"y\" {\n  b {\n c\n }\n d\n}\ne\n");
        assert!(diags.is_empty(), "{diags:?}");
        let top: Vec<_> = d.root().iter().collect();
        assert_eq!(top.len(), 2);
        let a = top[0];
        assert_eq!(a.name(), "a");
        assert_eq!(a.args().map(|w| w.as_str()).collect::<Vec<_>>(), ["1", "two words", "x", "y"]);
        assert!(a.arg(1).unwrap().is_quoted());
        assert_eq!(d.sources().slice(a.arg(1).unwrap().span()), "\"two words\"");
        let inner: Vec<_> = a.block().unwrap().iter().map(|x| x.name()).collect();
        assert_eq!(inner, ["b", "d"]);
        let b = a.block().unwrap().iter().next().unwrap();
        assert_eq!(b.block().unwrap().iter().map(|x| x.name()).collect::<Vec<_>>(), ["c"]);
        assert_eq!(top[1].name(), "e");
        assert!(top[1].block().is_none());
    }

    /// The plain-line fast path reads every file exactly as the general
    /// path does: same tree, same spans, same diagnostics (the verdict
    /// corpus, the fuzz corpus, and tricky lines).
    #[test]
    fn fast_path_reads_as_the_general_path() {
        let mut texts = crate::config::corpus();
        for t in [
            "a {\n  b 1 }\n}\n",
            "a{\n}\n}\n{\n",
            "  x y   {   \n\t}\t\n",
            "include_check\nglobal_defs {\n include_check +match\n}\ninclude /x\n",
            "a\r\n b \r\r\n",
            "@a x {\n~SEQ(i,1,2) y $i {\n}\n",
            "a\x0cb c\n",
            // Words around the eight-byte steps of the plain reader, with
            // control characters, non-ASCII bytes and specials inside.
            "abcdefgh ijklmnopq rstuvwxyzABCDEFG 0123456\n",
            "ab\x01cdefghij\x1fk l\x7fm n\u{e9}o\u{e9}\u{e9}\u{e9}\u{e9}pq\n",
            "abcdefg{\nabcdefgh}\nabcdefghi#x\nabcdefghijklmnop!y\n",
            "abcdefghijk$X x\nabcdefghij\\k x\nabcdefghijklm\"q\" r\n",
            "abcdefghijklmnopqrstuvw\rx\nabcdefghijklmnop\x0bq\n",
            "abcdefghijklmnopqrstuvwxyz",
            "a b\tc\t\tdefghijklmnopqrstuvwxyz012345 {",
        ] {
            texts.push((format!("{t:?}"), t.as_bytes().to_vec()));
        }
        for (name, text) in texts {
            let l = MemoryLoader::new().with("/k.conf", text.clone());
            let lex = LexOptions { config_id: Some("a".into()), max_generated: Some(500), ..LexOptions::default() };
            let [fast, general] = read_both_ways(&l, "/k.conf", &lex);
            assert_eq!(fast, general, "{name}");
        }
    }

    #[test]
    fn brace_errors() {
        let (d, diags) = doc("a {\n}\n}\n{\nb\n}\nc {\n");
        let levels: Vec<_> = diags.iter().map(|d| d.keepalived.unwrap().level).collect();
        assert_eq!(levels, [ConfigErr::UnexpectedEob, ConfigErr::UnexpectedBob, ConfigErr::MissingEob]);
        let names: Vec<_> = d.root().iter().map(|x| x.name()).collect();
        assert_eq!(names, ["a", "b", "c"]);
    }
}
