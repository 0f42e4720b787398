//! `.env` files (the project's `.env`, `--env-file`, and a service's
//! `env_file`), with Compose's rules: `KEY=VALUE` per line, an optional
//! `export ` prefix, `#` comments (inline only after whitespace in an
//! unquoted value), single quotes literal, double quotes with `\n`, `\t`,
//! `\"`, `\\` escapes and interpolation, unquoted values trimmed and
//! interpolated. Interpolation sees the variables defined above in the same
//! file, then the outer lookup.

use std::collections::BTreeMap;
use std::path::Path;

use crate::interpolate::interpolate;
use crate::{Error, Result};

/// Parses the env file at `path`; variables are interpolated against what
/// the file defined before, then `outer`.
pub fn read(path: &Path, outer: &dyn Fn(&str) -> Option<String>) -> Result<Vec<(String, String)>> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::Io {
        path: path.to_path_buf(),
        source: e,
    })?;
    parse(&text, outer).map_err(|(line, message)| Error::EnvFile {
        path: path.to_path_buf(),
        line,
        message,
    })
}

/// Parses env-file text; an error is `(line number, message)`.
pub fn parse(
    text: &str,
    outer: &dyn Fn(&str) -> Option<String>,
) -> std::result::Result<Vec<(String, String)>, (usize, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    let mut lines = text.lines().enumerate();
    while let Some((n, raw)) = lines.next() {
        let line_no = n + 1;
        let line = raw.trim_start();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let line = line.strip_prefix("export ").map_or(line, str::trim_start);
        let (key, value) = match line.split_once('=') {
            Some((k, v)) => (k.trim_end(), Some(v)),
            None => (line.trim_end(), None),
        };
        if key.is_empty()
            || !key
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
        {
            return Err((line_no, format!("invalid variable name {key:?}")));
        }
        let Some(value) = value else {
            // `KEY` alone: taken from the outer environment, if set.
            if let Some(v) = outer(key) {
                out.push((key.to_string(), v));
            }
            continue;
        };
        let seen = out.clone();
        let lookup = |k: &str| {
            seen.iter()
                .rev()
                .find(|(name, _)| name == k)
                .map(|(_, v)| v.clone())
                .or_else(|| outer(k))
        };
        let value = value.trim_start();
        let parsed = if let Some(rest) = value.strip_prefix('\'') {
            let mut body = rest.to_string();
            // A single-quoted value may span lines.
            while !body.contains('\'') {
                let Some((_, more)) = lines.next() else {
                    return Err((line_no, "unterminated single-quoted value".into()));
                };
                body.push('\n');
                body.push_str(more);
            }
            let end = body.find('\'').expect("checked above");
            body[..end].to_string()
        } else if let Some(rest) = value.strip_prefix('"') {
            let mut body = rest.to_string();
            let end = loop {
                if let Some(end) = closing_double_quote(&body) {
                    break end;
                }
                let Some((_, more)) = lines.next() else {
                    return Err((line_no, "unterminated double-quoted value".into()));
                };
                body.push('\n');
                body.push_str(more);
            };
            let unescaped = unescape(&body[..end]);
            interpolate(&unescaped, &lookup).map_err(|e| (line_no, e.to_string()))?
        } else {
            let value = match value.find(" #").or_else(|| value.find("\t#")) {
                Some(i) => &value[..i],
                None => value,
            };
            interpolate(value.trim_end(), &lookup).map_err(|e| (line_no, e.to_string()))?
        };
        out.push((key.to_string(), parsed));
    }
    Ok(out)
}

fn closing_double_quote(body: &str) -> Option<usize> {
    let mut escaped = false;
    for (i, c) in body.char_indices() {
        match c {
            '\\' if !escaped => escaped = true,
            '"' if !escaped => return Some(i),
            _ => escaped = false,
        }
    }
    None
}

fn unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some('t') => out.push('\t'),
            Some('r') => out.push('\r'),
            Some(other) => out.push(other),
            None => out.push('\\'),
        }
    }
    out
}

/// The entries as a map (a later entry wins).
pub fn to_map(entries: Vec<(String, String)>) -> BTreeMap<String, String> {
    entries.into_iter().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(text: &str) -> Vec<(String, String)> {
        parse(text, &|k| (k == "OUTER").then(|| "out".to_string())).unwrap()
    }

    #[test]
    fn rules() {
        let got = p(
            "# comment\n\nA=1\nexport B = two words \nC='lit $A # x'\nD=\"q\\n$A\"\n\
                     E=v # comment\nF=v#not-comment\nG=${A}-${OUTER}\nOUTER\nH=\nI=${NOPE:-dflt}\n",
        );
        let want = [
            ("A", "1"),
            ("B", "two words"),
            ("C", "lit $A # x"),
            ("D", "q\n1"),
            ("E", "v"),
            ("F", "v#not-comment"),
            ("G", "1-out"),
            ("OUTER", "out"),
            ("H", ""),
            ("I", "dflt"),
        ];
        let want: Vec<(String, String)> = want
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        assert_eq!(got, want);
    }

    #[test]
    fn multiline_and_errors() {
        assert_eq!(p("A=\"one\ntwo\"\nB=3")[0].1, "one\ntwo");
        let err = parse("A=1\nBAD KEY=2\n", &|_| None).unwrap_err();
        assert_eq!(err.0, 2);
        let err = parse("A=${B:?needed}\n", &|_| None).unwrap_err();
        assert!(err.1.contains("needed"), "{err:?}");
        assert!(parse("A='open\n", &|_| None).is_err());
    }
}
