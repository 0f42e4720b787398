//! `wrun build` end to end, as root, through the binary: the lecture's
//! product API (build, edit app.py, rebuild from cache, run and ask it),
//! the lecture's "bad order" Dockerfile, multi-stage COPY --from,
//! .dockerignore exceptions, whiteouts, ADD of a tar, and a failing RUN
//! that leaves nothing behind. Ports used: 18300-18309.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

use common::{Env, busybox, inspect, mounts_under, ok, run_d, text, wait_until};

fn write(dir: &Path, name: &str, content: &str) {
    let p = dir.join(name);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, content).unwrap();
}

/// A copy of `examples/product-api` in a temporary directory.
fn product_api(into: &Path) -> PathBuf {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/product-api");
    let dst = into.join("product-api");
    std::fs::create_dir_all(&dst).unwrap();
    for e in std::fs::read_dir(&src).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), dst.join(e.file_name())).unwrap();
    }
    dst
}

fn python() -> Option<Env> {
    if !common::require_root() {
        return None;
    }
    Env::new().with_cached_image("python-3.11-slim", "python:3.11-slim")
}

fn build(env: &Env, args: &[&str]) -> std::process::Output {
    let mut full = vec!["build"];
    full.extend_from_slice(args);
    env.wrun(&full)
}

fn lines(out: &std::process::Output) -> Vec<String> {
    text(&out.stdout).lines().map(str::to_owned).collect()
}

/// GET `path` on 127.0.0.1:`port`; the body, once the server answers.
fn http_get(port: u16, path: &str) -> Option<String> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: localhost\r\n\r\n").ok()?;
    let mut resp = String::new();
    s.read_to_string(&mut resp).ok()?;
    let (head, body) = resp.split_once("\r\n\r\n")?;
    head.starts_with("HTTP/1").then(|| body.to_owned())
}

/// After every test: no container and no mount of the state root left.
fn assert_clean(env: &Env) {
    assert_eq!(
        ok(&env.wrun(&["ps", "-a", "-q"])),
        "",
        "containers left behind"
    );
    assert!(
        mounts_under(env.root()).is_empty(),
        "mounts left: {:?}",
        mounts_under(env.root())
    );
}

