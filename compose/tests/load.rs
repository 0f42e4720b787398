//! Loading projects: interpolation and `.env`, short and long syntax,
//! merged files, profiles, validation errors that name file, line and key,
//! `depends_on` order and cycles, and `config` output.

use std::collections::BTreeMap;
use std::path::Path;

use wrun_compose::model::{Condition, VolumeType};
use wrun_compose::{Error, Options, load, load_str};

fn env(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn project(
    dir: &Path,
    files: &[(&str, &str)],
    vars: &[(&str, &str)],
) -> wrun_compose::Result<wrun_compose::Project> {
    for (name, text) in files {
        std::fs::write(dir.join(name), text).unwrap();
    }
    load(&Options {
        cwd: dir.to_path_buf(),
        environment: env(vars),
        ..Options::default()
    })
}

fn err_text(r: wrun_compose::Result<impl std::fmt::Debug>) -> String {
    r.unwrap_err().to_string()
}

#[test]
fn lecture_file_loads_with_dotenv_and_interpolation() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().join("My App");
    std::fs::create_dir(&d).unwrap();
    std::fs::write(d.join(".env"), "WEB_PORT=18500\nTAG=3.11-slim\n").unwrap();
    let p = project(
        &d,
        &[(
            "docker-compose.yml",
            "version: '3.8'\nservices:\n  web:\n    build: .\n    image: python:${TAG}\n    ports:\n      - \"${WEB_PORT:-5000}:5000\"\n    environment:\n      - FLASK_ENV=development\n      - FROM_SHELL\n      - PRICE=$$5\n    volumes:\n      - .:/app\n",
        )],
        &[("TAG", "3.12"), ("FROM_SHELL", "yes")],
    )
    .unwrap();
    // Project name from the folder, normalized.
    assert_eq!(p.name, "myapp");
    let web = &p.model.services["web"];
    // The process environment wins over .env.
    assert_eq!(web.image.as_deref(), Some("python:3.12"));
    assert_eq!(web.ports[0].published, Some(18500));
    assert_eq!(web.ports[0].target, 5000);
    assert_eq!(web.environment["FROM_SHELL"].as_deref(), Some("yes"));
    assert_eq!(web.environment["PRICE"].as_deref(), Some("$5"));
    assert_eq!(web.volumes[0].kind, VolumeType::Bind);
    assert_eq!(web.volumes[0].source.as_deref(), Some(d.to_str().unwrap()));
    assert_eq!(web.build.as_ref().unwrap().context, d.to_str().unwrap());
    assert!(web.networks.contains_key("default"));
}

#[test]
fn env_file_flag_and_required_variables() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("custom.env"), "IMG=busybox\n").unwrap();
    std::fs::write(
        d.join("compose.yaml"),
        "services:\n  a:\n    image: ${IMG:?set IMG}\n",
    )
    .unwrap();
    let opts = |files: Vec<std::path::PathBuf>| Options {
        cwd: d.to_path_buf(),
        env_files: files,
        ..Options::default()
    };
    let p = load(&opts(vec!["custom.env".into()])).unwrap();
    assert_eq!(p.model.services["a"].image.as_deref(), Some("busybox"));
    let e = err_text(load(&opts(vec![])));
    assert!(
        e.contains("compose.yaml:3") && e.contains("services.a.image") && e.contains("set IMG"),
        "{e}"
    );
}

#[test]
fn service_env_file_fills_environment() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("web.env"), "A=from-file\nB=b\n").unwrap();
    let p = project(
        d,
        &[("compose.yaml", "services:\n  web:\n    image: busybox\n    env_file: web.env\n    environment:\n      A: explicit\n")],
        &[],
    )
    .unwrap();
    let web = &p.model.services["web"];
    assert_eq!(web.environment["A"].as_deref(), Some("explicit"));
    assert_eq!(web.environment["B"].as_deref(), Some("b"));
    assert!(web.env_file.is_empty());
    let e = err_text(project(
        d,
        &[(
            "compose.yaml",
            "services:\n  web:\n    image: busybox\n    env_file: missing.env\n",
        )],
        &[],
    ));
    assert!(
        e.contains("compose.yaml:4") && e.contains("missing.env"),
        "{e}"
    );
}

#[test]
fn long_and_short_syntax_agree() {
    let dir = tempfile::tempdir().unwrap();
    let short = "services:\n  s:\n    image: busybox\n    ports: [\"127.0.0.1:8080:80/udp\", 9000]\n    volumes: [\"data:/data:ro\", \"/anon\"]\n    command: sh -c 'echo hi'\n    environment: [A=1]\n    depends_on: [t]\n  t:\n    image: busybox\nvolumes:\n  data:\n";
    let long = "services:\n  s:\n    image: busybox\n    ports:\n      - target: 80\n        published: \"8080\"\n        host_ip: 127.0.0.1\n        protocol: udp\n      - target: 9000\n    volumes:\n      - type: volume\n        source: data\n        target: /data\n        read_only: true\n      - type: volume\n        target: /anon\n    command: [sh, -c, echo hi]\n    environment:\n      A: 1\n    depends_on:\n      t:\n        condition: service_started\n  t:\n    image: busybox\nvolumes:\n  data: {}\n";
    let e = BTreeMap::new();
    let a = load_str(short, Path::new("short.yaml"), dir.path(), &e).unwrap();
    let b = load_str(long, Path::new("long.yaml"), dir.path(), &e).unwrap();
    assert_eq!(a, b);
    assert_eq!(
        a.services["s"].depends_on["t"].condition,
        Condition::ServiceStarted
    );
}

