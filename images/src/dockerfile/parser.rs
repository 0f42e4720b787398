//! The Dockerfile's line structure, as BuildKit's `parser` package reads
//! it: parser directives, comments, line continuations, heredocs, and each
//! instruction's arguments split the way that instruction wants them (JSON
//! array, whitespace-separated list, `key=value` pairs, a raw string).
//!
//! The result is an untyped tree of [`Node`]s that prints exactly like
//! BuildKit's `Node.Dump()`, so the corpus in `testfiles/*/result` can be
//! compared byte for byte. Typing the instructions (and rejecting unknown
//! ones) is [`super::instructions`]' job.

use super::ParseError;

/// One instruction, or one argument in an instruction's chain.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Node {
    /// The instruction as written (`RUN`, `copy`) or an argument.
    pub value: String,
    /// `--flag[=value]` words before the arguments.
    pub flags: Vec<String>,
    /// The arguments, in order.
    pub next: Vec<Node>,
    /// ONBUILD's nested instruction.
    pub children: Vec<Node>,
    /// Whether the arguments were a JSON array (exec form).
    pub json: bool,
    /// The instruction line after continuations were joined.
    pub original: String,
    /// 1-based first and last line of the instruction in the file.
    pub start_line: usize,
    pub end_line: usize,
    /// Here-documents that follow the instruction (`RUN <<EOF`).
    pub heredocs: Vec<Heredoc>,
}

/// A here-document: its delimiter name and the lines up to the delimiter.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Heredoc {
    pub name: String,
    pub content: String,
    /// `<<-`: leading tabs are stripped.
    pub chomp: bool,
    /// Unquoted delimiter: the content is expanded.
    pub expand: bool,
    /// The file descriptor written before `<<` (`3<<EOF`), if any.
    pub file_descriptor: u32,
}

/// The whole file: its instructions and parser directives.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Ast {
    pub children: Vec<Node>,
    pub escape: char,
    /// `# syntax=` when given.
    pub syntax: Option<String>,
    /// Lines that were continuation lines with nothing on them (BuildKit
    /// warns about these).
    pub empty_continuation_lines: Vec<usize>,
}

impl Ast {
    /// BuildKit's `Node.Dump()` of the root: one `(instruction …)` line each.
    pub fn dump(&self) -> String {
        let mut out = String::new();
        for c in &self.children {
            out.push('(');
            out.push_str(&c.dump());
            out.push_str(")\n");
        }
        out
    }
}

impl Node {
    /// BuildKit's `Node.Dump()`: lower-cased instruction, Go-quoted flags
    /// and arguments.
    pub fn dump(&self) -> String {
        let mut s = self.value.to_lowercase();
        if !self.flags.is_empty() {
            s.push_str(" [");
            let q: Vec<String> = self.flags.iter().map(|f| go_quote(f)).collect();
            s.push_str(&q.join(" "));
            s.push(']');
        }
        for c in &self.children {
            s.push('(');
            s.push_str(&c.dump());
            s.push_str(")\n");
        }
        for n in &self.next {
            s.push(' ');
            if n.children.is_empty() {
                s.push_str(&go_quote(&n.value));
            } else {
                s.push_str(&n.dump());
            }
        }
        s.trim().to_owned()
    }

    /// The argument values, in order.
    pub fn args(&self) -> Vec<String> {
        self.next.iter().map(|n| n.value.clone()).collect()
    }
}

/// Go's `strconv.Quote`: printable characters as they are, the usual
/// backslash escapes, `\xNN`/`\uNNNN`/`\UNNNNNNNN` for the rest.
pub fn go_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{7}' => out.push_str("\\a"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{b}' => out.push_str("\\v"),
            c if is_go_printable(c) => out.push(c),
            c if (c as u32) < 0x80 => out.push_str(&format!("\\x{:02x}", c as u32)),
            c if (c as u32) < 0x10000 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push_str(&format!("\\U{:08x}", c as u32)),
        }
    }
    out.push('"');
    out
}

