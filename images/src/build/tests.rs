//! Builder and cache-rule tests with a fake RUN: it writes one file into a
//! fresh upper dir (`/ran` holding the command and build args) and fails
//! when the command says `exit N`.

use std::fs;
use std::path::{Path, PathBuf};

use super::*;

#[derive(Default)]
struct FakeRunner {
    dir: PathBuf,
    runs: Vec<Vec<String>>,
    removed: Vec<String>,
    live: Vec<String>,
}

impl StepRunner for FakeRunner {
    fn run(
        &mut self,
        req: &RunRequest<'_>,
        started: &mut dyn FnMut(&str),
        waiting: &mut dyn FnMut(std::time::Duration),
        output: &mut dyn FnMut(&[u8]),
    ) -> Result<RunOutcome, String> {
        let id = format!("{:064x}", self.runs.len() + 1);
        started(&id);
        waiting(std::time::Duration::from_millis(1));
        self.runs.push(req.args.to_vec());
        let upper = self.dir.join(&id);
        fs::create_dir_all(&upper).unwrap();
        fs::write(
            upper.join("ran"),
            format!("{}\n{}\n", req.args.join(" "), req.env.join(" ")),
        )
        .unwrap();
        let script = req.args.last().cloned().unwrap_or_default();
        output(format!("running {script}\n").as_bytes());
        let exit_code = script
            .split_once("exit ")
            .and_then(|(_, n)| n.trim().parse().ok())
            .unwrap_or(0);
        self.live.push(id.clone());
        Ok(RunOutcome {
            exit_code,
            upper,
            container_id: id,
        })
    }

    fn remove(&mut self, container_id: &str) {
        self.live.retain(|c| c != container_id);
        self.removed.push(container_id.to_owned());
        let _ = fs::remove_dir_all(self.dir.join(container_id));
    }
}

#[derive(Default)]
struct Lines(Vec<String>);

impl Progress for Lines {
    fn line(&mut self, text: &str) {
        self.0.push(text.to_owned());
    }
    fn output(&mut self, bytes: &[u8]) {
        self.0
            .push(format!("OUT {}", String::from_utf8_lossy(bytes).trim_end()));
    }
}

struct Env {
    _tmp: tempfile::TempDir,
    store: Store,
    ctx: PathBuf,
    runner: FakeRunner,
}

fn env() -> Env {
    let tmp = tempfile::tempdir().unwrap();
    let store = Store::open(&tmp.path().join("root")).unwrap();
    let ctx = tmp.path().join("ctx");
    fs::create_dir_all(&ctx).unwrap();
    let runner = FakeRunner {
        dir: tmp.path().join("containers"),
        ..FakeRunner::default()
    };
    Env {
        _tmp: tmp,
        store,
        ctx,
        runner,
    }
}

fn opts(e: &Env, dockerfile: &str) -> BuildOptions {
    BuildOptions {
        dockerfile: dockerfile.into(),
        dockerfile_name: "Dockerfile".into(),
        context: Some(e.ctx.clone()),
        tags: vec!["t:latest".into()],
        network: "default".into(),
        ..BuildOptions::default()
    }
}

fn build(e: &mut Env, o: BuildOptions) -> (Result<Built, BuildError>, Vec<String>) {
    let mut lines = Lines::default();
    let r = Builder::new(&e.store, &mut e.runner, &mut lines, o)
        .unwrap()
        .build();
    (r, lines.0)
}

fn bd(e: &mut Env, dockerfile: &str) -> (Result<Built, BuildError>, Vec<String>) {
    let o = opts(e, dockerfile);
    build(e, o)
}

fn write(dir: &Path, name: &str, text: &str) {
    let p = dir.join(name);
    fs::create_dir_all(p.parent().unwrap()).unwrap();
    fs::write(p, text).unwrap();
}

const LECTURE: &str = "FROM scratch\nWORKDIR /app\nCOPY requirements.txt .\nRUN pip install -r requirements.txt\nCOPY . .\nEXPOSE 5000\nCMD [\"python\", \"app.py\"]\n";

fn lecture_env() -> Env {
    let e = env();
    write(&e.ctx, "requirements.txt", "flask\n");
    write(&e.ctx, "app.py", "print('hi')\n");
    e
}

fn using_cache(lines: &[String]) -> usize {
    lines.iter().filter(|l| *l == " ---> Using cache").count()
}

