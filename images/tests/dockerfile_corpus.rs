//! BuildKit's Dockerfile corpus: every `testfiles/*/result` reproduced,
//! every negative case rejected, every `envVarTest` and `wordsTest` row.
//! The corpus is read from `WRUN_CORPORA` or `../shared/corpora`.

use std::fs;
use std::path::PathBuf;

use wrun_images::dockerfile::parse;
use wrun_images::dockerfile::shell::Lexer;

fn corpus() -> PathBuf {
    let base = std::env::var_os("WRUN_CORPORA")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/corpora"));
    let dir = base.join("buildkit/frontend/dockerfile");
    assert!(
        dir.is_dir(),
        "the BuildKit corpus is missing at {} (set WRUN_CORPORA)",
        dir.display()
    );
    dir
}

fn cases(sub: &str) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = fs::read_dir(corpus().join("parser").join(sub))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    v.sort();
    v
}

#[test]
fn every_testfile_parses_to_its_result() {
    let mut failures = Vec::new();
    let all = cases("testfiles");
    assert!(all.len() >= 30, "corpus has only {} cases", all.len());
    for case in &all {
        let text = fs::read_to_string(case.join("Dockerfile")).unwrap();
        let want = fs::read_to_string(case.join("result"))
            .unwrap()
            .replace("\r\n", "\n");
        match parse(&text) {
            Ok(ast) if ast.dump() == want => {}
            Ok(ast) => failures.push(format!(
                "{}:\n--- want\n{want}--- got\n{}",
                case.display(),
                ast.dump()
            )),
            Err(e) => failures.push(format!("{}: {e}", case.display())),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn every_negative_case_is_rejected() {
    let all = cases("testfiles-negative");
    assert!(!all.is_empty());
    for case in all {
        let text = fs::read_to_string(case.join("Dockerfile")).unwrap();
        let got = parse(&text).and_then(|ast| wrun_images::dockerfile::Dockerfile::from_ast(&ast));
        assert!(got.is_err(), "{} was accepted", case.display());
    }
}

fn lookup(env: &[(String, String)], name: &str) -> Option<String> {
    env.iter()
        .rev()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.clone())
}

#[test]
fn env_var_test_rows() {
    let text = fs::read_to_string(corpus().join("shell/envVarTest")).unwrap();
    let env: Vec<(String, String)> = [
        ("PWD", "/home"),
        ("SHELL", "bash"),
        ("KOREAN", "한국어"),
        ("NULL", ""),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let lex = Lexer::new('\\');
    let mut rows = 0;
    let mut failures = Vec::new();
    for line in text.lines() {
        if line.trim().is_empty() || line.starts_with('#') {
            continue;
        }
        let parts: Vec<&str> = line.splitn(3, '|').collect();
        assert_eq!(parts.len(), 3, "bad row {line:?}");
        if !matches!(parts[0], "A" | "U") {
            continue;
        }
        rows += 1;
        let (input, want) = (parts[1].trim(), parts[2].trim());
        let got = lex.process_word(input, &|n: &str| lookup(&env, n));
        match (want, got) {
            ("error", Err(_)) => {}
            ("error", Ok(g)) => failures.push(format!("{input:?}: want an error, got {g:?}")),
            (w, Ok(g)) if g == w => {}
            (w, g) => failures.push(format!("{input:?}: want {w:?}, got {g:?}")),
        }
    }
    assert!(rows > 200, "only {rows} rows");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn words_test_rows() {
    let text = fs::read_to_string(corpus().join("shell/wordsTest")).unwrap();
    let mut env: Vec<(String, String)> = Vec::new();
    let lex = Lexer::new('\\');
    let mut rows = 0;
    let mut failures = Vec::new();
    for line in text.lines() {
        if line.starts_with('#') || line.trim().is_empty() {
            continue;
        }
        if let Some(kv) = line.strip_prefix("ENV ") {
            let (k, v) = kv.split_once('=').unwrap();
            env.push((k.to_owned(), v.to_owned()));
            continue;
        }
        let (input, want) = line.split_once('|').unwrap();
        let (input, want) = (input.trim(), want.trim_start_matches(' '));
        rows += 1;
        let got = lex.process_words(input, &|n: &str| lookup(&env, n));
        match (want, got) {
            ("error", Err(_)) => {}
            (w, Ok(g)) if g.join(",") == w => {}
            (w, g) => failures.push(format!("{input:?}: want {w:?}, got {g:?}")),
        }
    }
    assert!(rows > 20, "only {rows} rows");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Mutated corpus files (bytes flipped, lines cut, continuations and
/// quotes inserted) never panic the parser, the instruction layer or the
/// word expander: each gives a parse or an error.
#[test]
fn mutated_dockerfiles_never_panic() {
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let inserts: [&[u8]; 8] = [
        b"\\\n",
        b"\"",
        b"'",
        b"${",
        b"<<EOF\n",
        b"[",
        b"--",
        b"# escape=`\n",
    ];
    let lex = Lexer::new('\\');
    let mut tried = 0;
    for case in cases("testfiles") {
        let orig = fs::read(case.join("Dockerfile")).unwrap();
        for _ in 0..40 {
            let mut b = orig.clone();
            for _ in 0..(next() % 4 + 1) {
                if b.is_empty() {
                    break;
                }
                let at = (next() as usize) % b.len();
                match next() % 3 {
                    0 => b[at] = (next() % 256) as u8,
                    1 => b.truncate(at),
                    _ => {
                        let ins = inserts[(next() as usize) % inserts.len()];
                        b.splice(at..at, ins.iter().copied());
                    }
                }
            }
            let text = String::from_utf8_lossy(&b);
            if let Ok(ast) = parse(&text) {
                let _ = wrun_images::dockerfile::Dockerfile::from_ast(&ast);
                let _ = ast.dump();
            }
            for line in text.lines() {
                let _ = lex.process_words(line, &|_: &str| None);
            }
            tried += 1;
        }
    }
    assert!(tried > 1000);
}
