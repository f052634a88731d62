//! Where configuration files come from: the [`Loader`] trait, an in-memory
//! [`MemoryLoader`] for tests and embedders, and [`FsLoader`] for the
//! filesystem.
//!
//! keepalived expands `include` patterns with `glob(3)` using `GLOB_BRACE`
//! and `GLOB_MARK` and counts missing directories and files through
//! `GLOB_ALTDIRFUNC` hooks (`open_and_check_glob`, `lib/parser.c`): whether a
//! pattern "matched nothing" or "named files that are missing" decides what
//! it reports. [`glob`] reproduces that walk over any [`Loader`]: braces are
//! expanded first (each alternative's matches sorted, alternatives kept in
//! order, as glibc does), then each `/`-separated component with a wildcard
//! is matched against a directory listing (`*`, `?`, `[...]`, `\` escapes; a
//! leading `.` only matches explicitly), and a component without one is
//! checked for existence.

use std::collections::BTreeMap;
use std::fmt;

/// What a path is, as far as including it goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FileKind {
    /// A regular file that is not executable: can be included.
    Regular,
    /// A regular file with an execute bit set (keepalived refuses those).
    Executable,
    /// A directory.
    Directory,
    /// Anything else (device, socket, FIFO).
    Other,
}

/// Why a file could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LoadError {
    /// No such file.
    #[error("no such file")]
    NotFound,
    /// Reading failed (permissions, I/O).
    #[error("{0}")]
    Io(String),
}

/// A source of configuration files. Paths are `/`-separated strings, as
/// keepalived's are; relative ones are relative to the process's working
/// directory (the loader decides what that is).
pub trait Loader {
    /// Reads a whole file.
    fn read(&self, path: &str) -> Result<Vec<u8>, LoadError>;
    /// What `path` is, or `None` if it does not exist.
    fn kind(&self, path: &str) -> Option<FileKind>;
    /// The names in directory `dir` (without `.` and `..`), or `None` if it
    /// cannot be opened.
    fn list_dir(&self, dir: &str) -> Option<Vec<String>>;
}

impl<L: Loader + ?Sized> Loader for &L {
    fn read(&self, path: &str) -> Result<Vec<u8>, LoadError> {
        (**self).read(path)
    }
    fn kind(&self, path: &str) -> Option<FileKind> {
        (**self).kind(path)
    }
    fn list_dir(&self, dir: &str) -> Option<Vec<String>> {
        (**self).list_dir(dir)
    }
}

/// Files held in memory, keyed by path. Directories exist implicitly: every
/// proper prefix of a file's path that ends at a `/`.
///
/// ```
/// use lvskit::config::{Loader, MemoryLoader};
/// let mut files = MemoryLoader::new();
/// files.insert("/etc/keepalived/keepalived.conf", "include conf.d/*.conf\n");
/// files.insert("/etc/keepalived/conf.d/vs1.conf", "virtual_server 192.0.2.1 80 {\n}\n");
/// assert_eq!(files.list_dir("/etc/keepalived/conf.d").unwrap(), vec!["vs1.conf"]);
/// ```
#[derive(Debug, Clone, Default)]
pub struct MemoryLoader {
    files: BTreeMap<String, Vec<u8>>,
}

impl MemoryLoader {
    /// No files.
    pub fn new() -> Self {
        MemoryLoader::default()
    }

    /// Adds or replaces a file.
    pub fn insert(&mut self, path: impl Into<String>, contents: impl Into<Vec<u8>>) -> &mut Self {
        self.files.insert(normalize(&path.into()), contents.into());
        self
    }

    /// Builder form of [`insert`](Self::insert).
    pub fn with(mut self, path: impl Into<String>, contents: impl Into<Vec<u8>>) -> Self {
        self.insert(path, contents);
        self
    }
}

impl Loader for MemoryLoader {
    fn read(&self, path: &str) -> Result<Vec<u8>, LoadError> {
        self.files.get(&normalize(path)).cloned().ok_or(LoadError::NotFound)
    }

    fn kind(&self, path: &str) -> Option<FileKind> {
        let p = normalize(path);
        if self.files.contains_key(&p) {
            return Some(FileKind::Regular);
        }
        let prefix = dir_prefix(&p);
        self.files.range(prefix.clone()..).next().filter(|(k, _)| k.starts_with(&prefix)).map(|_| FileKind::Directory)
    }

    fn list_dir(&self, dir: &str) -> Option<Vec<String>> {
        let prefix = dir_prefix(&normalize(dir));
        let mut names: Vec<String> = Vec::new();
        for k in self.files.range(prefix.clone()..).map(|(k, _)| k).take_while(|k| k.starts_with(&prefix)) {
            let rest = &k[prefix.len()..];
            let name = rest.split('/').next().unwrap_or(rest);
            if !name.is_empty() && names.last().is_none_or(|l| l != name) {
                names.push(name.to_owned());
            }
        }
        if names.is_empty() && !prefix.is_empty() && prefix != "/" && prefix != "./" { None } else { Some(names) }
    }
}

