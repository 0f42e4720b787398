//! Finding the line of a key path (`services.web.ports[1]`) in YAML text.
//!
//! serde_yaml keeps line and column for syntax errors, but a value carries
//! no position once parsed; errors found later (a wrong type, a reference
//! to an undefined service) know the key path instead. Compose files are
//! block-style YAML, so following indentation finds the line: each key is
//! searched among the lines indented deeper than its parent, up to the
//! parent's end; a sequence index counts `- ` items at the child level.

/// One step of a key path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Segment {
    Key(String),
    Index(usize),
}

/// Splits `services.web.ports[1]` into segments. Keys containing dots
/// cannot be told apart here; the path printer quotes nothing, as
/// serde_path_to_error does.
pub fn parse_path(path: &str) -> Vec<Segment> {
    let mut out = Vec::new();
    for part in path.split('.') {
        let (key, mut rest) = match part.find('[') {
            Some(i) => (&part[..i], &part[i..]),
            None => (part, ""),
        };
        if !key.is_empty() {
            out.push(Segment::Key(key.to_string()));
        }
        while let Some(r) = rest.strip_prefix('[') {
            let Some(end) = r.find(']') else { break };
            if let Ok(i) = r[..end].parse() {
                out.push(Segment::Index(i));
            }
            rest = &r[end + 1..];
        }
    }
    out
}

/// The 1-based line where `path` is, as deep as it can be followed.
pub fn line_of(text: &str, path: &[Segment]) -> Option<usize> {
    let lines: Vec<&str> = text.lines().collect();
    // The block being searched starts at `start`; its children are deeper
    // than `parent_indent`, and it ends at the first line that is not.
    let mut start = 0usize;
    let mut parent_indent: isize = -1;
    let mut found = None;
    for seg in path {
        let mut hit = None;
        let mut index = 0usize;
        let mut child_indent: Option<usize> = None;
        let mut i = start;
        while i < lines.len() {
            let line = lines[i];
            let trimmed = line.trim_start();
            if trimmed.is_empty() || trimmed.starts_with('#') {
                i += 1;
                continue;
            }
            let indent = line.len() - trimmed.len();
            if (indent as isize) <= parent_indent {
                break;
            }
            let level = *child_indent.get_or_insert(indent);
            if indent == level {
                match seg {
                    Segment::Key(k) => {
                        let body = trimmed.strip_prefix("- ").unwrap_or(trimmed);
                        if key_of(body).is_some_and(|key| key == k) {
                            hit = Some((i, indent));
                            break;
                        }
                    }
                    Segment::Index(n) => {
                        if trimmed.starts_with("- ") || trimmed == "-" {
                            if index == *n {
                                hit = Some((i, indent));
                                break;
                            }
                            index += 1;
                        }
                    }
                }
            }
            i += 1;
        }
        let Some((line, indent)) = hit else {
            return found;
        };
        found = Some(line + 1);
        // The child block runs until a line at this indentation or less;
        // a `- key:` item's children are indented past the dash.
        // (a `- key:` item's keys sit past the dash, deeper than it).
        start = line + 1;
        parent_indent = indent as isize;
    }
    found
}

/// The key of a `key: value` line (quotes removed).
fn key_of(body: &str) -> Option<&str> {
    let colon = body.find(':')?;
    let key = body[..colon].trim();
    let key = key
        .strip_prefix('"')
        .and_then(|k| k.strip_suffix('"'))
        .or_else(|| key.strip_prefix('\'').and_then(|k| k.strip_suffix('\'')))
        .unwrap_or(key);
    Some(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "\
version: '3'
services:
  web:
    image: x
    ports:
      - \"80:80\"
      - target: 81
        published: 82
  db:
    image: y
    environment:
      A: 1
";

    #[test]
    fn finds_keys_and_items() {
        let at = |p: &str| line_of(TEXT, &parse_path(p));
        assert_eq!(at("services"), Some(2));
        assert_eq!(at("services.web"), Some(3));
        assert_eq!(at("services.web.ports"), Some(5));
        assert_eq!(at("services.web.ports[0]"), Some(6));
        assert_eq!(at("services.web.ports[1]"), Some(7));
        assert_eq!(at("services.web.ports[1].published"), Some(8));
        assert_eq!(at("services.db.environment.A"), Some(12));
        // Not found below web: the deepest found line.
        assert_eq!(at("services.web.environment"), Some(3));
    }
}