/// An approximation of Go's `unicode.IsPrint`: letters, marks, numbers,
/// punctuation, symbols and the ASCII space.
fn is_go_printable(c: char) -> bool {
    if c == ' ' {
        return true;
    }
    !(c.is_control()
        || c.is_whitespace()
        || matches!(c as u32, 0xad | 0x200b..=0x200f | 0x2028..=0x202e | 0x2060..=0x206f | 0xfeff | 0xfff9..=0xfffb | 0xe000..=0xf8ff))
}

/// Go's `unicode.IsSpace` on a char.
fn is_space(c: char) -> bool {
    matches!(
        c,
        '\t' | '\n' | '\u{b}' | '\u{c}' | '\r' | ' ' | '\u{85}' | '\u{a0}'
    ) || c.is_whitespace()
}

/// BuildKit's `reWhitespace` (`[\t\v\f\r ]+`) split into at most `n` parts
/// (`n == 0`: unlimited).
fn split_ws(s: &str, n: usize) -> Vec<String> {
    let is_ws = |c: char| matches!(c, '\t' | '\u{b}' | '\u{c}' | '\r' | ' ');
    let mut parts = Vec::new();
    let mut rest = s;
    loop {
        if n != 0 && parts.len() == n - 1 {
            parts.push(rest.to_owned());
            return parts;
        }
        match rest.find(is_ws) {
            Some(i) => {
                parts.push(rest[..i].to_owned());
                let after = &rest[i..];
                let skip = after.len() - after.trim_start_matches(is_ws).len();
                rest = &after[skip..];
            }
            None => {
                parts.push(rest.to_owned());
                return parts;
            }
        }
    }
}

/// Parser directives (`# escape=`, `# syntax=`, `# check=`), read only at
/// the top of the file.
struct Directives {
    escape: char,
    done: bool,
    seen: Vec<String>,
    syntax: Option<String>,
}

impl Directives {
    /// Looks at one line for a directive; the first line that is not one
    /// ends the directive section.
    fn possible_directive(&mut self, line: &str, line_no: usize) -> Result<(), ParseError> {
        if self.done {
            return Ok(());
        }
        let Some((name, value)) = match_directive(line) else {
            self.done = true;
            return Ok(());
        };
        let key = name.to_lowercase();
        if !matches!(key.as_str(), "escape" | "syntax" | "check") {
            self.done = true;
            return Ok(());
        }
        if self.seen.contains(&key) {
            return Err(ParseError::at(
                line_no,
                1,
                format!("only one {key} parser directive can be used"),
            ));
        }
        self.seen.push(key.clone());
        match key.as_str() {
            "escape" => match value.as_str() {
                "\\" => self.escape = '\\',
                "`" => self.escape = '`',
                other => {
                    return Err(ParseError::at(
                        line_no,
                        1,
                        format!("invalid escape token '{other}' does not match ` or \\"),
                    ));
                }
            },
            "syntax" => self.syntax = Some(value),
            _ => {}
        }
        Ok(())
    }

    /// Removes a trailing escape-then-blanks; `true` when the line ends the
    /// instruction (no continuation).
    fn trim_continuation<'a>(&self, line: &'a str) -> (&'a str, bool) {
        // BuildKit's `([^\\]|^)\\[ \t]*$`: an escape at the end, not itself
        // escaped (`trailing\\` ends the line).
        let trimmed = line.trim_end_matches([' ', '\t']);
        match trimmed.strip_suffix(self.escape) {
            Some(stripped) if !stripped.ends_with(self.escape) => (stripped, false),
            _ => (line, true),
        }
    }
}

/// `^#\s*([a-zA-Z][a-zA-Z0-9]*)\s*=\s*(.+?)\s*$`
fn match_directive(line: &str) -> Option<(String, String)> {
    let rest = line.strip_prefix('#')?.trim_start();
    let name_len = rest
        .char_indices()
        .take_while(|(i, c)| {
            if *i == 0 {
                c.is_ascii_alphabetic()
            } else {
                c.is_ascii_alphanumeric()
            }
        })
        .count();
    if name_len == 0 {
        return None;
    }
    let name = &rest[..name_len];
    let rest = rest[name_len..].trim_start().strip_prefix('=')?;
    let value = rest.trim();
    if value.is_empty() {
        return None;
    }
    Some((name.to_owned(), value.to_owned()))
}