fn dir_prefix(dir: &str) -> String {
    if dir.is_empty() || dir == "." {
        String::new()
    } else if dir.ends_with('/') {
        dir.to_owned()
    } else {
        format!("{dir}/")
    }
}

/// Lexically normalises a path: removes `.` components, repeated and
/// trailing `/`, and resolves `..` against the preceding component.
pub fn normalize(path: &str) -> String {
    let abs = path.starts_with('/');
    let mut parts: Vec<&str> = Vec::new();
    for c in path.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                if parts.last().is_some_and(|l| *l != "..") {
                    parts.pop();
                } else if !abs {
                    parts.push("..");
                }
            }
            c => parts.push(c),
        }
    }
    let joined = parts.join("/");
    if abs { format!("/{joined}") } else { joined }
}

/// The directory part of a path (`""` for a bare name), as `dirname(3)`
/// without the `.`.
pub fn parent_dir(path: &str) -> &str {
    match path.rfind('/') {
        Some(0) => "/",
        Some(i) => &path[..i],
        None => "",
    }
}

/// Joins a relative path onto a directory; an absolute path stays as it is.
pub fn join(dir: &str, path: &str) -> String {
    if path.starts_with('/') || dir.is_empty() {
        path.to_owned()
    } else if dir.ends_with('/') {
        format!("{dir}{path}")
    } else {
        format!("{dir}/{path}")
    }
}

/// Files on the local filesystem, read with `std::fs`; relative paths are
/// relative to the process's working directory.
#[derive(Debug, Clone, Copy, Default)]
pub struct FsLoader;

impl Loader for FsLoader {
    fn read(&self, path: &str) -> Result<Vec<u8>, LoadError> {
        std::fs::read(fs_path(path)).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => LoadError::NotFound,
            _ => LoadError::Io(e.to_string()),
        })
    }

    fn kind(&self, path: &str) -> Option<FileKind> {
        let md = std::fs::metadata(fs_path(path)).ok()?;
        Some(if md.is_dir() {
            FileKind::Directory
        } else if md.is_file() {
            if is_executable(&md) { FileKind::Executable } else { FileKind::Regular }
        } else {
            FileKind::Other
        })
    }

    fn list_dir(&self, dir: &str) -> Option<Vec<String>> {
        let rd = std::fs::read_dir(fs_path(dir)).ok()?;
        Some(rd.filter_map(|e| e.ok()).map(|e| e.file_name().to_string_lossy().into_owned()).collect())
    }
}

fn fs_path(p: &str) -> &str {
    if p.is_empty() { "." } else { p }
}

#[cfg(unix)]
fn is_executable(md: &std::fs::Metadata) -> bool {
    use std::os::unix::fs::PermissionsExt;
    md.permissions().mode() & 0o111 != 0
}

#[cfg(not(unix))]
fn is_executable(_md: &std::fs::Metadata) -> bool {
    false
}

/// What expanding one pattern found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GlobOutcome {
    /// Matching paths in glob order; directories end with `/` (`GLOB_MARK`).
    pub matches: Vec<String>,
    /// Non-wildcard names that did not exist, and directories that could not
    /// be opened (keepalived's `missing_files + missing_directories`).
    pub missing: u32,
    /// Whether a wildcard component was matched against a directory listing.
    pub had_wildcards: bool,
}

impl fmt::Display for GlobOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} match(es), {} missing", self.matches.len(), self.missing)
    }
}

/// Whether a pattern contains `{` not escaped by `\` (keepalived's
/// `have_brace`).
pub fn has_brace(pattern: &str) -> bool {
    let b = pattern.as_bytes();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'\\' => i += 2,
            b'{' => return true,
            _ => i += 1,
        }
    }
    false
}

/// Expands `pattern` as keepalived's `glob()` call would.
pub fn glob<L: Loader + ?Sized>(loader: &L, pattern: &str) -> GlobOutcome {
    let mut out = GlobOutcome::default();
    for alt in expand_braces(pattern) {
        let mut found = Vec::new();
        glob_one(loader, &alt, &mut found, &mut out);
        out.matches.extend(found);
    }
    out
}