#[test]
fn lecture_dockerfile_builds_config_history_and_layers() {
    let mut e = lecture_env();
    let (r, lines) = bd(&mut e, LECTURE);
    let built = r.unwrap();
    assert_eq!(lines[0], "Step 1/7 : FROM scratch");
    assert!(lines.contains(&"Step 4/7 : RUN pip install -r requirements.txt".to_owned()));
    assert_eq!(lines.last().unwrap(), "Successfully tagged t:latest");
    let img = e.store.lookup("t").unwrap();
    assert_eq!(img.id, built.id);
    let c = img.config.config().clone().unwrap();
    assert_eq!(c.working_dir().as_deref(), Some("/app"));
    assert_eq!(c.cmd().clone().unwrap(), vec!["python", "app.py"]);
    assert_eq!(c.exposed_ports().clone().unwrap(), vec!["5000/tcp"]);
    let h = img.config.history().clone().unwrap();
    assert_eq!(h.len(), 6);
    assert_eq!(
        h[0].created_by().as_deref(),
        Some("/bin/sh -c #(nop)  WORKDIR /app")
    );
    assert!(
        h[1].created_by()
            .clone()
            .unwrap()
            .starts_with("/bin/sh -c #(nop) COPY file:")
    );
    assert!(h[1].created_by().clone().unwrap().ends_with(" in /app/ "));
    assert_eq!(
        h[2].created_by().as_deref(),
        Some("/bin/sh -c pip install -r requirements.txt")
    );
    assert_eq!(
        h[5].created_by().as_deref(),
        Some("/bin/sh -c #(nop)  CMD [\"python\" \"app.py\"]")
    );
    assert_eq!(img.layers.len(), 3);
    let dirs = e.store.layer_dirs(&img).unwrap();
    assert_eq!(
        fs::read_to_string(dirs[0].join("app/requirements.txt")).unwrap(),
        "flask\n"
    );
    assert!(dirs[1].join("ran").exists());
    assert!(dirs[2].join("app/app.py").exists());
    assert!(
        e.runner.live.is_empty(),
        "containers left: {:?}",
        e.runner.live
    );
}

#[test]
fn rebuild_uses_the_cache_for_every_step_and_gives_the_same_id() {
    let mut e = lecture_env();
    let first = bd(&mut e, LECTURE).0.unwrap();
    let (r, lines) = bd(&mut e, LECTURE);
    assert_eq!(r.unwrap().id, first.id);
    assert_eq!(using_cache(&lines), 6, "{lines:#?}");
    assert_eq!(e.runner.runs.len(), 1);
}

#[test]
fn touching_a_file_is_a_hit_editing_it_misses_with_the_reason() {
    let mut e = lecture_env();
    bd(&mut e, LECTURE).0.unwrap();
    let f = fs::File::options()
        .write(true)
        .open(e.ctx.join("app.py"))
        .unwrap();
    f.set_modified(std::time::SystemTime::now() + std::time::Duration::from_secs(5))
        .unwrap();
    let (_, lines) = bd(&mut e, LECTURE);
    assert_eq!(using_cache(&lines), 6, "{lines:#?}");

    write(&e.ctx, "app.py", "print('changed')\n");
    let (r, lines) = bd(&mut e, LECTURE);
    r.unwrap();
    // WORKDIR, COPY requirements.txt and RUN pip stay cached.
    assert_eq!(using_cache(&lines), 3, "{lines:#?}");
    assert!(
        lines.contains(&" ---> cache miss: COPY . . — app.py changed".to_owned()),
        "{lines:#?}"
    );
    assert!(lines.contains(&" ---> cache miss: EXPOSE 5000 — parent step rebuilt".to_owned()));
    assert_eq!(e.runner.runs.len(), 1, "pip ran again");
}

#[test]
fn bad_order_misses_every_time_and_explains() {
    let mut e = lecture_env();
    let df = "FROM scratch\nWORKDIR /app\nCOPY . .\nRUN pip install -r requirements.txt\nCMD [\"python\", \"app.py\"]\n";
    bd(&mut e, df).0.unwrap();
    write(&e.ctx, "app.py", "print('v2')\n");
    let mut o = opts(&e, df);
    o.explain_cache = true;
    let (_, lines) = build(&mut e, o);
    assert!(
        lines.contains(&" ---> cache hit: WORKDIR /app — same parent, instruction".to_owned()),
        "{lines:#?}"
    );
    assert!(lines.contains(&" ---> cache miss: COPY . . — app.py changed".to_owned()));
    assert!(lines.contains(
        &" ---> cache miss: RUN pip install -r requirements.txt — parent step rebuilt".to_owned()
    ));
    assert_eq!(e.runner.runs.len(), 2);
}