fn is_comment(line: &str) -> bool {
    line.trim_start_matches(is_space).starts_with('#')
}

/// BuildKit's `processLine`: optionally strips leading blanks, and a
/// comment line becomes empty.
fn process_line(line: &str, strip_left: bool) -> &str {
    let l = if strip_left {
        line.trim_start_matches(is_space)
    } else {
        line
    };
    if is_comment(l) { "" } else { l }
}

/// Parses a whole Dockerfile.
pub fn parse(text: &str) -> Result<Ast, ParseError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    // bufio.ScanLines: split on \n, drop one trailing \r.
    let mut lines: Vec<&str> = text.split('\n').collect();
    if text.ends_with('\n') || text.is_empty() {
        lines.pop();
    }
    let lines: Vec<&str> = lines
        .into_iter()
        .map(|l| l.strip_suffix('\r').unwrap_or(l))
        .collect();

    let mut d = Directives {
        escape: '\\',
        done: false,
        seen: Vec::new(),
        syntax: None,
    };
    let mut ast = Ast::default();
    let mut i = 0;
    let mut current_line = 0;
    while i < lines.len() {
        let raw = lines[i];
        i += 1;
        let stripped = raw.trim_start_matches(is_space);
        d.possible_directive(stripped, i)?;
        let processed = process_line(raw, true);
        current_line += 1;
        let start_line = current_line;
        let (first, mut end) = d.trim_continuation(processed);
        if end && first.is_empty() {
            continue;
        }
        let mut line = first.to_owned();
        while !end && i < lines.len() {
            let raw = lines[i];
            i += 1;
            current_line += 1;
            if !d.done {
                d.possible_directive(raw, current_line)?;
            }
            if is_comment(raw) {
                continue;
            }
            let processed = process_line(raw, false);
            if processed.trim_start_matches(is_space).is_empty() {
                ast.empty_continuation_lines.push(current_line);
                continue;
            }
            let (cont, e) = d.trim_continuation(processed);
            end = e;
            line.push_str(cont);
        }
        let mut node = node_from_line(&line, d.escape, start_line)?;
        node.start_line = start_line;
        node.end_line = current_line;
        if can_contain_heredoc(&node.value) && line.contains("<<") {
            for mut h in heredocs_from_line(&line, d.escape) {
                let mut terminated = false;
                while i < lines.len() {
                    let raw = lines[i];
                    i += 1;
                    current_line += 1;
                    let candidate = if h.chomp {
                        raw.trim_start_matches('\t')
                    } else {
                        raw
                    };
                    if candidate == h.name {
                        terminated = true;
                        break;
                    }
                    // `<<-` strips leading tabs from the content too.
                    h.content.push_str(if h.chomp {
                        raw.trim_start_matches('\t')
                    } else {
                        raw
                    });
                    h.content.push('\n');
                }
                if !terminated {
                    return Err(ParseError::at(start_line, 1, "unterminated heredoc".into()));
                }
                node.heredocs.push(h);
            }
            node.end_line = current_line;
        }
        ast.children.push(node);
    }
    if ast.children.is_empty() {
        return Err(ParseError::at(0, 0, "file with no instructions".into()));
    }
    ast.escape = d.escape;
    ast.syntax = d.syntax;
    Ok(ast)
}

fn can_contain_heredoc(cmd: &str) -> bool {
    matches!(cmd.to_lowercase().as_str(), "run" | "copy" | "add")
}

/// Finds `<<[-]NAME` words (`^(\d*)<<(-?)([^<]*)$`) in an instruction line.
fn heredocs_from_line(line: &str, escape: char) -> Vec<Heredoc> {
    let words = super::shell::Lexer::new(escape)
        .raw_quotes(true)
        .process_words(line, &|_: &str| None)
        .unwrap_or_default();
    let mut out = Vec::new();
    for w in words {
        let digits = w.chars().take_while(|c| c.is_ascii_digit()).count();
        let Some(rest) = w[digits..].strip_prefix("<<") else {
            continue;
        };
        let (chomp, rest) = match rest.strip_prefix('-') {
            Some(r) => (true, r),
            None => (false, rest),
        };
        if rest.is_empty() || rest.contains('<') {
            continue;
        }
        let quoted = (rest.starts_with('"') && rest.ends_with('"') && rest.len() >= 2)
            || (rest.starts_with('\'') && rest.ends_with('\'') && rest.len() >= 2);
        let name = if quoted {
            rest[1..rest.len() - 1].to_owned()
        } else {
            rest.to_owned()
        };
        if name.is_empty() {
            continue;
        }
        out.push(Heredoc {
            name,
            content: String::new(),
            chomp,
            expand: !quoted,
            file_descriptor: w[..digits].parse().unwrap_or(0),
        });
    }
    out
}

