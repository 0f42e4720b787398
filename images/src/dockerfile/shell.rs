//! Word expansion as BuildKit's `shell` package does it for ENV, ARG,
//! LABEL, COPY, WORKDIR and friends: quotes, the escape character, and
//! `$VAR`, `${VAR}`, `${VAR:-default}`, `${VAR:+alt}`, `${VAR?err}`,
//! `${VAR:?err}`. `RUN`'s shell form is not expanded here: its shell does
//! that.

/// A lexer with the Dockerfile's escape character.
#[derive(Debug, Clone, Copy)]
pub struct Lexer {
    escape: char,
    raw_quotes: bool,
    raw_escapes: bool,
}

/// Looks a variable up: `None` when unset (an empty value is set).
pub trait Env {
    fn get(&self, name: &str) -> Option<String>;
}

impl<F: Fn(&str) -> Option<String>> Env for F {
    fn get(&self, name: &str) -> Option<String> {
        self(name)
    }
}

impl Env for [(String, String)] {
    fn get(&self, name: &str) -> Option<String> {
        self.iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    }
}

impl Env for Vec<(String, String)> {
    fn get(&self, name: &str) -> Option<String> {
        Env::get(self.as_slice(), name)
    }
}

impl Lexer {
    pub fn new(escape: char) -> Self {
        Lexer {
            escape,
            raw_quotes: false,
            raw_escapes: false,
        }
    }

    /// Keep quote characters in the result.
    pub fn raw_quotes(mut self, on: bool) -> Self {
        self.raw_quotes = on;
        self
    }

    /// Keep escape characters in the result.
    pub fn raw_escapes(mut self, on: bool) -> Self {
        self.raw_escapes = on;
        self
    }

    /// Expands `word` into one string.
    pub fn process_word(&self, word: &str, env: &dyn Env) -> Result<String, String> {
        let mut w = Words::new(self, word, env);
        w.process_stop_on(None, self.raw_escapes).map(|(s, _)| s)
    }

    /// Expands `word` and splits the result into words as a shell would
    /// (unquoted blanks, including those from variables, separate words).
    pub fn process_words(&self, word: &str, env: &dyn Env) -> Result<Vec<String>, String> {
        let mut w = Words::new(self, word, env);
        w.process_stop_on(None, self.raw_escapes).map(|(_, w)| w)
    }
}

struct Words<'a> {
    lex: &'a Lexer,
    chars: Vec<char>,
    pos: usize,
    env: &'a dyn Env,
}

/// Word accumulation for `process_words`.
#[derive(Default)]
struct Split {
    word: String,
    words: Vec<String>,
    in_word: bool,
}

impl Split {
    fn add_char(&mut self, ch: char) {
        if ch.is_whitespace() && self.in_word {
            if !self.word.is_empty() {
                self.words.push(std::mem::take(&mut self.word));
                self.in_word = false;
            }
        } else if !ch.is_whitespace() {
            self.add_raw_char(ch);
        }
    }
    fn add_raw_char(&mut self, ch: char) {
        self.word.push(ch);
        self.in_word = true;
    }
    fn add_string(&mut self, s: &str) {
        for c in s.chars() {
            self.add_char(c);
        }
    }
    fn add_raw_string(&mut self, s: &str) {
        self.word.push_str(s);
        self.in_word = true;
    }
    fn finish(mut self) -> Vec<String> {
        if !self.word.is_empty() {
            self.words.push(std::mem::take(&mut self.word));
        }
        self.words
    }
}

impl<'a> Words<'a> {
    fn new(lex: &'a Lexer, word: &str, env: &'a dyn Env) -> Self {
        Words {
            lex,
            chars: word.chars().collect(),
            pos: 0,
            env,
        }
    }

    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn next(&mut self) -> Option<char> {
        let c = self.peek();
        if c.is_some() {
            self.pos += 1;
        }
        c
    }

    fn process_stop_on(
        &mut self,
        stop: Option<char>,
        raw_escapes: bool,
    ) -> Result<(String, Vec<String>), String> {
        let mut result = String::new();
        let mut words = Split::default();
        while let Some(ch) = self.peek() {
            if Some(ch) == stop {
                self.next();
                return Ok((result, words.finish()));
            }
            match ch {
                '\'' | '"' | '$' => {
                    let tmp = match ch {
                        '\'' => self.single_quote()?,
                        '"' => self.double_quote()?,
                        _ => self.dollar()?,
                    };
                    result.push_str(&tmp);
                    if ch == '$' {
                        words.add_string(&tmp);
                    } else {
                        words.add_raw_string(&tmp);
                    }
                }
                _ => {
                    let mut ch = self.next().expect("peeked");
                    if ch == self.lex.escape {
                        if raw_escapes {
                            words.add_raw_char(ch);
                            result.push(ch);
                        }
                        match self.next() {
                            None => break,
                            Some(c) => ch = c,
                        }
                        words.add_raw_char(ch);
                    } else {
                        words.add_char(ch);
                    }
                    result.push(ch);
                }
            }
        }
        if let Some(s) = stop {
            return Err(format!(
                "unexpected end of statement while looking for matching {s}"
            ));
        }
        Ok((result, words.finish()))
    }