#[test]
fn a_changed_build_arg_misses_where_it_is_first_used() {
    let mut e = env();
    let df = "FROM scratch\nARG VERSION=1\nENV A=b\nRUN echo $VERSION\nENV V=$VERSION\n";
    let mut o = opts(&e, df);
    o.build_args = vec![("VERSION".into(), "1".into())];
    build(&mut e, o.clone()).0.unwrap();
    o.build_args = vec![("VERSION".into(), "2".into())];
    let (r, lines) = build(&mut e, o);
    r.unwrap();
    // ARG and ENV A hit; RUN (which sees VERSION) misses.
    assert_eq!(using_cache(&lines), 2, "{lines:#?}");
    assert!(
        lines.contains(
            &" ---> cache miss: RUN echo $VERSION — build arg VERSION changed".to_owned()
        ),
        "{lines:#?}"
    );
    // RUN sees the arg in its environment and its history says so.
    let img = e.store.lookup("t").unwrap();
    let h = img.config.history().clone().unwrap();
    assert_eq!(
        h[2].created_by().as_deref(),
        Some("|1 VERSION=2 /bin/sh -c echo $VERSION")
    );
    let env = img.config.config().clone().unwrap().env().clone().unwrap();
    assert!(env.contains(&"V=2".to_owned()), "{env:?}");
    assert!(
        !env.iter().any(|e| e.starts_with("VERSION=")),
        "ARG leaked into Env"
    );
}

#[test]
fn no_cache_rebuilds_everything() {
    let mut e = lecture_env();
    bd(&mut e, LECTURE).0.unwrap();
    let mut o = opts(&e, LECTURE);
    o.no_cache = true;
    let (_, lines) = build(&mut e, o);
    assert_eq!(using_cache(&lines), 0);
    assert!(lines.iter().any(|l| l.ends_with("— --no-cache")));
}

#[test]
fn failing_run_names_command_code_and_output_and_leaves_nothing() {
    let mut e = env();
    let before = e.store.images().unwrap().len();
    let (r, _) = bd(&mut e, "FROM scratch\nENV A=1\nRUN exit 3\n");
    let err = r.unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.starts_with(
            "Dockerfile:3: The command '/bin/sh -c exit 3' returned a non-zero code: 3"
        ),
        "{msg}"
    );
    assert!(msg.contains("  | running exit 3"), "{msg}");
    assert_eq!(e.store.images().unwrap().len(), before);
    assert!(e.store.lookup("t").is_err());
    assert!(e.runner.live.is_empty());
    assert_eq!(e.runner.removed.len(), 1);
}

#[test]
fn multi_stage_copy_from_builds_only_needed_stages() {
    let mut e = env();
    write(&e.ctx, "src.txt", "source\n");
    let df = "FROM scratch AS unused\nRUN never\nFROM scratch AS build\nCOPY src.txt /out/bin\nFROM scratch\nCOPY --from=build /out/bin /usr/bin/tool\n";
    let (r, lines) = bd(&mut e, df);
    r.unwrap();
    assert!(!lines.iter().any(|l| l.contains("RUN never")), "{lines:#?}");
    assert_eq!(lines[0], "Step 1/4 : FROM scratch AS build");
    let img = e.store.lookup("t").unwrap();
    let dirs = e.store.layer_dirs(&img).unwrap();
    assert_eq!(
        fs::read_to_string(dirs[0].join("usr/bin/tool")).unwrap(),
        "source\n"
    );
    let mut o = opts(&e, df);
    o.target = Some("nope".into());
    assert_eq!(
        build(&mut e, o).0.unwrap_err().to_string(),
        "failed to reach build target nope in Dockerfile"
    );
    let cyclic = "FROM scratch AS a\nCOPY --from=b /x /x\nFROM scratch AS b\nCOPY --from=a /y /y\n";
    let err = bd(&mut e, cyclic).0.unwrap_err().to_string();
    assert!(err.contains("cyclic COPY --from"), "{err}");
}