/// BuildKit's `newNodeFromLine`: the instruction word, its flags, and the
/// arguments split as that instruction wants.
fn node_from_line(line: &str, escape: char, line_no: usize) -> Result<Node, ParseError> {
    let cmdline = split_ws(line.trim(), 2);
    let cmd = cmdline[0].clone();
    let (args, flags) = match cmdline.get(1) {
        Some(rest) => extract_builder_flags(rest),
        None => (String::new(), Vec::new()),
    };
    let args = args.trim().to_owned();
    let lower = cmd.to_lowercase();
    let err = |m: String| ParseError::at(line_no, 1, m);
    let (next, children, json) = match lower.as_str() {
        "add" | "copy" | "volume" => maybe_json_to_list(&args).map_err(err)?,
        "arg" => (name_or_name_val(&args, escape), vec![], false),
        "cmd" | "entrypoint" | "run" | "shell" => maybe_json(&args).map_err(err)?,
        "env" | "label" => (
            name_val(&args, &cmd.to_uppercase(), escape).map_err(err)?,
            vec![],
            false,
        ),
        "expose" | "from" => (whitespace_delimited(&args), vec![], false),
        "healthcheck" => health_config(&args).map_err(err)?,
        "maintainer" | "stopsignal" | "user" | "workdir" => (string_node(&args), vec![], false),
        "onbuild" => {
            if args.is_empty() {
                (vec![], vec![], false)
            } else {
                let mut child = node_from_line(&args, escape, line_no)?;
                child.start_line = line_no;
                child.end_line = line_no;
                (
                    vec![Node {
                        children: vec![child],
                        ..Node::default()
                    }],
                    vec![],
                    false,
                )
            }
        }
        // Unknown instructions parse to nothing; the instruction layer
        // rejects them with their line.
        _ => (vec![], vec![], false),
    };
    Ok(Node {
        value: cmd,
        flags,
        next,
        children,
        json,
        original: line.to_owned(),
        ..Node::default()
    })
}

type Parsed = (Vec<Node>, Vec<Node>, bool);

fn leaf(v: impl Into<String>) -> Node {
    Node {
        value: v.into(),
        ..Node::default()
    }
}

fn string_node(rest: &str) -> Vec<Node> {
    if rest.is_empty() {
        vec![]
    } else {
        vec![leaf(rest)]
    }
}

fn whitespace_delimited(rest: &str) -> Vec<Node> {
    if rest.is_empty() {
        return vec![];
    }
    split_ws(rest, 0).into_iter().map(leaf).collect()
}

enum JsonErr {
    NotJson,
    NotStringArray,
}

fn parse_json(rest: &str) -> Result<Vec<Node>, JsonErr> {
    let rest = rest.trim_start_matches(is_space);
    if !rest.starts_with('[') {
        return Err(JsonErr::NotJson);
    }
    let v: Vec<serde_json::Value> = serde_json::from_str(rest).map_err(|_| JsonErr::NotJson)?;
    v.into_iter()
        .map(|x| match x {
            serde_json::Value::String(s) => Ok(leaf(s)),
            _ => Err(JsonErr::NotStringArray),
        })
        .collect()
}

const NOT_STRING_ARRAY: &str =
    "dockerfile: when using JSON array syntax, arrays must be comprised of strings only";

fn maybe_json(rest: &str) -> Result<Parsed, String> {
    if rest.is_empty() {
        return Ok((vec![], vec![], false));
    }
    match parse_json(rest) {
        Ok(n) => Ok((n, vec![], true)),
        Err(JsonErr::NotStringArray) => Err(NOT_STRING_ARRAY.into()),
        Err(JsonErr::NotJson) => Ok((vec![leaf(rest)], vec![], false)),
    }
}