#[test]
fn anchors_merge_keys_and_extensions() {
    let dir = tempfile::tempdir().unwrap();
    let text = "x-common: &common\n  image: busybox\n  environment:\n    A: 1\nservices:\n  a:\n    <<: *common\n    x-note: ignored\n    x-wrun:\n      isolation: wasm\n      policy: audit\n  b:\n    <<: *common\n    image: debian:bookworm-slim\n";
    let m = load_str(text, Path::new("c.yaml"), dir.path(), &BTreeMap::new()).unwrap();
    assert_eq!(m.services["a"].image.as_deref(), Some("busybox"));
    assert_eq!(
        m.services["b"].image.as_deref(),
        Some("debian:bookworm-slim")
    );
    assert_eq!(m.services["b"].environment["A"].as_deref(), Some("1"));
    let x = m.services["a"].x_wrun.as_ref().unwrap();
    assert_eq!(
        (x.isolation.as_deref(), x.policy.as_deref()),
        (Some("wasm"), Some("audit"))
    );
}

#[test]
fn files_merge_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("compose.yaml"), "services:\n  web:\n    image: busybox\n    command: [a]\n    ports: [\"18501:80\"]\n    environment: {A: base, B: base}\n    volumes: [\"/h1:/x\", \"/h2:/y\"]\n").unwrap();
    std::fs::write(d.join("compose.override.yaml"), "services:\n  web:\n    command: [b]\n    ports: [\"18502:81\"]\n    environment: {B: over}\n    volumes: [\"/h3:/y\"]\n  extra:\n    image: busybox\n").unwrap();
    let p = load(&Options {
        cwd: d.to_path_buf(),
        ..Options::default()
    })
    .unwrap();
    assert_eq!(p.files.len(), 2, "the override file is picked up");
    let web = &p.model.services["web"];
    assert_eq!(web.command.as_deref(), Some(&["b".to_string()][..]));
    assert_eq!(web.ports.len(), 2);
    assert_eq!(web.environment["A"].as_deref(), Some("base"));
    assert_eq!(web.environment["B"].as_deref(), Some("over"));
    let y: Vec<_> = web.volumes.iter().filter(|v| v.target == "/y").collect();
    assert_eq!(y.len(), 1);
    assert_eq!(y[0].source.as_deref(), Some("/h3"));
    assert!(p.model.services.contains_key("extra"));
    // -f picks files explicitly, in order.
    let p = load(&Options {
        cwd: d.to_path_buf(),
        files: vec!["compose.yaml".into()],
        ..Options::default()
    })
    .unwrap();
    assert_eq!(
        p.model.services["web"].command.as_deref(),
        Some(&["a".to_string()][..])
    );
}

#[test]
fn errors_name_file_line_and_key() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let cases: &[(&str, &[&str])] = &[
        // Unknown key, with a suggestion.
        (
            "services:\n  web:\n    image: busybox\n    prots: [\"80\"]\n",
            &[":4:", "services.web", "prots", "did you mean `ports`"],
        ),
        // Wrong type.
        (
            "services:\n  web:\n    image: busybox\n    read_only: maybe\n",
            &[":4:", "services.web.read_only"],
        ),
        // YAML syntax, with line and column.
        (
            "services:\n  web:\n    image: [busybox\n",
            &["compose.yaml:"],
        ),
        // Undefined dependency, with a suggestion.
        (
            "services:\n  web:\n    image: busybox\n    depends_on: [dbb]\n  db:\n    image: busybox\n",
            &[
                ":4:",
                "services.web.depends_on",
                "\"dbb\"",
                "did you mean \"db\"",
            ],
        ),
        // Bad port.
        (
            "services:\n  web:\n    image: busybox\n    ports:\n      - \"80:http\"\n",
            &[":4:", "services.web.ports", "http"],
        ),
        // Port clash between services.
        (
            "services:\n  a:\n    image: busybox\n    ports: [\"18503:80\"]\n  b:\n    image: busybox\n    ports: [\"18503:81\"]\n",
            &["services.b.ports", "18503", "\"a\""],
        ),
        // No image or build.
        (
            "services:\n  a:\n    command: [x]\n",
            &[":2:", "services.a", "neither an image nor a build"],
        ),
        // Undefined volume.
        (
            "services:\n  a:\n    image: busybox\n    volumes: [\"dta:/d\"]\nvolumes:\n  data:\n",
            &["services.a.volumes[0]", "did you mean \"data\""],
        ),
        // Bad duration.
        (
            "services:\n  a:\n    image: busybox\n    healthcheck:\n      test: [\"CMD\", \"true\"]\n      interval: 5 parsecs\n",
            &[":6:", "services.a.healthcheck.interval"],
        ),
        // Bad restart.
        (
            "services:\n  a:\n    image: busybox\n    restart: sometimes\n",
            &[":4:", "sometimes"],
        ),
        // Unknown condition.
        (
            "services:\n  a:\n    image: busybox\n    depends_on:\n      b:\n        condition: service_happy\n  b:\n    image: busybox\n",
            &["services.a.depends_on", "service_happy"],
        ),
    ];
    for (text, needles) in cases {
        let e = err_text(project(d, &[("compose.yaml", text)], &[]));
        for n in *needles {
            assert!(e.contains(n), "error for\n{text}\nis {e:?}, missing {n:?}");
        }
        assert!(e.contains("compose.yaml"), "{e}");
    }
}

