//! Docker's `--format` templates: the part of Go's `text/template` people
//! type at a shell. Fields (`{{.State.Status}}`, `{{$.Name}}`), pipelines
//! (`{{.Names | json}}`), parenthesized calls with a field after them
//! (`{{(index .IPAM.Config 0).Gateway}}`), `range`, `if`, `with`, `else`,
//! `end`, comments, `{{-`/`-}}` trimming, and the functions Docker adds or
//! people use: `json`, `index`, `len`, `join`, `split`, `lower`, `upper`,
//! `title`, `printf`, `print`, `println`, `eq`, `ne`, `lt`, `le`, `gt`,
//! `ge`, `not`, `and`, `or`. Literal `\t` and `\n` in the template become
//! a tab and a newline, as Docker's CLI does.

use serde_json::Value;

/// Renders `template` against `value`.
pub fn render(template: &str, value: &Value) -> anyhow::Result<String> {
    let source = template.replace("\\t", "\t").replace("\\n", "\n");
    let nodes = parse(&source).map_err(|e| anyhow::anyhow!("template {template:?}: {e}"))?;
    let mut out = String::new();
    let scope = Scope { root: value };
    scope
        .run(&nodes, value, &mut out)
        .map_err(|e| anyhow::anyhow!("template {template:?}: {e}"))?;
    Ok(out)
}

/// JSON as `docker inspect` prints it: indented with four spaces.
pub fn docker_json(value: &Value) -> String {
    let mut buf = Vec::new();
    let fmt = serde_json::ser::PrettyFormatter::with_indent(b"    ");
    let mut ser = serde_json::Serializer::with_formatter(&mut buf, fmt);
    serde::Serialize::serialize(value, &mut ser).expect("a JSON value serializes");
    String::from_utf8_lossy(&buf).into_owned()
}

type Fallible<T> = Result<T, String>;

#[derive(Debug, Clone, PartialEq)]
enum Node {
    Text(String),
    Print(Pipeline),
    Range(Pipeline, Vec<Node>, Vec<Node>),
    If(Pipeline, Vec<Node>, Vec<Node>),
    With(Pipeline, Vec<Node>, Vec<Node>),
}

/// Commands joined by `|`: each result is the last argument of the next.
type Pipeline = Vec<Command>;

#[derive(Debug, Clone, PartialEq)]
enum Command {
    /// A function and its arguments.
    Call(String, Vec<Operand>),
    /// A lone operand (a field, a literal, `.`).
    Value(Operand),
}

#[derive(Debug, Clone, PartialEq)]
enum Operand {
    /// `.A.B` from the dot, or from the root with `$`.
    Field {
        from_root: bool,
        path: Vec<String>,
    },
    Str(String),
    Int(i64),
    Bool(bool),
    /// `( pipeline )` with an optional `.Field.Path` after it.
    Group(Pipeline, Vec<String>),
}

/// One `{{ … }}` after lexing its kind.
#[derive(Debug)]
enum Action {
    Print(Pipeline),
    Range(Pipeline),
    If(Pipeline),
    With(Pipeline),
    Else,
    End,
    Comment,
}

fn parse(source: &str) -> Fallible<Vec<Node>> {
    let mut items: Vec<Result<String, Action>> = Vec::new();
    let mut rest = source;
    let mut trim_next_text = false;
    while let Some(start) = rest.find("{{") {
        let mut text = rest[..start].to_string();
        if trim_next_text {
            text = text.trim_start().to_string();
        }
        let after = &rest[start + 2..];
        let end = after.find("}}").ok_or("unclosed action")?;
        let mut inner = &after[..end];
        if let Some(stripped) = inner.strip_prefix('-')
            && stripped.starts_with(char::is_whitespace)
        {
            text = text.trim_end().to_string();
            inner = stripped;
        }
        trim_next_text = false;
        if let Some(stripped) = inner.strip_suffix('-')
            && stripped.ends_with(char::is_whitespace)
        {
            trim_next_text = true;
            inner = stripped;
        }
        if !text.is_empty() {
            items.push(Ok(text));
        }
        items.push(Err(action(inner.trim())?));
        rest = &after[end + 2..];
    }
    let tail = if trim_next_text {
        rest.trim_start()
    } else {
        rest
    };
    if !tail.is_empty() {
        items.push(Ok(tail.to_string()));
    }
    let mut iter = items.into_iter();
    let (nodes, closer) = build(&mut iter)?;
    match closer {
        None => Ok(nodes),
        Some(Action::Else) => Err("unexpected {{else}}".into()),
        Some(_) => Err("unexpected {{end}}".into()),
    }
}