fn maybe_json_to_list(rest: &str) -> Result<Parsed, String> {
    match parse_json(rest) {
        Ok(n) => Ok((n, vec![], true)),
        Err(JsonErr::NotStringArray) => Err(NOT_STRING_ARRAY.into()),
        Err(JsonErr::NotJson) => Ok((whitespace_delimited(rest), vec![], false)),
    }
}

fn health_config(rest: &str) -> Result<Parsed, String> {
    let sep = rest.find(is_space).unwrap_or(rest.len());
    if sep == 0 {
        return Ok((vec![], vec![], false));
    }
    let after = rest[sep..].trim_start_matches(is_space);
    let (cmd, _, json) = maybe_json(after)?;
    let mut next = vec![leaf(&rest[..sep])];
    next.extend(cmd);
    Ok((next, vec![], json))
}

/// ARG: each word as it is.
fn name_or_name_val(rest: &str, escape: char) -> Vec<Node> {
    parse_words(rest, escape).into_iter().map(leaf).collect()
}

/// ENV and LABEL: `KEY value` (old form) or `KEY=value …`, each pair as
/// key, value and separator nodes.
fn name_val(rest: &str, key: &str, escape: char) -> Result<Vec<Node>, String> {
    let words = parse_words(rest, escape);
    if words.is_empty() {
        return Ok(vec![]);
    }
    if !words[0].contains('=') {
        let parts = split_ws(rest, 2);
        if parts.len() < 2 {
            return Err(format!("{key} must have two arguments"));
        }
        return Ok(vec![leaf(&parts[0]), leaf(&parts[1]), leaf("")]);
    }
    let mut out = Vec::new();
    for w in words {
        let Some((k, v)) = w.split_once('=') else {
            return Err(format!(
                "Syntax error - can't find = in {}. Must be of the form: name=value",
                go_quote(&w)
            ));
        };
        out.extend([leaf(k), leaf(v), leaf("=")]);
    }
    Ok(out)
}

/// BuildKit's `parseWords`: splits on blanks outside quotes, keeping the
/// quotes and escapes in the words.
pub(crate) fn parse_words(rest: &str, escape: char) -> Vec<String> {
    #[derive(PartialEq)]
    enum Phase {
        Spaces,
        Word,
        Quote,
    }
    let chars: Vec<char> = rest.chars().collect();
    let mut words = Vec::new();
    let mut phase = Phase::Spaces;
    let mut word = String::new();
    let mut quote = '\0';
    let mut blank_ok = false;
    let mut pos = 0;
    while pos <= chars.len() {
        let at_end = pos == chars.len();
        let mut ch = if at_end { '\0' } else { chars[pos] };
        if phase == Phase::Spaces {
            if at_end {
                break;
            }
            if is_space(ch) {
                pos += 1;
                continue;
            }
            phase = Phase::Word;
        }
        if at_end {
            if blank_ok || !word.is_empty() {
                words.push(std::mem::take(&mut word));
            }
            break;
        }
        if phase == Phase::Word {
            if is_space(ch) {
                phase = Phase::Spaces;
                if blank_ok || !word.is_empty() {
                    words.push(std::mem::take(&mut word));
                }
                blank_ok = false;
                pos += 1;
                continue;
            }
            if ch == '\'' || ch == '"' {
                quote = ch;
                blank_ok = true;
                phase = Phase::Quote;
            }
            if ch == escape {
                if pos + 1 == chars.len() {
                    pos += 1;
                    continue;
                }
                word.push(ch);
                pos += 1;
                ch = chars[pos];
            }
            word.push(ch);
            pos += 1;
            continue;
        }
        // In quotes.
        if ch == quote {
            phase = Phase::Word;
        }
        if ch == escape && quote != '\'' {
            if pos + 1 == chars.len() {
                phase = Phase::Word;
                pos += 1;
                continue;
            }
            pos += 1;
            word.push(ch);
            ch = chars[pos];
        }
        word.push(ch);
        pos += 1;
    }
    words
}