#[test]
fn dockerignore_exceptions_and_missing_sources() {
    let mut e = env();
    write(&e.ctx, ".dockerignore", "*.md\n!README.md\nsecret\n");
    write(&e.ctx, "README.md", "r");
    write(&e.ctx, "NOTES.md", "n");
    write(&e.ctx, "secret", "s");
    write(&e.ctx, "a.txt", "a");
    bd(&mut e, "FROM scratch\nCOPY . /c/\n").0.unwrap();
    let img = e.store.lookup("t").unwrap();
    let d = &e.store.layer_dirs(&img).unwrap()[0];
    assert!(d.join("c/README.md").exists());
    assert!(d.join("c/a.txt").exists());
    assert!(!d.join("c/NOTES.md").exists());
    assert!(!d.join("c/secret").exists());
    let err = bd(&mut e, "FROM scratch\nCOPY secret /s\n")
        .0
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with("Dockerfile:2: COPY failed: file not found in build context"),
        "{err}"
    );
    assert!(err.contains(".dockerignore"), "{err}");
}

#[test]
fn add_extracts_a_local_tar() {
    let mut e = env();
    let mut b = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.set_size(5);
    h.set_mode(0o600);
    h.set_uid(7);
    b.append_data(&mut h, "pkg/file.txt", &b"hello"[..])
        .unwrap();
    let data = b.into_inner().unwrap();
    fs::write(e.ctx.join("pkg.tar"), data).unwrap();
    bd(
        &mut e,
        "FROM scratch\nADD pkg.tar /opt/\nCOPY pkg.tar /raw/\n",
    )
    .0
    .unwrap();
    let img = e.store.lookup("t").unwrap();
    let dirs = e.store.layer_dirs(&img).unwrap();
    assert_eq!(
        fs::read_to_string(dirs[0].join("opt/pkg/file.txt")).unwrap(),
        "hello"
    );
    assert!(dirs[1].join("raw/pkg.tar").is_file());
}

#[test]
fn config_instructions_land_in_the_config() {
    let mut e = env();
    let df = "FROM scratch\nENV PATH=/bin NAME=\"a b\"\nLABEL version=1.0 \"k k\"=v\nUSER 1000:1000\nVOLUME /data\nSTOPSIGNAL SIGINT\nHEALTHCHECK --interval=5s --retries=2 CMD check\nSHELL [\"/bin/bash\", \"-c\"]\nENTRYPOINT run me\nONBUILD RUN echo child\n";
    let mut o = opts(&e, df);
    o.labels = vec![("from-cli".into(), "yes".into())];
    build(&mut e, o).0.unwrap();
    let img = e.store.lookup("t").unwrap();
    let raw: Value = serde_json::from_slice(&e.store.read_blob(&img.id).unwrap()).unwrap();
    let c = &raw["config"];
    assert_eq!(c["Env"], json!(["PATH=/bin", "NAME=a b"]));
    assert_eq!(
        c["Labels"],
        json!({"version": "1.0", "k k": "v", "from-cli": "yes"})
    );
    assert_eq!(c["User"], json!("1000:1000"));
    assert_eq!(c["Volumes"], json!({"/data": {}}));
    assert_eq!(c["StopSignal"], json!("SIGINT"));
    assert_eq!(
        c["Healthcheck"],
        json!({"Test": ["CMD-SHELL", "check"], "Interval": 5_000_000_000i64, "Retries": 2})
    );
    assert_eq!(c["Shell"], json!(["/bin/bash", "-c"]));
    assert_eq!(c["Entrypoint"], json!(["/bin/bash", "-c", "run me"]));
    assert_eq!(c["OnBuild"], json!(["RUN echo child"]));
}

#[test]
fn parse_errors_name_file_and_line() {
    let mut e = env();
    let mut o = opts(&e, "FROM scratch\nCOPPY a b\n");
    o.dockerfile_name = "Dockerfile.dev".into();
    let err = build(&mut e, o).0.unwrap_err().to_string();
    assert_eq!(err, "Dockerfile.dev:2:1: unknown instruction: COPPY");
}

