//! The configuration's source texts and byte spans into them.
//!
//! Every file the loader reads (the main file and each included one) gets a
//! [`FileId`]; a [`Span`] is a byte range in one file. Line and column are
//! computed only when a diagnostic needs them, from a line index built on
//! first use, so loading a large file pays nothing for positions it never
//! reports.

use std::fmt;
use std::sync::OnceLock;

/// Identifies one source file in a [`SourceMap`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct FileId(pub(crate) u32);

impl FileId {
    /// The file's index in its [`SourceMap`] (0 is the main file).
    pub const fn index(self) -> usize {
        self.0 as usize
    }
}

/// A byte range in one source file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Span {
    /// The file.
    pub file: FileId,
    /// First byte.
    pub start: u32,
    /// One past the last byte.
    pub end: u32,
}

impl Span {
    /// A span of `file` from `start` to `end`.
    pub const fn new(file: FileId, start: u32, end: u32) -> Self {
        Span { file, start, end }
    }

    /// The smallest span covering both (the first one's file wins).
    pub fn to(self, other: Span) -> Span {
        if other.file != self.file {
            return self;
        }
        Span { file: self.file, start: self.start.min(other.start), end: self.end.max(other.end) }
    }

    /// Length in bytes.
    pub const fn len(&self) -> u32 {
        self.end.saturating_sub(self.start)
    }

    /// Whether the span is empty.
    pub const fn is_empty(&self) -> bool {
        self.end <= self.start
    }
}

/// One loaded file: the name it is shown under and its text.
#[derive(Debug)]
pub struct SourceFile {
    name: String,
    text: String,
    line_starts: OnceLock<Vec<u32>>,
}

impl SourceFile {
    /// The name diagnostics show (the path as the configuration reached it).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The whole text. Bytes that were not UTF-8 are replaced one for one by
    /// `?`, so byte offsets match the file on disk.
    pub fn text(&self) -> &str {
        &self.text
    }

    fn line_starts(&self) -> &[u32] {
        self.line_starts.get_or_init(|| {
            let mut v = Vec::with_capacity(self.text.len() / 24 + 1);
            v.push(0);
            v.extend(self.text.bytes().enumerate().filter(|&(_, b)| b == b'\n').map(|(i, _)| i as u32 + 1));
            v
        })
    }

    /// The 1-based line number and the byte offset of that line's start for a
    /// byte offset.
    pub fn line_of(&self, offset: u32) -> (u32, u32) {
        let starts = self.line_starts();
        let i = match starts.binary_search(&offset) {
            Ok(i) => i,
            Err(i) => i - 1,
        };
        (i as u32 + 1, starts[i])
    }

    /// The text of a 1-based line, without its line ending.
    pub fn line_text(&self, line: u32) -> &str {
        let starts = self.line_starts();
        let Some(&start) = starts.get(line.saturating_sub(1) as usize) else { return "" };
        let end = starts.get(line as usize).map_or(self.text.len(), |&e| e as usize);
        self.text[start as usize..end].trim_end_matches(['\n', '\r'])
    }
}

/// All the files of one configuration, in the order they were first read.
#[derive(Debug, Default)]
pub struct SourceMap {
    files: Vec<SourceFile>,
}

impl SourceMap {
    /// An empty map.
    pub fn new() -> Self {
        SourceMap::default()
    }

    /// Adds a file. Bytes that are not UTF-8 become `?` (one for one).
    pub fn add(&mut self, name: impl Into<String>, bytes: Vec<u8>) -> FileId {
        let text = match String::from_utf8(bytes) {
            Ok(s) => s,
            Err(e) => lossy_same_length(e.into_bytes()),
        };
        self.add_text(name, text)
    }

    /// Adds a file from text.
    pub fn add_text(&mut self, name: impl Into<String>, text: String) -> FileId {
        let id = FileId(self.files.len() as u32);
        self.files.push(SourceFile { name: name.into(), text, line_starts: OnceLock::new() });
        id
    }

    /// A file.
    pub fn file(&self, id: FileId) -> &SourceFile {
        &self.files[id.index()]
    }

    /// All files.
    pub fn files(&self) -> &[SourceFile] {
        &self.files
    }

    /// Number of files.
    pub fn len(&self) -> usize {
        self.files.len()
    }

    /// Whether no file was loaded.
    pub fn is_empty(&self) -> bool {
        self.files.is_empty()
    }

    /// The text a span covers.
    pub fn slice(&self, span: Span) -> &str {
        let t = self.file(span.file).text();
        t.get(span.start as usize..span.end as usize).unwrap_or("")
    }

    /// Where a span starts, with the line's text, for a diagnostic.
    pub fn locate(&self, span: Span) -> Location {
        let f = self.file(span.file);
        let (line, line_start) = f.line_of(span.start);
        let text = f.line_text(line);
        let before = &f.text()[line_start as usize..(span.start as usize).min(f.text().len())];
        let col = before.chars().count() as u32 + 1;
        // The caret covers the span, clipped to its first line.
        let in_line = (span.start - line_start) as usize;
        let end_in_line = ((span.end.max(span.start) - line_start) as usize).min(text.len());
        let width = text.get(in_line.min(text.len())..end_in_line).map_or(0, |s| s.chars().count()) as u32;
        Location { file: f.name().to_owned(), line, col, line_text: text.to_owned(), width: width.max(1) }
    }
}

/// Replaces every byte of an invalid UTF-8 sequence by `?`, keeping offsets.
fn lossy_same_length(mut bytes: Vec<u8>) -> String {
    let mut i = 0;
    while i < bytes.len() {
        match std::str::from_utf8(&bytes[i..]) {
            Ok(_) => break,
            Err(e) => {
                let bad = i + e.valid_up_to();
                let n = e.error_len().unwrap_or(bytes.len() - bad);
                for b in &mut bytes[bad..bad + n] {
                    *b = b'?';
                }
                i = bad + n;
            }
        }
    }
    String::from_utf8(bytes).unwrap_or_default()
}

/// A resolved position: file name, 1-based line and column (in characters),
/// the line's text and how many characters the caret underlines.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Location {
    /// File name as shown.
    pub file: String,
    /// 1-based line.
    pub line: u32,
    /// 1-based column, in characters.
    pub col: u32,
    /// The whole source line.
    pub line_text: String,
    /// Characters underlined (at least 1).
    pub width: u32,
}

impl fmt::Display for Location {
    /// `file:line:col`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.file, self.line, self.col)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locate_line_and_column() {
        let mut m = SourceMap::new();
        let id = m.add("a.conf", b"one\n  two three\r\nfour".to_vec());
        let loc = m.locate(Span::new(id, 10, 15));
        assert_eq!((loc.line, loc.col, loc.width), (2, 7, 5));
        assert_eq!(loc.line_text, "  two three");
        assert_eq!(loc.to_string(), "a.conf:2:7");
        let loc = m.locate(Span::new(id, 17, 21));
        assert_eq!((loc.line, loc.col, loc.line_text.as_str()), (3, 1, "four"));
    }

    #[test]
    fn invalid_utf8_keeps_offsets() {
        let mut m = SourceMap::new();
        let id = m.add("b", vec![b'a', 0xff, 0xfe, b'b']);
        assert_eq!(m.file(id).text(), "a??b");
    }
}