/// Nodes up to the next `else`/`end` (returned) or the end of input.
fn build(
    items: &mut impl Iterator<Item = Result<String, Action>>,
) -> Fallible<(Vec<Node>, Option<Action>)> {
    let mut nodes = Vec::new();
    while let Some(item) = items.next() {
        let action = match item {
            Ok(text) => {
                nodes.push(Node::Text(text));
                continue;
            }
            Err(a) => a,
        };
        let (pipeline, kind) = match action {
            Action::Print(p) => {
                nodes.push(Node::Print(p));
                continue;
            }
            Action::Comment => continue,
            a @ (Action::Else | Action::End) => return Ok((nodes, Some(a))),
            Action::Range(p) => (p, 'r'),
            Action::If(p) => (p, 'i'),
            Action::With(p) => (p, 'w'),
        };
        let (body, closer) = build(items)?;
        let otherwise = match closer {
            Some(Action::End) => Vec::new(),
            Some(Action::Else) => match build(items)? {
                (otherwise, Some(Action::End)) => otherwise,
                _ => return Err("missing {{end}} after {{else}}".into()),
            },
            _ => return Err("missing {{end}}".into()),
        };
        nodes.push(match kind {
            'r' => Node::Range(pipeline, body, otherwise),
            'i' => Node::If(pipeline, body, otherwise),
            _ => Node::With(pipeline, body, otherwise),
        });
    }
    Ok((nodes, None))
}

fn action(inner: &str) -> Fallible<Action> {
    if inner.starts_with("/*") && inner.ends_with("*/") {
        return Ok(Action::Comment);
    }
    let tokens = lex(inner)?;
    let keyword = match tokens.first() {
        Some(Token::Word(w)) => w.as_str(),
        _ => "",
    };
    let pipeline = |tokens: &[Token]| -> Fallible<Pipeline> {
        let mut pos = 0;
        let p = parse_pipeline(tokens, &mut pos)?;
        if pos != tokens.len() {
            return Err(format!("unexpected {:?} in {inner:?}", tokens[pos]));
        }
        Ok(p)
    };
    Ok(match keyword {
        "range" => Action::Range(pipeline(&tokens[1..])?),
        "if" => Action::If(pipeline(&tokens[1..])?),
        "with" => Action::With(pipeline(&tokens[1..])?),
        "else" if tokens.len() == 1 => Action::Else,
        "end" if tokens.len() == 1 => Action::End,
        _ => Action::Print(pipeline(&tokens)?),
    })
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    /// An identifier (`json`) or a field chain (`.A.B`, `.`, `$`, `$.A`).
    Word(String),
    Str(String),
    Pipe,
    Open,
    /// `)` with the field chain that follows it, if any.
    Close(Vec<String>),
}