/// BuildKit's `extractBuilderFlags`: leading `--name[=value]` words, then
/// the rest of the line (`--` ends the flags).
fn extract_builder_flags(line: &str) -> (String, Vec<String>) {
    #[derive(PartialEq)]
    enum Phase {
        Spaces,
        Word,
        Quote,
    }
    let b = line.as_bytes();
    let mut words = Vec::new();
    let mut phase = Phase::Spaces;
    let mut word: Vec<u8> = Vec::new();
    let mut quote = 0u8;
    let mut blank_ok = false;
    let mut pos = 0;
    let take = |w: &mut Vec<u8>| String::from_utf8_lossy(&std::mem::take(w)).into_owned();
    while pos <= b.len() {
        let at_end = pos == b.len();
        let mut ch = if at_end { 0 } else { b[pos] };
        if phase == Phase::Spaces {
            if at_end {
                break;
            }
            if ch.is_ascii_whitespace() || ch == 0x0b {
                pos += 1;
                continue;
            }
            if ch != b'-' || pos + 1 == b.len() || b[pos + 1] != b'-' {
                return (line[pos..].to_owned(), words);
            }
            phase = Phase::Word;
        }
        if at_end {
            if word != b"--" && (blank_ok || !word.is_empty()) {
                words.push(take(&mut word));
            }
            break;
        }
        if phase == Phase::Word {
            if ch.is_ascii_whitespace() || ch == 0x0b {
                phase = Phase::Spaces;
                if word == b"--" {
                    return (line[pos..].to_owned(), words);
                }
                if blank_ok || !word.is_empty() {
                    words.push(take(&mut word));
                }
                word.clear();
                blank_ok = false;
                pos += 1;
                continue;
            }
            if ch == b'\'' || ch == b'"' {
                quote = ch;
                blank_ok = true;
                phase = Phase::Quote;
                pos += 1;
                continue;
            }
            if ch == b'\\' {
                if pos + 1 == b.len() {
                    pos += 1;
                    continue;
                }
                pos += 1;
                ch = b[pos];
            }
            word.push(ch);
            pos += 1;
            continue;
        }
        if ch == quote {
            phase = Phase::Word;
            pos += 1;
            continue;
        }
        if ch == b'\\' {
            if pos + 1 == b.len() {
                phase = Phase::Word;
                pos += 1;
                continue;
            }
            pos += 1;
            ch = b[pos];
        }
        word.push(ch);
        pos += 1;
    }
    (String::new(), words)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_and_double_dash() {
        assert_eq!(
            extract_builder_flags("--user=me --doit=true -- foo /tmp/"),
            (
                " foo /tmp/".to_owned(),
                vec!["--user=me".into(), "--doit=true".into()]
            )
        );
    }

    #[test]
    fn heredoc_is_read_to_its_delimiter() {
        let ast = parse("FROM busybox\nRUN <<EOF\necho hi\necho there\nEOF\nCMD x\n").unwrap();
        assert_eq!(ast.children.len(), 3);
        let run = &ast.children[1];
        assert_eq!(run.heredocs.len(), 1);
        assert_eq!(run.heredocs[0].name, "EOF");
        assert_eq!(run.heredocs[0].content, "echo hi\necho there\n");
        assert!(run.heredocs[0].expand);
        assert_eq!((run.start_line, run.end_line), (2, 5));
        assert_eq!(ast.children[2].start_line, 6);
    }

    #[test]
    fn quoted_heredoc_is_not_expanded_and_chomp_strips_tabs() {
        let ast = parse("FROM x\nCOPY <<-'EOT' /f\n\thello\n\tEOT\n").unwrap();
        let h = &ast.children[1].heredocs[0];
        assert!(!h.expand && h.chomp);
        assert_eq!(h.name, "EOT");
        assert_eq!(h.content, "hello\n");
    }

    #[test]
    fn unterminated_heredoc_is_an_error() {
        let e = parse("FROM x\nRUN <<EOF\necho\n").unwrap_err();
        assert!(e.to_string().contains("unterminated heredoc"), "{e}");
    }

    #[test]
    fn go_quote_matches_go() {
        assert_eq!(go_quote("a\"b\\c\t\u{0}♥"), "\"a\\\"b\\\\c\\t\\x00♥\"");
    }
}