/// Brace expansion as `GLOB_BRACE` does it: `a{b,c{d,e}}f` gives `abf`,
/// `acdf`, `acef`. An unmatched `{` is left as it is.
pub fn expand_braces(pattern: &str) -> Vec<String> {
    let b = pattern.as_bytes();
    // Find the first top-level `{` and its matching `}`.
    let mut i = 0;
    let mut open = None;
    while i < b.len() {
        match b[i] {
            b'\\' => i += 1,
            b'{' => {
                open = Some(i);
                break;
            }
            _ => {}
        }
        i += 1;
    }
    let Some(open) = open else { return vec![pattern.to_owned()] };
    let mut depth = 0;
    let mut commas = Vec::new();
    let mut close = None;
    let mut j = open + 1;
    while j < b.len() {
        match b[j] {
            b'\\' => j += 1,
            b'{' => depth += 1,
            b'}' if depth == 0 => {
                close = Some(j);
                break;
            }
            b'}' => depth -= 1,
            b',' if depth == 0 => commas.push(j),
            _ => {}
        }
        j += 1;
    }
    let Some(close) = close else { return vec![pattern.to_owned()] };
    let (pre, post) = (&pattern[..open], &pattern[close + 1..]);
    let mut bounds = vec![open];
    bounds.extend(&commas);
    bounds.push(close);
    let mut out = Vec::new();
    for w in bounds.windows(2) {
        let alt = &pattern[w[0] + 1..w[1]];
        for e in expand_braces(&format!("{pre}{alt}{post}")) {
            out.push(e);
        }
    }
    out
}

fn has_magic(s: &str) -> bool {
    s.bytes().any(|c| matches!(c, b'*' | b'?' | b'['))
}

fn unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut it = s.chars();
    while let Some(c) = it.next() {
        if c == '\\' {
            if let Some(n) = it.next() {
                out.push(n);
            }
        } else {
            out.push(c);
        }
    }
    out
}

fn glob_one<L: Loader + ?Sized>(loader: &L, pattern: &str, found: &mut Vec<String>, out: &mut GlobOutcome) {
    let abs = pattern.starts_with('/');
    let comps: Vec<&str> = pattern.split('/').filter(|c| !c.is_empty()).collect();
    if comps.is_empty() {
        if let Some(k) = loader.kind(pattern) {
            found.push(mark(pattern.to_owned(), k));
        }
        return;
    }
    let mut bases: Vec<String> = vec![if abs { "/".to_owned() } else { String::new() }];
    for (n, comp) in comps.iter().enumerate() {
        let last = n + 1 == comps.len();
        let mut next = Vec::new();
        for base in &bases {
            if has_magic(comp) {
                out.had_wildcards = true;
                let dir = if base.is_empty() { "." } else { base.as_str() };
                let Some(mut names) = loader.list_dir(dir) else {
                    out.missing += 1;
                    continue;
                };
                names.sort();
                for name in names {
                    if fnmatch(comp, &name) {
                        let p = join_comp(base, &name);
                        if last {
                            if let Some(k) = loader.kind(&p) {
                                next.push(mark(p, k));
                            }
                        } else if loader.kind(&p) == Some(FileKind::Directory) {
                            next.push(p);
                        }
                    }
                }
            } else {
                // glob(3) does not check directories without wildcards; it
                // opens them (or stats the last name) when it gets there.
                let p = join_comp(base, &unescape(comp));
                if last {
                    match loader.kind(&p) {
                        Some(k) => next.push(mark(p, k)),
                        None => out.missing += 1,
                    }
                } else {
                    next.push(p);
                }
            }
        }
        bases = next;
    }
    found.extend(bases);
}

fn join_comp(base: &str, name: &str) -> String {
    if base.is_empty() {
        name.to_owned()
    } else if base.ends_with('/') {
        format!("{base}{name}")
    } else {
        format!("{base}/{name}")
    }
}

fn mark(p: String, k: FileKind) -> String {
    if k == FileKind::Directory && !p.ends_with('/') { format!("{p}/") } else { p }
}

/// Shell wildcard matching of one path component as `fnmatch(3)` with
/// `FNM_PERIOD`: `*`, `?`, `[...]` (with `!` or `^` negation and ranges) and
/// `\` escapes; a leading `.` in `name` must be matched by a literal `.`.
pub fn fnmatch(pattern: &str, name: &str) -> bool {
    if name.starts_with('.') && !pattern.starts_with('.') && !pattern.starts_with("\\.") {
        return false;
    }
    let p: Vec<char> = pattern.chars().collect();
    let n: Vec<char> = name.chars().collect();
    fn rec(p: &[char], n: &[char]) -> bool {
        let (mut pi, mut ni) = (0, 0);
        let (mut star_p, mut star_n) = (usize::MAX, 0);
        while ni < n.len() {
            if pi < p.len() {
                match p[pi] {
                    '*' => {
                        star_p = pi;
                        star_n = ni;
                        pi += 1;
                        continue;
                    }
                    '?' => {
                        pi += 1;
                        ni += 1;
                        continue;
                    }
                    '[' => {
                        if let Some((matched, len)) = class(&p[pi..], n[ni]) {
                            if matched {
                                pi += len;
                                ni += 1;
                                continue;
                            }
                        } else if n[ni] == '[' {
                            pi += 1;
                            ni += 1;
                            continue;
                        }
                    }
                    '\\' if pi + 1 < p.len() => {
                        if p[pi + 1] == n[ni] {
                            pi += 2;
                            ni += 1;
                            continue;
                        }
                    }
                    c => {
                        if c == n[ni] {
                            pi += 1;
                            ni += 1;
                            continue;
                        }
                    }
                }
            }
            if star_p != usize::MAX {
                pi = star_p + 1;
                star_n += 1;
                ni = star_n;
                continue;
            }
            return false;
        }
        while pi < p.len() && p[pi] == '*' {
            pi += 1;
        }
        pi == p.len()
    }
    rec(&p, &n)
}