fn lex(s: &str) -> Fallible<Vec<Token>> {
    let mut tokens = Vec::new();
    let chars: Vec<char> = s.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        match c {
            c if c.is_whitespace() => i += 1,
            '|' => {
                tokens.push(Token::Pipe);
                i += 1;
            }
            '(' => {
                tokens.push(Token::Open);
                i += 1;
            }
            ')' => {
                i += 1;
                let start = i;
                while i < chars.len() && !chars[i].is_whitespace() && !"|()".contains(chars[i]) {
                    i += 1;
                }
                let chain: String = chars[start..i].iter().collect();
                tokens.push(Token::Close(field_path(&chain)?));
            }
            '"' => {
                let mut out = String::new();
                i += 1;
                loop {
                    match chars.get(i) {
                        None => return Err("unterminated quoted string".into()),
                        Some('"') => break,
                        Some('\\') => {
                            i += 1;
                            out.push(match chars.get(i) {
                                Some('n') => '\n',
                                Some('t') => '\t',
                                Some(&other) => other,
                                None => return Err("unterminated quoted string".into()),
                            });
                        }
                        Some(&other) => out.push(other),
                    }
                    i += 1;
                }
                i += 1;
                tokens.push(Token::Str(out));
            }
            '`' => {
                let close = chars[i + 1..]
                    .iter()
                    .position(|&c| c == '`')
                    .ok_or("unterminated raw string")?;
                tokens.push(Token::Str(chars[i + 1..i + 1 + close].iter().collect()));
                i += close + 2;
            }
            _ => {
                let start = i;
                while i < chars.len() && !chars[i].is_whitespace() && !"|()\"".contains(chars[i]) {
                    i += 1;
                }
                tokens.push(Token::Word(chars[start..i].iter().collect()));
            }
        }
    }
    Ok(tokens)
}

/// `.A.B` as `["A", "B"]`; empty for nothing.
fn field_path(chain: &str) -> Fallible<Vec<String>> {
    if chain.is_empty() {
        return Ok(Vec::new());
    }
    let rest = chain
        .strip_prefix('.')
        .ok_or_else(|| format!("unexpected {chain:?}"))?;
    if rest.is_empty() {
        return Err(format!("unexpected {chain:?}"));
    }
    Ok(rest.split('.').map(str::to_string).collect())
}

fn parse_pipeline(tokens: &[Token], pos: &mut usize) -> Fallible<Pipeline> {
    let mut pipeline = Vec::new();
    loop {
        let mut operands = Vec::new();
        while let Some(t) = tokens.get(*pos) {
            match t {
                Token::Pipe | Token::Close(_) => break,
                Token::Open => {
                    *pos += 1;
                    let inner = parse_pipeline(tokens, pos)?;
                    match tokens.get(*pos) {
                        Some(Token::Close(path)) => {
                            operands.push(Word::Operand(Operand::Group(inner, path.clone())));
                            *pos += 1;
                        }
                        _ => return Err("missing )".into()),
                    }
                }
                Token::Str(s) => {
                    operands.push(Word::Operand(Operand::Str(s.clone())));
                    *pos += 1;
                }
                Token::Word(w) => {
                    operands.push(word(w)?);
                    *pos += 1;
                }
            }
        }
        let command = match operands.len() {
            0 => return Err("missing value in pipeline".into()),
            _ => match operands.remove(0) {
                Word::Function(name) => Command::Call(
                    name,
                    operands
                        .into_iter()
                        .map(|w| match w {
                            Word::Operand(o) => Ok(o),
                            Word::Function(f) => Err(format!(
                                "function {f:?} used as an argument (wrap it in parentheses)"
                            )),
                        })
                        .collect::<Fallible<_>>()?,
                ),
                Word::Operand(o) if operands.is_empty() => Command::Value(o),
                Word::Operand(o) => return Err(format!("can't give arguments to {o:?}")),
            },
        };
        pipeline.push(command);
        match tokens.get(*pos) {
            Some(Token::Pipe) => *pos += 1,
            _ => return Ok(pipeline),
        }
    }
}

enum Word {
    Function(String),
    Operand(Operand),
}

fn word(w: &str) -> Fallible<Word> {
    if w == "." {
        return Ok(Word::Operand(Operand::Field {
            from_root: false,
            path: Vec::new(),
        }));
    }
    if let Some(rest) = w.strip_prefix('$') {
        return Ok(Word::Operand(Operand::Field {
            from_root: true,
            path: field_path(rest)?,
        }));
    }
    if w.starts_with('.') {
        return Ok(Word::Operand(Operand::Field {
            from_root: false,
            path: field_path(w)?,
        }));
    }
    if let Ok(n) = w.parse::<i64>() {
        return Ok(Word::Operand(Operand::Int(n)));
    }
    match w {
        "true" => Ok(Word::Operand(Operand::Bool(true))),
        "false" => Ok(Word::Operand(Operand::Bool(false))),
        "nil" => Err("nil is not a command".into()),
        name if FUNCTIONS.contains(&name) => Ok(Word::Function(name.to_string())),
        name => Err(format!("function {name:?} not defined")),
    }
}

