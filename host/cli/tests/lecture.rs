//! The Docker lecture (/work/shared/seed/docker-lecture.txt), command by
//! command, with `docker` replaced by `wrun`: its Flask product API
//! (examples/product-api) and its compose stack (examples/product-api-compose:
//! Flask, PostgreSQL, Redis). The lecture's host port 5000 becomes 18700+ here.
//! `python:3.11-slim` comes from scripts/make-base-images.sh, `postgres:15`
//! and `redis:7` from the built-image cache (scripts/make-lecture-images.sh,
//! `Env::with_built_image`); pip finds the compose web image's requirements
//! already installed in `python:3.11-slim` (Flask, psycopg2, redis from
//! Debian), so nothing is fetched.
//! Ports 18700-18749.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::{Env, ok, run_d, text, wait_until};

fn examples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples")
}

/// Copies the regular files of `examples/NAME` into `to`.
fn copy_example(name: &str, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(examples().join(name)).unwrap().flatten() {
        if e.file_type().unwrap().is_file() {
            std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
        }
    }
}

/// `GET path` on 127.0.0.1:port: the body of a 200 answer.
fn http_get(port: u16, path: &str) -> Option<String> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: localhost\r\n\r\n").ok()?;
    let mut resp = String::new();
    s.read_to_string(&mut resp).ok()?;
    let (head, body) = resp.split_once("\r\n\r\n")?;
    head.starts_with("HTTP/1.1 200")
        .then(|| body.to_owned())
        .or_else(|| head.starts_with("HTTP/1.0 200").then(|| body.to_owned()))
}

fn wait_for(port: u16, path: &str, want: &str) -> String {
    let mut last = String::new();
    wait_until(
        &format!("GET {path} on port {port} to contain {want:?}"),
        Duration::from_secs(180),
        || {
            last = http_get(port, path).unwrap_or_default();
            last.contains(want)
        },
    );
    last
}

/// `wrun [--root] ARGS` run in `dir`.
fn in_dir(env: &Env, dir: &Path, args: &[&str], vars: &[(&str, &str)]) -> Command {
    let mut c = env.cmd(args);
    c.current_dir(dir);
    for (k, v) in vars {
        c.env(k, v);
    }
    c
}

fn interrupt(child: &Child) {
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGINT,
    )
    .unwrap();
}

#[test]
fn parts_3_and_4_build_run_ps_stop_images_history_inspect_prune() {
    let Some(env) = common::require_root().then(Env::new) else {
        return;
    };
    let Some(env) = env.with_cached_image("python-3.11-slim", "python:3.11-slim") else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let app = tmp.path().join("product-api");
    copy_example("product-api", &app);

    // docker build -t my-flask-app .
    let out = ok(
        &in_dir(&env, &app, &["build", "-t", "my-flask-app", "."], &[])
            .output()
            .unwrap(),
    );
    assert!(
        out.contains("Successfully tagged my-flask-app:latest"),
        "{out}"
    );

    // docker run -p 5000:5000 my-flask-app (detached here)
    let id = run_d(&env, &["-p", "18700:5000", "my-flask-app"]);
    let body = wait_for(18700, "/products", "Laptop");
    assert!(body.contains("Keyboard"), "{body}");
    assert!(wait_for(18700, "/health", "ok").contains("status"));

    // docker ps
    let ps = ok(&env.wrun(&["ps"]));
    let line = ps
        .lines()
        .find(|l| l.starts_with(&id[..12]))
        .unwrap_or_else(|| panic!("{} not in ps:\n{ps}", &id[..12]));
    assert!(line.contains("my-flask-app"), "{line}");
    assert!(line.contains("0.0.0.0:18700->5000/tcp"), "{line}");

    // docker stop <container_id>
    assert_eq!(ok(&env.wrun(&["stop", &id[..12]])), &id[..12]);
    assert!(!ok(&env.wrun(&["ps"])).contains(&id[..12]));

    // docker images
    let images = ok(&env.wrun(&["images"]));
    assert!(images.starts_with("REPOSITORY"), "{images}");
    assert!(images.contains("my-flask-app"), "{images}");

    // docker history flask-app / docker inspect flask-app
    ok(&env.wrun(&["tag", "my-flask-app", "flask-app"]));
    let history = ok(&env.wrun(&["history", "flask-app"]));
    assert!(history.starts_with("IMAGE "), "{history}");
    assert!(
        history.contains("/bin/sh -c pip install --no-cache-dir -r req…"),
        "{history}"
    );
    assert!(history.contains("CMD [\"python\" \"app.py\"]"), "{history}");
    let inspect = ok(&env.wrun(&["inspect", "flask-app"]));
    let v: serde_json::Value = serde_json::from_str(&inspect).unwrap();
    assert!(
        v[0]["Config"]["ExposedPorts"]["5000/tcp"].is_object(),
        "{inspect}"
    );
    assert_eq!(v[0]["Config"]["WorkingDir"], "/app");

    // The last slide: docker build -t product-api . / docker run / curl,
    // after an edit of app.py (only COPY . . and what follows rebuild).
    let source = std::fs::read_to_string(app.join("app.py")).unwrap();
    std::fs::write(app.join("app.py"), source.replace("Monitor", "Screen")).unwrap();
    let out = ok(
        &in_dir(&env, &app, &["build", "-t", "product-api", "."], &[])
            .output()
            .unwrap(),
    );
    assert!(out.contains("Using cache"), "pip install is cached:\n{out}");
    let api = run_d(&env, &["-p", "18701:5000", "product-api"]);
    wait_for(18701, "/products", "Screen");
    ok(&env.wrun(&["rm", "-f", &api]));

    // Another edit and rebuild leave the previous product-api dangling:
    // docker image prune (answering its question) removes it.
    let old = ok(&env.wrun(&["image", "inspect", "-f", "{{.Id}}", "product-api"]));
    std::fs::write(app.join("app.py"), source.replace("Monitor", "Display")).unwrap();
    ok(
        &in_dir(&env, &app, &["build", "-t", "product-api", "."], &[])
            .output()
            .unwrap(),
    );
    let mut prune = env.cmd(&["image", "prune"]);
    prune.stdin(Stdio::piped()).stdout(Stdio::piped());
    let mut child = prune.spawn().unwrap();
    child.stdin.take().unwrap().write_all(b"y\n").unwrap();
    let out = ok(&child.wait_with_output().unwrap());
    assert!(out.contains("Total reclaimed space"), "{out}");
    assert!(out.contains(&old), "{out}");
    assert!(!env.wrun(&["image", "inspect", &old]).status.success());
    ok(&env.wrun(&["rm", &id]));
}

