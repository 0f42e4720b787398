//! `.dockerignore` with Docker's rules (moby's `patternmatcher`): one
//! pattern a line, `#` comments, paths cleaned and taken relative to the
//! context root, `*`/`?`/`[…]` within a path segment, `**` across any number
//! of segments, `!` exceptions; the last pattern that matches a path (or any
//! of its parent directories) decides.

/// One cleaned pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Pattern {
    segments: Vec<String>,
    exclusion: bool,
}

/// The patterns of one `.dockerignore`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Ignore {
    patterns: Vec<Pattern>,
}

impl Ignore {
    /// Reads `.dockerignore` text; `Err` names the line of a bad pattern.
    pub fn parse(text: &str) -> Result<Ignore, String> {
        let mut patterns = Vec::new();
        for (i, raw) in text.lines().enumerate() {
            let line = raw.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (exclusion, body) = match line.strip_prefix('!') {
                Some(b) => (true, b.trim()),
                None => (false, line),
            };
            let cleaned = clean(body);
            if cleaned.is_empty() || cleaned == "." {
                if exclusion {
                    continue;
                }
                // "." or "/" ignores nothing useful in Docker either.
                continue;
            }
            let segments: Vec<String> = cleaned.split('/').map(str::to_owned).collect();
            for s in &segments {
                if let Err(e) = check_segment(s) {
                    return Err(format!(".dockerignore line {}: {e}: {raw:?}", i + 1));
                }
            }
            patterns.push(Pattern {
                segments,
                exclusion,
            });
        }
        Ok(Ignore { patterns })
    }

    /// Whether there is any `!` exception (a directory that is excluded
    /// must then still be walked).
    pub fn has_exceptions(&self) -> bool {
        self.patterns.iter().any(|p| p.exclusion)
    }

    /// Whether `path` (relative to the context root, `/`-separated) is
    /// excluded from the context.
    pub fn excluded(&self, path: &str) -> bool {
        let parts: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
        let mut matched = false;
        for p in &self.patterns {
            // The path itself or any parent directory.
            let hit = (1..=parts.len()).any(|n| match_segments(&p.segments, &parts[..n]));
            if hit {
                matched = !p.exclusion;
            }
        }
        matched
    }
}

/// Go's `filepath.Clean` on a `/` path, made relative.
pub(crate) fn clean(p: &str) -> String {
    let mut out: Vec<&str> = Vec::new();
    for seg in p.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                out.pop();
            }
            s => out.push(s),
        }
    }
    out.join("/")
}

fn check_segment(s: &str) -> Result<(), String> {
    let mut chars = s.chars();
    let mut in_class = false;
    while let Some(c) = chars.next() {
        match c {
            '\\' if chars.next().is_none() => {
                return Err("syntax error in pattern (trailing backslash)".into());
            }
            '[' if !in_class => in_class = true,
            ']' if in_class => in_class = false,
            _ => {}
        }
    }
    if in_class {
        return Err("syntax error in pattern (unclosed [)".into());
    }
    Ok(())
}

fn match_segments(pat: &[String], path: &[&str]) -> bool {
    match pat.split_first() {
        None => path.is_empty(),
        Some((first, rest)) if first == "**" => {
            (0..=path.len()).any(|skip| match_segments(rest, &path[skip..]))
        }
        Some((first, rest)) => match path.split_first() {
            Some((p, prest)) => glob_match(first, p) && match_segments(rest, prest),
            None => false,
        },
    }
}

/// Go's `filepath.Match` for one segment: `*`, `?`, `[a-z]`, `[^…]`, `\x`.
pub(crate) fn glob_match(pattern: &str, name: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let n: Vec<char> = name.chars().collect();
    glob_at(&p, &n)
}

fn glob_at(p: &[char], n: &[char]) -> bool {
    let Some((&c, prest)) = p.split_first() else {
        return n.is_empty();
    };
    match c {
        '*' => (0..=n.len()).any(|i| glob_at(prest, &n[i..])),
        '?' => !n.is_empty() && glob_at(prest, &n[1..]),
        '[' => {
            let Some((&ch, nrest)) = n.split_first() else {
                return false;
            };
            let mut i = 0;
            let negate = matches!(prest.first(), Some('^' | '!'));
            if negate {
                i = 1;
            }
            let mut hit = false;
            let mut first = true;
            while i < prest.len() && (prest[i] != ']' || first) {
                first = false;
                let mut lo = prest[i];
                if lo == '\\' && i + 1 < prest.len() {
                    i += 1;
                    lo = prest[i];
                }
                let mut hi = lo;
                if i + 2 < prest.len() && prest[i + 1] == '-' && prest[i + 2] != ']' {
                    hi = prest[i + 2];
                    i += 2;
                }
                if lo <= ch && ch <= hi {
                    hit = true;
                }
                i += 1;
            }
            if i >= prest.len() {
                return false;
            }
            hit != negate && glob_at(&prest[i + 1..], nrest)
        }
        '\\' if !prest.is_empty() => {
            !n.is_empty() && n[0] == prest[0] && glob_at(&prest[1..], &n[1..])
        }
        c => !n.is_empty() && n[0] == c && glob_at(prest, &n[1..]),
    }
}

/// Whether a COPY source holds glob characters.
pub(crate) fn has_glob(s: &str) -> bool {
    s.contains(['*', '?', '['])
}

/// Matches a cleaned, `/`-separated path against a cleaned COPY source
/// pattern segment by segment (`*` never crosses `/`).
pub(crate) fn path_match(pattern: &str, path: &str) -> bool {
    let ps: Vec<String> = pattern.split('/').map(str::to_owned).collect();
    let parts: Vec<&str> = path.split('/').collect();
    ps.len() == parts.len() && ps.iter().zip(&parts).all(|(p, s)| glob_match(p, s))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lecture_ignore_file() {
        let i = Ignore::parse("__pycache__/\n*.pyc\n").unwrap();
        assert!(i.excluded("__pycache__"));
        assert!(i.excluded("__pycache__/app.cpython-311.pyc"));
        assert!(i.excluded("x.pyc"));
        // `*` stays within a segment: nested .pyc files need `**`.
        assert!(!i.excluded("pkg/x.pyc"));
        assert!(!i.excluded("app.py"));
    }

    #[test]
    fn exceptions_and_double_star() {
        let i =
            Ignore::parse("# comment\n*.md\n!README.md\ndocs\n!docs/keep.txt\n**/*.log\n").unwrap();
        assert!(i.excluded("NOTES.md"));
        assert!(!i.excluded("README.md"));
        assert!(i.excluded("docs/a.txt"));
        assert!(!i.excluded("docs/keep.txt"));
        assert!(i.excluded("a/b/c.log"));
        assert!(i.excluded("c.log"));
        assert!(i.has_exceptions());
    }

    #[test]
    fn later_patterns_win_and_paths_are_cleaned() {
        let i = Ignore::parse("!keep\n/build/../tmp\nkeep\n").unwrap();
        assert!(i.excluded("tmp/x"));
        assert!(i.excluded("keep"));
    }

    #[test]
    fn globs() {
        assert!(glob_match("a[0-9]?", "a5x"));
        assert!(!glob_match("a[^0-9]", "a5"));
        assert!(glob_match("\\*", "*"));
        assert!(path_match("src/*.py", "src/app.py"));
        assert!(!path_match("*.py", "src/app.py"));
        assert!(Ignore::parse("a[b").is_err());
    }
}