const FUNCTIONS: &[&str] = &[
    "json", "index", "len", "join", "split", "lower", "upper", "title", "printf", "print",
    "println", "eq", "ne", "lt", "le", "gt", "ge", "not", "and", "or",
];

struct Scope<'a> {
    root: &'a Value,
}

impl Scope<'_> {
    fn run(&self, nodes: &[Node], dot: &Value, out: &mut String) -> Fallible<()> {
        for node in nodes {
            match node {
                Node::Text(t) => out.push_str(t),
                Node::Print(p) => out.push_str(&plain(&self.pipeline(p, dot)?)),
                Node::If(p, body, otherwise) => {
                    let branch = if truthy(&self.pipeline(p, dot)?) {
                        body
                    } else {
                        otherwise
                    };
                    self.run(branch, dot, out)?;
                }
                Node::With(p, body, otherwise) => {
                    let v = self.pipeline(p, dot)?;
                    if truthy(&v) {
                        self.run(body, &v, out)?;
                    } else {
                        self.run(otherwise, dot, out)?;
                    }
                }
                Node::Range(p, body, otherwise) => {
                    let v = self.pipeline(p, dot)?;
                    let items: Vec<&Value> = match &v {
                        Value::Array(a) => a.iter().collect(),
                        // Go ranges over a map in key order; serde_json's
                        // map is ordered by key.
                        Value::Object(m) => m.values().collect(),
                        Value::Null => Vec::new(),
                        other => return Err(format!("range can't iterate over {other}")),
                    };
                    if items.is_empty() {
                        self.run(otherwise, dot, out)?;
                    }
                    for item in items {
                        self.run(body, item, out)?;
                    }
                }
            }
        }
        Ok(())
    }

    fn pipeline(&self, pipeline: &Pipeline, dot: &Value) -> Fallible<Value> {
        let mut previous: Option<Value> = None;
        for command in pipeline {
            let value = match command {
                Command::Value(o) => {
                    if previous.is_some() {
                        return Err(format!("can't give an argument to {o:?}"));
                    }
                    self.operand(o, dot)?
                }
                Command::Call(name, args) => {
                    let mut values = args
                        .iter()
                        .map(|a| self.operand(a, dot))
                        .collect::<Fallible<Vec<_>>>()?;
                    values.extend(previous.take());
                    call(name, &values)?
                }
            };
            previous = Some(value);
        }
        previous.ok_or_else(|| "empty pipeline".to_string())
    }

    fn operand(&self, operand: &Operand, dot: &Value) -> Fallible<Value> {
        match operand {
            Operand::Field { from_root, path } => {
                lookup(if *from_root { self.root } else { dot }, path)
            }
            Operand::Str(s) => Ok(Value::String(s.clone())),
            Operand::Int(n) => Ok(Value::from(*n)),
            Operand::Bool(b) => Ok(Value::Bool(*b)),
            Operand::Group(p, path) => lookup(&self.pipeline(p, dot)?, path),
        }
    }
}

/// A field chain. A missing key of an object is an error, as a missing
/// struct field is in Docker (`can't evaluate field`); a field of null is
/// null (`<no value>`).
fn lookup(value: &Value, path: &[String]) -> Fallible<Value> {
    let mut v = value;
    for key in path {
        v = match v {
            Value::Object(m) => m
                .get(key)
                .ok_or_else(|| format!("can't evaluate field {key}"))?,
            Value::Null => return Ok(Value::Null),
            _ => return Err(format!("can't evaluate field {key} in {v}")),
        };
    }
    Ok(v.clone())
}