/// A root with part 5's images: python, and PostgreSQL and Redis built
/// from `examples/product-stack`. `None` (skip) without root or images.
fn stack_env() -> Option<Env> {
    let env = common::require_root().then(Env::new)?;
    env.with_cached_image("python-3.11-slim", "python:3.11-slim")
        .and_then(|e| e.with_built_image(&examples().join("product-stack/db"), "postgres:15"))
        .and_then(|e| e.with_built_image(&examples().join("product-stack/cache"), "redis:7"))
}

#[test]
fn part_5_postgres_redis_and_the_flask_app_with_link() {
    let Some(env) = stack_env() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let app = tmp.path().join("product-api");
    copy_example("product-api", &app);
    ok(&in_dir(&env, &app, &["build", "-t", "flask-app", "."], &[])
        .output()
        .unwrap());

    // The three commands of "Without docker-compose".
    run_d(&env, &["--name", "postgres", "postgres:15"]);
    run_d(&env, &["--name", "redis", "redis:7"]);
    let web = run_d(
        &env,
        &[
            "-p",
            "18702:5000",
            "--link",
            "postgres",
            "--link",
            "redis",
            "flask-app",
        ],
    );
    wait_for(18702, "/products", "Laptop");

    // From the Flask container, the link names resolve and the services
    // answer: PostgreSQL accepts a connection (first start runs initdb),
    // Redis answers PING.
    let probe = r#"
import socket, sys
host, port = sys.argv[1], int(sys.argv[2])
s = socket.create_connection((host, port), timeout=5)
if port == 6379:
    s.sendall(b"PING\r\n")
    print(s.recv(64).decode().strip())
else:
    print("connected", socket.gethostbyname(host))
"#;
    let mut answer = String::new();
    wait_until("postgres:5432 to accept", Duration::from_secs(120), || {
        let o = env.wrun(&["exec", &web, "python", "-c", probe, "postgres", "5432"]);
        answer = text(&o.stdout);
        o.status.success()
    });
    assert!(answer.starts_with("connected "), "{answer}");
    let pong = ok(&env.wrun(&["exec", &web, "python", "-c", probe, "redis", "6379"]));
    assert_eq!(pong, "+PONG");
    let logs = text(&env.wrun(&["logs", "postgres"]).stdout);
    assert!(logs.contains("database postgres initialized"), "{logs}");
    ok(&env.wrun(&["rm", "-f", "postgres", "redis", &web]));
}

/// `wrun compose ARGS` in `dir`, with the web port moved into our range.
fn compose(env: &Env, dir: &Path, args: &[&str]) -> Command {
    let mut full = vec!["compose"];
    full.extend_from_slice(args);
    in_dir(env, dir, &full, &[("WEB_PORT", "18710")])
}