/// Matches `c` against a bracket expression at the start of `p`; returns
/// whether it matched and the expression's length, or `None` if `p` does not
/// hold a complete bracket expression.
fn class(p: &[char], c: char) -> Option<(bool, usize)> {
    let mut i = 1;
    let negate = matches!(p.get(i), Some('!') | Some('^'));
    if negate {
        i += 1;
    }
    let mut matched = false;
    let mut first = true;
    loop {
        let ch = *p.get(i)?;
        if ch == ']' && !first {
            return Some((matched != negate, i + 1));
        }
        first = false;
        let lo = if ch == '\\' {
            i += 1;
            *p.get(i)?
        } else {
            ch
        };
        if p.get(i + 1) == Some(&'-') && p.get(i + 2).is_some_and(|&h| h != ']') {
            let hi = p[i + 2];
            if lo <= c && c <= hi {
                matched = true;
            }
            i += 3;
        } else {
            if lo == c {
                matched = true;
            }
            i += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnmatch_basics() {
        assert!(fnmatch("*.conf", "a.conf"));
        assert!(!fnmatch("*.conf", ".hidden.conf"));
        assert!(fnmatch(".*", ".hidden"));
        assert!(fnmatch("vs[0-9].conf", "vs3.conf"));
        assert!(!fnmatch("vs[!0-9].conf", "vs3.conf"));
        assert!(fnmatch("a?c", "abc"));
        assert!(fnmatch("a\\*c", "a*c"));
        assert!(!fnmatch("a\\*c", "abc"));
        assert!(fnmatch("*", "x"));
        assert!(fnmatch("a*b*c", "axxbyyc"));
        assert!(!fnmatch("a*b*c", "axxbyy"));
    }

    #[test]
    fn braces_expand_in_order() {
        assert_eq!(expand_braces("a{b,c{d,e}}f"), ["abf", "acdf", "acef"]);
        assert_eq!(expand_braces("x{y"), ["x{y"]);
        assert_eq!(expand_braces("/e/{1,2}.conf"), ["/e/1.conf", "/e/2.conf"]);
        assert!(has_brace("a{b}") && !has_brace("a\\{b"));
    }

    #[test]
    fn glob_over_memory() {
        let l = MemoryLoader::new()
            .with("/e/k.conf", "")
            .with("/e/d/b.conf", "")
            .with("/e/d/a.conf", "")
            .with("/e/d/.x.conf", "")
            .with("/e/d/sub/c.conf", "");
        let g = glob(&l, "/e/d/*.conf");
        assert_eq!(g.matches, ["/e/d/a.conf", "/e/d/b.conf"]);
        assert!(g.had_wildcards && g.missing == 0);
        let g = glob(&l, "/e/d/*");
        assert_eq!(g.matches, ["/e/d/a.conf", "/e/d/b.conf", "/e/d/sub/"]);
        let g = glob(&l, "/e/missing.conf");
        assert_eq!((g.matches.len(), g.missing), (0, 1));
        let g = glob(&l, "/nodir/*.conf");
        assert_eq!((g.matches.len(), g.missing, g.had_wildcards), (0, 1, true));
        let g = glob(&l, "/e/{k,zz}.conf");
        assert_eq!((g.matches, g.missing), (vec!["/e/k.conf".to_owned()], 1));
        let g = glob(&l, "/e/*/c.conf");
        assert!(g.matches.is_empty());
        let g = glob(&l, "/e/d/*/c.conf");
        assert_eq!(g.matches, ["/e/d/sub/c.conf"]);
    }

    #[test]
    fn paths() {
        assert_eq!(normalize("/a/./b//c/../d/"), "/a/b/d");
        assert_eq!(normalize("a/../../b"), "../b");
        assert_eq!(parent_dir("/etc/k.conf"), "/etc");
        assert_eq!(parent_dir("k.conf"), "");
        assert_eq!(parent_dir("/k.conf"), "/");
        assert_eq!(join("/etc", "x.conf"), "/etc/x.conf");
        assert_eq!(join("/etc", "/y"), "/y");
        assert_eq!(join("", "z"), "z");
    }
}