fn truthy(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(m) => !m.is_empty(),
    }
}

fn call(name: &str, args: &[Value]) -> Fallible<Value> {
    let arity = |n: usize| -> Fallible<()> {
        if args.len() == n {
            Ok(())
        } else {
            Err(format!(
                "wrong number of args for {name}: want {n} got {}",
                args.len()
            ))
        }
    };
    let text = |v: &Value| plain(v);
    Ok(match name {
        "json" => {
            arity(1)?;
            Value::String(serde_json::to_string(&args[0]).map_err(|e| e.to_string())?)
        }
        "index" => {
            let (first, keys) = args.split_first().ok_or("index needs an argument")?;
            let mut v = first.clone();
            for k in keys {
                v = match (&v, k) {
                    (Value::Array(a), Value::Number(n)) => {
                        let i = n.as_u64().ok_or("index out of range")? as usize;
                        a.get(i)
                            .cloned()
                            .ok_or_else(|| format!("index out of range: {i}"))?
                    }
                    (Value::Object(m), Value::String(s)) => {
                        m.get(s).cloned().unwrap_or(Value::Null)
                    }
                    (Value::Null, _) => Value::Null,
                    (v, k) => return Err(format!("can't index {v} with {k}")),
                };
            }
            v
        }
        "len" => {
            arity(1)?;
            Value::from(match &args[0] {
                Value::Array(a) => a.len(),
                Value::Object(m) => m.len(),
                Value::String(s) => s.len(),
                Value::Null => 0,
                other => return Err(format!("len of {other}")),
            })
        }
        "join" => {
            arity(2)?;
            let items = match &args[0] {
                Value::Array(a) => a.iter().map(text).collect::<Vec<_>>(),
                Value::Null => Vec::new(),
                other => vec![text(other)],
            };
            Value::String(items.join(&text(&args[1])))
        }
        "split" => {
            arity(2)?;
            Value::Array(
                text(&args[0])
                    .split(&text(&args[1]))
                    .map(|s| Value::String(s.to_string()))
                    .collect(),
            )
        }
        "lower" => {
            arity(1)?;
            Value::String(text(&args[0]).to_lowercase())
        }
        "upper" => {
            arity(1)?;
            Value::String(text(&args[0]).to_uppercase())
        }
        "title" => {
            arity(1)?;
            let mut out = String::new();
            let mut start = true;
            for c in text(&args[0]).chars() {
                if start {
                    out.extend(c.to_uppercase());
                } else {
                    out.push(c);
                }
                start = c.is_whitespace();
            }
            Value::String(out)
        }
        "print" | "println" => {
            let mut s = args.iter().map(text).collect::<Vec<_>>().join(" ");
            if name == "println" {
                s.push('\n');
            }
            Value::String(s)
        }
        "printf" => {
            let (format, rest) = args.split_first().ok_or("printf needs a format")?;
            Value::String(printf(&text(format), rest)?)
        }
        "eq" | "ne" | "lt" | "le" | "gt" | "ge" => {
            arity(2)?;
            let ordering = compare(&args[0], &args[1])?;
            Value::Bool(match name {
                "eq" => ordering.is_eq(),
                "ne" => !ordering.is_eq(),
                "lt" => ordering.is_lt(),
                "le" => ordering.is_le(),
                "gt" => ordering.is_gt(),
                _ => ordering.is_ge(),
            })
        }
        "not" => {
            arity(1)?;
            Value::Bool(!truthy(&args[0]))
        }
        // Go's and/or return the deciding argument.
        "and" => args
            .iter()
            .find(|v| !truthy(v))
            .or(args.last())
            .cloned()
            .unwrap_or(Value::Null),
        "or" => args
            .iter()
            .find(|v| truthy(v))
            .or(args.last())
            .cloned()
            .unwrap_or(Value::Null),
        other => return Err(format!("function {other:?} not defined")),
    })
}