#[test]
fn depends_on_order_and_cycles() {
    let dir = tempfile::tempdir().unwrap();
    let text = "services:\n  web:\n    image: busybox\n    depends_on:\n      db: {condition: service_healthy}\n      cache: {condition: service_started}\n  db:\n    image: busybox\n  cache:\n    image: busybox\n    depends_on: [db]\n  tool:\n    image: busybox\n";
    let m = load_str(text, Path::new("c.yaml"), dir.path(), &BTreeMap::new()).unwrap();
    let all = wrun_compose::order::start_order(&m, &[]).unwrap();
    let pos = |s: &str| all.iter().position(|x| x == s).unwrap();
    assert!(
        pos("db") < pos("cache") && pos("cache") < pos("web"),
        "{all:?}"
    );
    assert_eq!(all.len(), 4);
    // Selecting web brings its dependencies, not tool.
    assert_eq!(
        wrun_compose::order::start_order(&m, &["web".into()]).unwrap(),
        ["db", "cache", "web"]
    );
    assert_eq!(
        wrun_compose::order::start_order_with(&m, &["web".into()], true).unwrap(),
        ["web"]
    );
    let e = wrun_compose::order::start_order(&m, &["wbe".into()])
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("wbe") && e.contains("did you mean \"web\""),
        "{e}"
    );

    let cyclic = "services:\n  a:\n    image: busybox\n    depends_on: [b]\n  b:\n    image: busybox\n    depends_on: [c]\n  c:\n    image: busybox\n    depends_on: [a]\n";
    match load_str(cyclic, Path::new("c.yaml"), dir.path(), &BTreeMap::new()) {
        Err(Error::Cycle { cycle }) => assert_eq!(cycle, ["a", "b", "c", "a"]),
        other => panic!("{other:?}"),
    }
}

#[test]
fn profiles_disable_services() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let text = "services:\n  web:\n    image: busybox\n  debug:\n    image: busybox\n    profiles: [debug]\n";
    let p = project(d, &[("compose.yaml", text)], &[]).unwrap();
    assert!(!p.model.services.contains_key("debug"));
    assert!(p.disabled.contains_key("debug"));
    let p = project(
        d,
        &[("compose.yaml", text)],
        &[("COMPOSE_PROFILES", "debug")],
    )
    .unwrap();
    assert!(p.model.services.contains_key("debug"));
}

#[test]
fn config_output_round_trips() {
    let dir = tempfile::tempdir().unwrap();
    let text = "name: shop\nservices:\n  web:\n    build:\n      context: .\n      args: [V=1]\n    ports: [\"18504:5000\"]\n    healthcheck:\n      test: curl -f localhost:5000\n      interval: 2s\n    depends_on:\n      db: {condition: service_healthy}\n    networks:\n      back:\n        aliases: [api]\n  db:\n    image: busybox\n    healthcheck:\n      disable: true\n    networks: [back]\n    volumes: [\"pg:/var/lib/postgresql/data\"]\nnetworks:\n  back:\nvolumes:\n  pg:\n";
    let m = load_str(text, Path::new("c.yaml"), dir.path(), &BTreeMap::new()).unwrap();
    assert_eq!(m.name.as_deref(), Some("shop"));
    assert_eq!(
        m.services["web"].healthcheck.as_ref().unwrap().test,
        ["CMD-SHELL", "curl -f localhost:5000"]
    );
    assert_eq!(
        m.services["db"].healthcheck.as_ref().unwrap().test,
        ["NONE"]
    );
    let out = wrun_compose::to_yaml(&m);
    assert!(
        out.contains("published: 18504") && out.contains("condition: service_healthy"),
        "{out}"
    );
    let again = load_str(&out, Path::new("c.yaml"), dir.path(), &BTreeMap::new()).unwrap();
    assert_eq!(m, again);
}