#[test]
fn lecture_product_api_builds_rebuilds_from_cache_and_answers() {
    let Some(env) = python() else { return };
    let ctx = product_api(env.root());
    let out = build(&env, &["-t", "product-api", ctx.to_str().unwrap()]);
    let first = lines(&out);
    ok(&out);
    assert_eq!(first[0], "Step 1/7 : FROM python:3.11-slim");
    assert!(
        first.contains(&"Step 4/7 : RUN pip install --no-cache-dir -r requirements.txt".to_owned())
    );
    assert!(
        first.iter().any(|l| l.starts_with(" ---> Running in ")),
        "{first:#?}"
    );
    assert!(first.iter().any(|l| l.starts_with("Successfully built ")));
    assert_eq!(
        first.last().unwrap(),
        "Successfully tagged product-api:latest"
    );

    // Edit app.py: only COPY . . and what follows are rebuilt.
    let app = ctx.join("app.py");
    let code = std::fs::read_to_string(&app).unwrap();
    std::fs::write(&app, code.replace("\"Mouse\"", "\"Wireless mouse\"")).unwrap();
    let out = build(&env, &["-t", "product-api", ctx.to_str().unwrap()]);
    let second = lines(&out);
    ok(&out);
    let pip = second
        .iter()
        .position(|l| l == "Step 4/7 : RUN pip install --no-cache-dir -r requirements.txt")
        .unwrap();
    assert_eq!(second[pip + 1], " ---> Using cache", "{second:#?}");
    assert_eq!(
        second.iter().filter(|l| *l == " ---> Using cache").count(),
        3,
        "{second:#?}"
    );
    assert!(
        second.contains(&" ---> cache miss: COPY . . — app.py changed".to_owned()),
        "{second:#?}"
    );
    assert!(
        !second.iter().any(|l| l.starts_with(" ---> Running in ")),
        "pip ran again"
    );

    // Config and history as Docker writes them.
    assert_eq!(
        inspect(&env, "product-api", "{{json .Config.Cmd}}"),
        r#"["python","app.py"]"#
    );
    assert_eq!(
        inspect(&env, "product-api", "{{.Config.WorkingDir}}"),
        "/app"
    );
    assert_eq!(
        inspect(&env, "product-api", "{{json .Config.ExposedPorts}}"),
        r#"{"5000/tcp":{}}"#
    );
    let history = ok(&env.wrun(&["history", "--no-trunc", "product-api"]));
    assert!(
        history.contains("/bin/sh -c pip install --no-cache-dir -r requirements.txt"),
        "{history}"
    );
    assert!(history.contains("/bin/sh -c #(nop) COPY dir:"), "{history}");
    assert!(
        history.contains(r#"/bin/sh -c #(nop)  CMD ["python" "app.py"]"#),
        "{history}"
    );

    // The image runs and answers on its published port, with the edit.
    let id = run_d(&env, &["-p", "18300:5000", "product-api"]);
    let mut body = None;
    wait_until("the API to answer", Duration::from_secs(30), || {
        body = http_get(18300, "/products/2");
        body.is_some()
    });
    assert!(body.unwrap().contains("Wireless mouse"));
    assert!(http_get(18300, "/health").unwrap().contains("\"ok\""));
    ok(&env.wrun(&["rm", "-f", &id]));
    assert_clean(&env);
}

#[test]
fn lecture_bad_order_misses_on_every_change_and_says_why() {
    let Some(env) = python() else { return };
    let ctx = product_api(env.root());
    write(
        &ctx,
        "Dockerfile",
        "FROM python:3.11-slim\nWORKDIR /app\n# Copy everything first\nCOPY . .\nRUN pip install -r requirements.txt\nCMD [\"python\", \"app.py\"]\n\
         # /bin links to usr/bin in Debian: the copy goes through the link\n\
         COPY requirements.txt /bin/\n",
    );
    ok(&build(&env, &["-t", "bad", ctx.to_str().unwrap()]));
    let through = ok(&env.wrun(&[
        "run",
        "--rm",
        "--network",
        "none",
        "bad",
        "sh",
        "-c",
        "readlink /bin; cat /usr/bin/requirements.txt",
    ]));
    assert_eq!(through, "usr/bin\nflask");
    for n in 0..2 {
        write(&ctx, "app.py", &format!("print({n})\n"));
        let out = build(
            &env,
            &["--explain-cache", "-t", "bad", ctx.to_str().unwrap()],
        );
        let l = lines(&out);
        ok(&out);
        assert!(
            l.contains(&" ---> cache hit: WORKDIR /app — same parent, instruction".to_owned()),
            "{l:#?}"
        );
        assert!(
            l.contains(&" ---> cache miss: COPY . . — app.py changed".to_owned()),
            "{l:#?}"
        );
        assert!(
            l.contains(
                &" ---> cache miss: RUN pip install -r requirements.txt — parent step rebuilt"
                    .to_owned()
            ),
            "{l:#?}"
        );
        assert!(
            l.iter().any(|x| x.starts_with(" ---> Running in ")),
            "pip did not run again"
        );
    }
    assert_clean(&env);
}

#[test]
fn multi_stage_copy_from_dockerignore_whiteouts_and_add_tar() {
    let Some(env) = busybox() else { return };
    let ctx = env.root().join("ctx");
    write(&ctx, ".dockerignore", "*.md\n!README.md\nsecret/\n");
    write(&ctx, "README.md", "readme\n");
    write(&ctx, "NOTES.md", "notes\n");
    write(&ctx, "secret/key", "k\n");
    write(&ctx, "src/main.sh", "echo built\n");
    let mut b = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.set_size(6);
    h.set_mode(0o644);
    b.append_data(&mut h, "pkg/data.txt", &b"inside"[..])
        .unwrap();
    std::fs::write(ctx.join("pkg.tar"), b.into_inner().unwrap()).unwrap();
    write(
        &ctx,
        "Dockerfile",
        "FROM busybox AS unused\nRUN exit 9\n\
         FROM busybox AS build\nCOPY src/ /src/\nRUN mkdir /out && sh /src/main.sh > /out/result\n\
         FROM busybox\nCOPY --from=build /out/result /result\nCOPY . /ctx/\nADD pkg.tar /opt/\n\
         RUN rm /bin/vi && rm /ctx/NOTES.md 2>/dev/null; true\n\
         RUN <<EOF\necho one > /one\necho two >> /one\nEOF\n\
         COPY <<-EOF /three\n\tthree\n\tEOF\nCMD [\"cat\", \"/result\"]\n",
    );
    let out = build(
        &env,
        &[
            "-t",
            "multi",
            "--iidfile",
            env.root().join("iid").to_str().unwrap(),
            ctx.to_str().unwrap(),
        ],
    );
    let l = lines(&out);
    ok(&out);
    assert!(
        !l.iter().any(|x| x.contains("exit 9")),
        "an unneeded stage was built: {l:#?}"
    );
    let iid = std::fs::read_to_string(env.root().join("iid")).unwrap();
    assert_eq!(iid, inspect(&env, "multi", "{{.Id}}"));
    let run =
        |cmd: &str| ok(&env.wrun(&["run", "--rm", "--network", "none", "multi", "sh", "-c", cmd]));
    assert_eq!(run("cat /result"), "built");
    assert_eq!(
        run("ls /ctx | sort | tr '\\n' ' '"),
        "Dockerfile README.md pkg.tar src"
    );
    assert_eq!(run("cat /opt/pkg/data.txt"), "inside");
    assert_eq!(run("cat /one /three"), "one\ntwo\nthree");
    assert_eq!(
        run("ls /bin/vi 2>&1 || echo gone"),
        "ls: /bin/vi: No such file or directory\ngone"
    );
    assert_clean(&env);
}

#[test]
fn failing_run_shows_command_code_and_output_and_leaves_nothing() {
    let Some(env) = busybox() else { return };
    let ctx = env.root().join("ctx");
    write(
        &ctx,
        "Dockerfile",
        "FROM busybox\nENV A=1\nRUN echo first line; echo the reason >&2; exit 3\n",
    );
    let before = ok(&env.wrun(&["images", "-q", "-a"]));
    let out = build(&env, &["-q", "-t", "broken", ctx.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(3));
    let err = text(&out.stderr);
    assert!(
        err.contains("Dockerfile:3: The command '/bin/sh -c echo first line; echo the reason >&2; exit 3' returned a non-zero code: 3"),
        "{err}"
    );
    assert!(
        err.contains("  | first line") && err.contains("  | the reason"),
        "{err}"
    );
    assert_eq!(text(&out.stdout), "", "-q prints nothing but the id");
    assert_eq!(ok(&env.wrun(&["images", "-q", "-a"])), before);
    assert!(!env.wrun(&["image", "inspect", "broken"]).status.success());
    assert_clean(&env);
}

#[test]
fn bad_input_is_named() {
    let Some(env) = busybox() else { return };
    let ctx = env.root().join("ctx");
    write(&ctx, "Dockerfile", "FROM busybox\n\nCOPPY a b\n");
    let out = build(&env, &[ctx.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("Dockerfile:3:1: unknown instruction: COPPY"),
        "{}",
        text(&out.stderr)
    );

    write(&ctx, "Dockerfile", "FROM busybox\nCOPY missing.txt /\n");
    let err = text(&build(&env, &[ctx.to_str().unwrap()]).stderr);
    assert!(
        err.contains("Dockerfile:2: COPY failed: file not found in build context"),
        "{err}"
    );
    assert!(
        err.contains("missing.txt") && err.contains(".dockerignore"),
        "{err}"
    );

    let err = text(&build(&env, &["--target", "nope", ctx.to_str().unwrap()]).stderr);
    assert!(
        err.contains("failed to reach build target nope in Dockerfile"),
        "{err}"
    );

    // A missing base is pulled; from a loopback port nothing listens on
    // (18799, outside this file's range), so the pull fails and the FROM line says why.
    write(&ctx, "Dockerfile", "FROM 127.0.0.1:18799/nosuchimage:1\n");
    let err = text(&build(&env, &[ctx.to_str().unwrap()]).stderr);
    assert!(
        err.contains(
            "Dockerfile:1: FROM 127.0.0.1:18799/nosuchimage:1: Error response from daemon"
        ),
        "{err}"
    );

    // A Dockerfile on stdin, no context: COPY says why it cannot work.
    let mut child = env
        .cmd(&["build", "-t", "from-stdin", "-"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"FROM busybox\nLABEL from=stdin\nHEALTHCHECK --interval=5s CMD true\n")
        .unwrap();
    ok(&child.wait_with_output().unwrap());
    assert_eq!(
        inspect(&env, "from-stdin", "{{.Config.Labels.from}}"),
        "stdin"
    );
    assert_clean(&env);
}

#[test]
fn interrupting_a_run_step_removes_its_container() {
    use std::io::BufRead;
    let Some(env) = busybox() else { return };
    let ctx = env.root().join("ctx");
    write(
        &ctx,
        "Dockerfile",
        "FROM busybox\nRUN echo started; sleep 60\n",
    );
    let mut child = env
        .cmd(&[
            "build",
            "--network",
            "none",
            "-t",
            "slow",
            ctx.to_str().unwrap(),
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    // The step's own output (not the `Step 2/2 : RUN echo started…` line).
    loop {
        line.clear();
        if out.read_line(&mut line).unwrap() == 0 || line.trim() == "started" {
            break;
        }
    }
    assert_eq!(line.trim(), "started", "the step never ran");
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGINT,
    )
    .unwrap();
    let o = child.wait_with_output().unwrap();
    assert!(!o.status.success());
    assert!(
        text(&o.stderr).contains("Dockerfile:2: RUN: interrupted by SIGINT"),
        "{}",
        text(&o.stderr)
    );
    assert!(!env.wrun(&["image", "inspect", "slow"]).status.success());
    assert_clean(&env);
}