fn compare(a: &Value, b: &Value) -> Fallible<std::cmp::Ordering> {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x
            .as_f64()
            .zip(y.as_f64())
            .and_then(|(x, y)| x.partial_cmp(&y))
            .ok_or_else(|| "incomparable numbers".to_string()),
        (Value::String(x), Value::String(y)) => Ok(x.cmp(y)),
        (Value::Bool(x), Value::Bool(y)) => Ok(x.cmp(y)),
        (Value::Null, Value::Null) => Ok(std::cmp::Ordering::Equal),
        (a, b) => Err(format!("incompatible types for comparison: {a} and {b}")),
    }
}

/// Go's `printf` for the verbs people use: `%s %v %d %q %%`, with a width
/// (`%-20s`, `%5d`).
fn printf(format: &str, args: &[Value]) -> Fallible<String> {
    let mut out = String::new();
    let mut args = args.iter();
    let mut chars = format.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let mut left = false;
        let mut width = String::new();
        while let Some(&f) = chars.peek() {
            if f == '-' {
                left = true;
            } else if f.is_ascii_digit() {
                width.push(f);
            } else {
                break;
            }
            chars.next();
        }
        let verb = chars.next().ok_or("printf: format ends with %")?;
        let piece = match verb {
            '%' => "%".to_string(),
            's' | 'v' | 'd' => plain(args.next().unwrap_or(&Value::Null)),
            'q' => serde_json::to_string(&plain(args.next().unwrap_or(&Value::Null)))
                .map_err(|e| e.to_string())?,
            other => return Err(format!("printf: verb %{other} is not supported")),
        };
        let width: usize = width.parse().unwrap_or(0);
        let pad = width.saturating_sub(piece.chars().count());
        if left {
            out.push_str(&piece);
            out.extend(std::iter::repeat_n(' ', pad));
        } else {
            out.extend(std::iter::repeat_n(' ', pad));
            out.push_str(&piece);
        }
    }
    Ok(out)
}