#[test]
fn onbuild_triggers_run_in_the_child_and_are_cleared() {
    let mut e = env();
    write(&e.ctx, "seed.txt", "seed\n");
    bd(
        &mut e,
        "FROM scratch\nONBUILD COPY seed.txt /from-trigger\n",
    )
    .0
    .unwrap();
    let mut o = opts(&e, "FROM t\nENV X=1\n");
    o.tags = vec!["child".into()];
    let (r, lines) = build(&mut e, o);
    r.unwrap();
    assert!(
        lines.contains(&"# Executing 1 build trigger".to_owned()),
        "{lines:#?}"
    );
    let img = e.store.lookup("child").unwrap();
    let raw: Value = serde_json::from_slice(&e.store.read_blob(&img.id).unwrap()).unwrap();
    assert!(raw["config"]["OnBuild"].is_null());
    let dirs = e.store.layer_dirs(&img).unwrap();
    assert_eq!(
        fs::read_to_string(dirs[0].join("from-trigger")).unwrap(),
        "seed\n"
    );
}

/// A registry stand-in: "pulls" by importing a one-file rootfs whose file
/// says how many times it was fetched.
#[derive(Default)]
struct FakeFetcher {
    fetched: Vec<String>,
}

impl BaseFetcher for FakeFetcher {
    fn fetch(&mut self, store: &Store, reference: &str) -> Result<(), String> {
        if reference.starts_with("missing") {
            return Err("manifest unknown".into());
        }
        self.fetched.push(reference.to_owned());
        let body = format!("pull {}\n", self.fetched.len());
        let mut b = tar::Builder::new(Vec::new());
        let mut h = tar::Header::new_gnu();
        h.set_size(body.len() as u64);
        h.set_mode(0o644);
        b.append_data(&mut h, "pulled", body.as_bytes()).unwrap();
        let opts = crate::import::ImportOptions {
            reference: Some(reference.to_owned()),
            source: "fake registry".into(),
            ..Default::default()
        };
        crate::import::import(store, &b.into_inner().unwrap()[..], &opts)
            .map(|_| ())
            .map_err(|e| e.to_string())
    }
}

fn build_fetching(
    e: &mut Env,
    o: BuildOptions,
    fetcher: &mut FakeFetcher,
) -> Result<Built, BuildError> {
    let mut lines = Lines::default();
    Builder::new(&e.store, &mut e.runner, &mut lines, o)
        .unwrap()
        .with_base_fetcher(fetcher)
        .build()
}

fn pulled_file(e: &Env) -> String {
    let img = e.store.lookup("t").unwrap();
    let dirs = e.store.layer_dirs(&img).unwrap();
    fs::read_to_string(dirs[0].join("pulled")).unwrap()
}

#[test]
fn a_missing_base_is_fetched_once_and_pull_fetches_it_again() {
    let mut e = env();
    let mut f = FakeFetcher::default();
    let df = "FROM base:1\nCOPY --from=base:1 /pulled /copied\n";
    let o = opts(&e, df);
    build_fetching(&mut e, o, &mut f).unwrap();
    assert_eq!(f.fetched, ["base:1"]);
    assert_eq!(pulled_file(&e), "pull 1\n");

    // Present now: no fetch without --pull.
    let o = opts(&e, df);
    build_fetching(&mut e, o, &mut f).unwrap();
    assert_eq!(f.fetched.len(), 1);

    // --pull fetches it again, once for both uses, and builds on the new one.
    let o = BuildOptions {
        pull: true,
        ..opts(&e, df)
    };
    build_fetching(&mut e, o, &mut f).unwrap();
    assert_eq!(f.fetched, ["base:1", "base:1"]);
    assert_eq!(pulled_file(&e), "pull 2\n");
}

#[test]
fn a_base_that_cannot_be_fetched_names_the_line_and_the_cause() {
    let mut e = env();
    let mut f = FakeFetcher::default();
    let o = opts(&e, "FROM scratch\nRUN true\nFROM missing:2\n");
    let err = build_fetching(&mut e, o, &mut f).unwrap_err().to_string();
    assert_eq!(err, "Dockerfile:3: FROM missing:2: manifest unknown");
    assert!(e.store.lookup("t").is_err());
    // Without a fetcher the store is all there is.
    let (r, _) = bd(&mut e, "FROM base:9\n");
    assert!(
        r.unwrap_err()
            .to_string()
            .contains("FROM base:9: the image is not in the local store"),
    );
}