/// Reads a child's pipe to the end on its own thread.
fn drain(pipe: impl Read + Send + 'static) -> std::thread::JoinHandle<String> {
    std::thread::spawn(move || {
        let mut s = String::new();
        let _ = BufReader::new(pipe).read_to_string(&mut s);
        s
    })
}

/// `docker-compose up` (attached): runs until /health answers through the
/// stack, then Ctrl-C stops it.
fn up_attached_then_ctrl_c(env: &Env, dir: &Path, args: &[&str]) {
    let mut child = compose(env, dir, args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = drain(child.stdout.take().unwrap());
    let stderr = drain(child.stderr.take().unwrap());
    let mut exited = None;
    wait_until(
        "the attached stack to answer /health",
        Duration::from_secs(300),
        || {
            exited = child.try_wait().unwrap();
            exited.is_some() || http_get(18710, "/health").is_some_and(|b| b.contains("\"ok\""))
        },
    );
    if let Some(status) = exited {
        panic!(
            "compose {args:?} exited early ({status}):\n{}\n{}",
            stdout.join().unwrap(),
            stderr.join().unwrap()
        );
    }
    interrupt(&child);
    let status = child.wait().unwrap();
    let (output, err) = (stdout.join().unwrap(), stderr.join().unwrap());
    assert!(
        output.contains("web-1") && output.contains("Running on"),
        "attached output shows the services' logs:\n{output}\n{err}"
    );
    assert!(
        status.code().is_some(),
        "compose up exits on SIGINT: {status:?}"
    );
    let ps = ok(&compose(env, dir, &["ps"]).output().unwrap());
    assert_eq!(ps.lines().count(), 1, "Ctrl-C stopped the stack:\n{ps}");
}

#[test]
fn part_5_compose_up_logs_hot_reload_down() {
    let Some(env) = stack_env() else { return };
    let tmp = tempfile::tempdir().unwrap();
    // The directory names the project (and so the containers).
    let dir = tmp.path().join("lecture-compose");
    copy_example("product-api-compose", &dir);

    // docker-compose up: builds web, starts all three attached; Ctrl-C.
    up_attached_then_ctrl_c(&env, &dir, &["up"]);

    // docker-compose up -d
    ok(&compose(&env, &dir, &["up", "-d"]).output().unwrap());
    let products = wait_for(18710, "/products", "Laptop");
    assert!(products.contains("Keyboard"), "{products}");
    let health: serde_json::Value =
        serde_json::from_str(&wait_for(18710, "/health", "ok")).unwrap();
    assert_eq!(health, serde_json::json!({"status": "ok"}));

    // Hot reload: the `.:/app` volume carries an edit of app.py into the
    // container, and Flask's reloader picks it up without a build.
    let source = std::fs::read_to_string(dir.join("app.py")).unwrap();
    let edited = source.replace(
        r#"return jsonify({"status": "ok"})"#,
        r#"return jsonify({"status": "ok", "reloaded": True})"#,
    );
    assert_ne!(source, edited);
    std::fs::write(dir.join("app.py"), edited).unwrap();
    wait_for(18710, "/health", "reloaded");

    // docker-compose logs -f web: follows; a new request shows up.
    let mut follow = compose(&env, &dir, &["logs", "-f", "--no-color", "web"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(follow.stdout.take().unwrap()).lines();
    http_get(18710, "/products/4").unwrap();
    let seen = lines.any(|l| l.is_ok_and(|l| l.contains("GET /products/4")));
    follow.kill().unwrap();
    follow.wait().unwrap();
    assert!(seen, "logs -f showed the request");

    // docker-compose down: containers and network go, the volume stays.
    ok(&compose(&env, &dir, &["down"]).output().unwrap());
    assert_eq!(
        ok(&env.wrun(&["ps", "-aq"])),
        "",
        "down removes the containers"
    );
    let volumes = ok(&env.wrun(&["volume", "ls", "-q"]));
    assert!(volumes.contains("lecture-compose_pgdata"), "{volumes}");

    // docker-compose up --build (attached), Ctrl-C; then down -v.
    up_attached_then_ctrl_c(&env, &dir, &["up", "--build"]);
    ok(&compose(&env, &dir, &["down", "-v"]).output().unwrap());
    assert_eq!(ok(&env.wrun(&["ps", "-aq"])), "");
    let volumes = ok(&env.wrun(&["volume", "ls", "-q"]));
    assert!(!volumes.contains("lecture-compose_pgdata"), "{volumes}");
}