/// Go's default formatting of a value: strings bare, null as `<no value>`,
/// lists as `[a b]`, maps as `map[k:v]`.
fn plain(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => "<no value>".into(),
        Value::Array(a) => format!("[{}]", a.iter().map(plain).collect::<Vec<_>>().join(" ")),
        Value::Object(m) => format!(
            "map[{}]",
            m.iter()
                .map(|(k, v)| format!("{k}:{}", plain(v)))
                .collect::<Vec<_>>()
                .join(" ")
        ),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn renders_fields_nested_and_json() {
        let v = json!({"Id": "abc", "State": {"Status": "exited", "ExitCode": 3},
                       "Config": {"Cmd": ["sh", "-c"]}});
        assert_eq!(render("{{.Id}}", &v).unwrap(), "abc");
        assert_eq!(
            render("{{.State.Status}} {{.State.ExitCode}}", &v).unwrap(),
            "exited 3"
        );
        assert_eq!(
            render("{{json .Config.Cmd}}", &v).unwrap(),
            r#"["sh","-c"]"#
        );
        assert_eq!(render("{{.Config.Cmd}}", &v).unwrap(), "[sh -c]");
        assert_eq!(render("a\\tb", &v).unwrap(), "a\tb");
        assert!(
            render("{{.Nope}}", &v)
                .unwrap_err()
                .to_string()
                .contains("can't evaluate field Nope")
        );
        assert!(render("{{.Id", &v).is_err());
        assert_eq!(render("{{json .}}", &json!([1])).unwrap(), "[1]");
    }

    fn inspect_like() -> Value {
        json!({
            "Name": "/web",
            "Config": {"Env": ["A=1", "B=2"], "Labels": {"app": "shop", "tier": "front"}},
            "NetworkSettings": {"Networks": {
                "bridge": {"IPAddress": "10.1.0.2", "Gateway": "10.1.0.1"},
                "shop_default": {"IPAddress": "10.2.0.5", "Gateway": "10.2.0.1"}
            }, "Ports": {"5000/tcp": [{"HostIp": "0.0.0.0", "HostPort": "5000"}]}},
            "IPAM": {"Config": [{"Subnet": "10.1.0.0/24", "Gateway": "10.1.0.1"}]},
            "State": {"Running": true, "ExitCode": 0, "Health": null}
        })
    }

    #[test]
    fn the_idioms_people_copy_from_docker_docs() {
        let v = inspect_like();
        let r = |t: &str| render(t, &v).unwrap();
        assert_eq!(
            r("{{range .NetworkSettings.Networks}}{{.IPAddress}} {{end}}"),
            "10.1.0.2 10.2.0.5 "
        );
        assert_eq!(r("{{(index .IPAM.Config 0).Gateway}}"), "10.1.0.1");
        assert_eq!(
            r(r#"{{(index (index .NetworkSettings.Ports "5000/tcp") 0).HostPort}}"#),
            "5000"
        );
        assert_eq!(r(r#"{{index .Config.Labels "app"}}"#), "shop");
        assert_eq!(r(r#"{{index .Config.Labels "none"}}"#), "<no value>");
        assert_eq!(r(r#"{{join .Config.Env ","}}"#), "A=1,B=2");
        assert_eq!(r("{{len .Config.Env}}"), "2");
        assert_eq!(r("{{.Name | upper}}"), "/WEB");
        assert_eq!(
            r("{{.Config.Labels | json}}"),
            r#"{"app":"shop","tier":"front"}"#
        );
        assert_eq!(r("{{if .State.Running}}up{{else}}down{{end}}"), "up");
        assert_eq!(
            r("{{if .State.Health}}h{{else}}no health{{end}}"),
            "no health"
        );
        assert_eq!(r("{{with .State.Health}}{{.Status}}{{end}}"), "");
        assert_eq!(r("{{with .IPAM}}{{len .Config}}{{end}}"), "1");
        // Variables are not supported: an error, never a silent blank.
        assert!(render("{{range $k, $v := .Config.Labels}}x{{end}}", &v).is_err());
    }

    #[test]
    fn more_functions_and_layout() {
        let v = inspect_like();
        let r = |t: &str| render(t, &v).unwrap();
        assert_eq!(r(r#"{{printf "%-6s|%3d" "ab" 7}}"#), "ab    |  7");
        assert_eq!(r(r#"{{printf "%q" .Name}}"#), r#""/web""#);
        assert_eq!(r(r#"{{eq .State.ExitCode 0}}"#), "true");
        assert_eq!(r(r#"{{if ne .Name "/db"}}not db{{end}}"#), "not db");
        assert_eq!(
            r(r#"{{if and .State.Running (eq .Name "/web")}}y{{end}}"#),
            "y"
        );
        assert_eq!(r(r#"{{split "a:b" ":"}}"#), "[a b]");
        assert_eq!(r(r#"{{title "hello world"}}"#), "Hello World");
        assert_eq!(r("{{/* a comment */}}x"), "x");
        assert_eq!(r("a  {{- .Name -}}  b"), "a/webb");
        assert_eq!(r("{{range .Config.Env}}{{.}}\\n{{end}}"), "A=1\nB=2\n");
        assert_eq!(r("{{range .State.Health}}x{{else}}none{{end}}"), "none");
        assert_eq!(r("{{$.Name}}"), "/web");
        assert_eq!(r("{{range .Config.Env}}{{$.Name}}{{end}}"), "/web/web");
    }

    #[test]
    fn bad_templates_say_what_is_wrong() {
        let v = inspect_like();
        let e = |t: &str| render(t, &v).unwrap_err().to_string();
        assert!(e("{{nosuch .Name}}").contains(r#"function "nosuch" not defined"#));
        assert!(e("{{if .Name}}x").contains("missing {{end}}"));
        assert!(e("{{end}}").contains("unexpected {{end}}"));
        assert!(e("{{len .Name .Name}}").contains("wrong number of args for len"));
        assert!(e(r#"{{"unterminated}}"#).contains("unterminated"));
        assert!(e("{{index .Config.Env 9}}").contains("index out of range"));
    }
}
