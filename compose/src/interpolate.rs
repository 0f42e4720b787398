//! Variable interpolation in compose files, as the compose specification
//! defines it: `$VAR`, `${VAR}`, `${VAR:-default}` / `${VAR-default}`
//! (default when unset-or-empty / unset), `${VAR:?message}` /
//! `${VAR?message}` (an error), `${VAR:+alt}` / `${VAR+alt}` (alt when set),
//! `$$` for a literal `$`. Defaults and alternatives may themselves hold
//! variables (`${A:-${B}}`).

/// Why a string could not be interpolated.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InterpolationError {
    /// `${VAR:?message}` with VAR unset (or empty).
    #[error("required variable {name} is missing a value: {message}")]
    Required { name: String, message: String },
    /// `${` without its `}`, or an invalid name.
    #[error("invalid interpolation format for {text:?}: {reason}")]
    Syntax { text: String, reason: &'static str },
}

/// Interpolates `text` with `lookup` (None: unset).
pub fn interpolate(
    text: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<String, InterpolationError> {
    let mut out = String::with_capacity(text.len());
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] != b'$' {
            // Copy the whole run of non-`$` bytes (keeps UTF-8 intact).
            let next = text[i..].find('$').map_or(text.len(), |n| i + n);
            out.push_str(&text[i..next]);
            i = next;
            continue;
        }
        match bytes.get(i + 1) {
            Some(b'$') => {
                out.push('$');
                i += 2;
            }
            Some(b'{') => {
                let end = closing_brace(text, i + 2).ok_or_else(|| InterpolationError::Syntax {
                    text: text.to_string(),
                    reason: "missing closing brace",
                })?;
                out.push_str(&braced(&text[i + 2..end], text, lookup)?);
                i = end + 1;
            }
            Some(c) if c.is_ascii_alphabetic() || *c == b'_' => {
                let start = i + 1;
                let mut end = start;
                while end < bytes.len()
                    && (bytes[end].is_ascii_alphanumeric() || bytes[end] == b'_')
                {
                    end += 1;
                }
                out.push_str(&lookup(&text[start..end]).unwrap_or_default());
                i = end;
            }
            // A lone `$` (end of text, or before a character that cannot
            // start a name) stays as it is, as Compose does.
            _ => {
                out.push('$');
                i += 1;
            }
        }
    }
    Ok(out)
}

/// The index of the `}` that closes a `${` whose body starts at `from`,
/// counting nested `${…}`.
fn closing_brace(text: &str, from: usize) -> Option<usize> {
    let bytes = text.as_bytes();
    let mut depth = 0usize;
    let mut i = from;
    while i < bytes.len() {
        match bytes[i] {
            b'$' if bytes.get(i + 1) == Some(&b'{') => {
                depth += 1;
                i += 2;
                continue;
            }
            b'$' if bytes.get(i + 1) == Some(&b'$') => {
                i += 2;
                continue;
            }
            b'}' if depth == 0 => return Some(i),
            b'}' => depth -= 1,
            _ => {}
        }
        i += 1;
    }
    None
}

/// The body of `${…}`.
fn braced(
    body: &str,
    whole: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<String, InterpolationError> {
    let name_end = body
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .unwrap_or(body.len());
    let name = &body[..name_end];
    let syntax = |reason| InterpolationError::Syntax {
        text: whole.to_string(),
        reason,
    };
    if name.is_empty() || name.as_bytes()[0].is_ascii_digit() {
        return Err(syntax("a variable name must start with a letter or `_`"));
    }
    let rest = &body[name_end..];
    let value = lookup(name);
    let set = value.is_some();
    let non_empty = value.as_deref().is_some_and(|v| !v.is_empty());
    let (op, arg) = if let Some(a) = rest.strip_prefix(":-") {
        (":-", a)
    } else if let Some(a) = rest.strip_prefix(":?") {
        (":?", a)
    } else if let Some(a) = rest.strip_prefix(":+") {
        (":+", a)
    } else if let Some(a) = rest.strip_prefix('-') {
        ("-", a)
    } else if let Some(a) = rest.strip_prefix('?') {
        ("?", a)
    } else if let Some(a) = rest.strip_prefix('+') {
        ("+", a)
    } else if rest.is_empty() {
        ("", "")
    } else {
        return Err(syntax("unexpected character after the variable name"));
    };
    let nested = |a: &str| interpolate(a, lookup);
    Ok(match op {
        "" => value.unwrap_or_default(),
        ":-" if non_empty => value.unwrap_or_default(),
        ":-" => nested(arg)?,
        "-" if set => value.unwrap_or_default(),
        "-" => nested(arg)?,
        ":?" | "?" => {
            let ok = if op == ":?" { non_empty } else { set };
            if !ok {
                return Err(InterpolationError::Required {
                    name: name.to_string(),
                    message: nested(arg)?,
                });
            }
            value.unwrap_or_default()
        }
        ":+" if non_empty => nested(arg)?,
        "+" if set => nested(arg)?,
        _ => String::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(text: &str) -> Result<String, InterpolationError> {
        let lookup = |k: &str| match k {
            "SET" => Some("value".to_string()),
            "EMPTY" => Some(String::new()),
            "PORT" => Some("5000".to_string()),
            _ => None,
        };
        interpolate(text, &lookup)
    }

    #[test]
    fn forms() {
        assert_eq!(env("$SET").unwrap(), "value");
        assert_eq!(env("${SET}").unwrap(), "value");
        assert_eq!(env("a${SET}b$SET.c").unwrap(), "avaluebvalue.c");
        assert_eq!(env("${UNSET}").unwrap(), "");
        assert_eq!(env("${UNSET:-d}").unwrap(), "d");
        assert_eq!(env("${EMPTY:-d}").unwrap(), "d");
        assert_eq!(env("${EMPTY-d}").unwrap(), "");
        assert_eq!(env("${UNSET-d}").unwrap(), "d");
        assert_eq!(env("${SET:+alt}").unwrap(), "alt");
        assert_eq!(env("${EMPTY:+alt}").unwrap(), "");
        assert_eq!(env("${EMPTY+alt}").unwrap(), "alt");
        assert_eq!(env("${UNSET:-${PORT}}:5000").unwrap(), "5000:5000");
        assert_eq!(env("${UNSET:-a-b c}").unwrap(), "a-b c");
        assert_eq!(env("$$SET $${X}").unwrap(), "$SET ${X}");
        assert_eq!(env("price $5 and $").unwrap(), "price $5 and $");
    }

    #[test]
    fn required_and_syntax_errors() {
        assert_eq!(
            env("${UNSET:?set UNSET first}").unwrap_err(),
            InterpolationError::Required {
                name: "UNSET".into(),
                message: "set UNSET first".into()
            }
        );
        assert!(env("${EMPTY:?x}").is_err());
        assert_eq!(env("${EMPTY?x}").unwrap(), "");
        assert!(matches!(
            env("${SET").unwrap_err(),
            InterpolationError::Syntax { .. }
        ));
        assert!(matches!(
            env("${9X}").unwrap_err(),
            InterpolationError::Syntax { .. }
        ));
        assert!(matches!(
            env("${A B}").unwrap_err(),
            InterpolationError::Syntax { .. }
        ));
    }
}