    fn single_quote(&mut self) -> Result<String, String> {
        let mut result = String::new();
        let open = self.next();
        if self.lex.raw_quotes {
            result.extend(open);
        }
        loop {
            match self.next() {
                None => {
                    return Err(
                        "unexpected end of statement while looking for matching single-quote"
                            .into(),
                    );
                }
                Some('\'') => {
                    if self.lex.raw_quotes {
                        result.push('\'');
                    }
                    return Ok(result);
                }
                Some(c) => result.push(c),
            }
        }
    }

    fn double_quote(&mut self) -> Result<String, String> {
        let mut result = String::new();
        let open = self.next();
        if self.lex.raw_quotes {
            result.extend(open);
        }
        loop {
            match self.peek() {
                None => {
                    return Err(
                        "unexpected end of statement while looking for matching double-quote"
                            .into(),
                    );
                }
                Some('"') => {
                    self.next();
                    if self.lex.raw_quotes {
                        result.push('"');
                    }
                    return Ok(result);
                }
                Some('$') => {
                    let v = self.dollar()?;
                    result.push_str(&v);
                }
                Some(_) => {
                    let mut ch = self.next().expect("peeked");
                    if ch == self.lex.escape {
                        if self.lex.raw_escapes {
                            result.push(ch);
                        }
                        match self.peek() {
                            None => continue,
                            Some(c) if c == '"' || c == '$' || c == self.lex.escape => {
                                ch = self.next().expect("peeked");
                            }
                            Some(_) => {}
                        }
                    }
                    result.push(ch);
                }
            }
        }
    }

    fn dollar(&mut self) -> Result<String, String> {
        self.next();
        if self.peek() != Some('{') {
            let name = self.name();
            if name.is_empty() {
                return Ok("$".into());
            }
            return Ok(self.env.get(&name).unwrap_or_default());
        }
        self.next();
        match self.peek() {
            None => return Err("syntax error: missing '}'".into()),
            Some('{' | '}' | ':') => return Err("syntax error: bad substitution".into()),
            _ => {}
        }
        let name = self.name();
        let ch = self.next();
        match ch {
            Some('}') => Ok(self.env.get(&name).unwrap_or_default()),
            Some('?') => {
                let word = self.stop_on_brace()?;
                match self.env.get(&name) {
                    Some(v) => Ok(v),
                    None => Err(if word.is_empty() {
                        format!("{name}: is not allowed to be unset")
                    } else {
                        format!("{name}: {word}")
                    }),
                }
            }
            Some(':') => {
                let modifier = self.next();
                let word = self.stop_on_brace()?;
                let value = self.env.get(&name).unwrap_or_default();
                match modifier {
                    Some('+') => Ok(if value.is_empty() { value } else { word }),
                    Some('-') => Ok(if value.is_empty() { word } else { value }),
                    Some('?') => {
                        if value.is_empty() {
                            Err(if word.is_empty() {
                                format!("{name}: is not allowed to be empty")
                            } else {
                                format!("{name}: {word}")
                            })
                        } else {
                            Ok(value)
                        }
                    }
                    m => Err(format!(
                        "unsupported modifier ({}) in substitution",
                        m.map(String::from).unwrap_or_default()
                    )),
                }
            }
            c => Err(format!(
                "unsupported modifier ({}) in substitution",
                c.map(String::from).unwrap_or_default()
            )),
        }
    }

    fn stop_on_brace(&mut self) -> Result<String, String> {
        let raw = self.lex.raw_escapes;
        match self.process_stop_on(Some('}'), raw) {
            Ok((w, _)) => Ok(w),
            Err(e) => {
                if self.peek().is_none() {
                    Err("syntax error: missing '}'".into())
                } else {
                    Err(e)
                }
            }
        }
    }

    /// A variable name: letters, digits and `_`; a run of digits
    /// (positional); or one special parameter character.
    fn name(&mut self) -> String {
        let mut name = String::new();
        while let Some(ch) = self.peek() {
            if name.is_empty() && ch.is_ascii_digit() {
                while let Some(c) = self.peek().filter(char::is_ascii_digit) {
                    self.next();
                    name.push(c);
                }
                return name;
            }
            if name.is_empty() && matches!(ch, '@' | '*' | '#' | '?' | '-' | '$' | '!' | '0') {
                self.next();
                return ch.to_string();
            }
            if !ch.is_alphanumeric() && ch != '_' {
                break;
            }
            self.next();
            name.push(ch);
        }
        name
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env() -> Vec<(String, String)> {
        vec![("A".into(), "x y".into()), ("E".into(), String::new())]
    }

    #[test]
    fn defaults_and_alternatives() {
        let l = Lexer::new('\\');
        assert_eq!(l.process_word("${B:-d}", &env()).unwrap(), "d");
        assert_eq!(l.process_word("${E:-d}", &env()).unwrap(), "d");
        assert_eq!(l.process_word("${A:+alt}", &env()).unwrap(), "alt");
        assert_eq!(l.process_word("'$A'", &env()).unwrap(), "$A");
        assert_eq!(
            l.process_words("a $A", &env()).unwrap(),
            vec!["a", "x", "y"]
        );
        assert!(l.process_word("${B?}", &env()).is_err());
    }

    #[test]
    fn backtick_escape() {
        let l = Lexer::new('`');
        assert_eq!(l.process_word("a`$A", &env()).unwrap(), "a$A");
        assert_eq!(l.process_word("a\\b", &env()).unwrap(), "a\\b");
    }
}
