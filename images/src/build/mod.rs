//! `wrun build`: a Dockerfile and a context become an image in the store.
//!
//! The builder walks the stages the target needs, one instruction at a
//! time, the way Docker's classic builder does: each step starts from the
//! image the previous one made, asks the [`cache`] whether the same step was
//! built on the same parent before (`---> Using cache`), and otherwise runs
//! it: config instructions edit the image config, COPY/ADD write a layer
//! from the context ([`context`], [`layer`]), RUN runs in a container made
//! by a [`StepRunner`] (the host's runtime: this crate never starts
//! processes) whose overlay upper dir becomes the layer. Only the final
//! image gets a manifest and names; each step's config is its id.
//!
//! The builder never prints: it reports Docker's lines (`Step 2/6 : …`,
//! ` ---> Using cache`, …) and RUN output to a [`Progress`].

pub mod cache;
pub mod context;
pub mod ignore;
pub mod layer;

mod copy;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fs;
use std::io::Read;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use crate::dockerfile::instructions::{CopySpec, HealthSpec};
use crate::dockerfile::shell::Lexer;
use crate::dockerfile::{CommandForm, Dockerfile, Instruction, ParseError, Stage, Step};
use crate::store::{Image, LayerInfo, MEDIA_LAYER_TAR, Store, now_rfc3339};
use cache::{Cache, KeyParts, Record};
use context::{Context, Rootfs, Source, SourceFile};
use layer::{EntryKind, LayerEntry};

/// Everything that can stop a build. Messages name the Dockerfile line.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error(transparent)]
    Parse(#[from] ParseError),

    #[error(transparent)]
    Store(#[from] crate::Error),

    /// A step that cannot be carried out (bad value, missing source, …).
    #[error("{file}:{line}: {message}")]
    Step {
        file: String,
        line: usize,
        message: String,
    },

    /// A RUN whose command failed: Docker's wording, then its last lines.
    #[error("{file}:{line}: The command '{command}' returned a non-zero code: {code}{}", tail_text(.tail))]
    RunFailed {
        file: String,
        line: usize,
        command: String,
        code: i32,
        tail: Vec<String>,
    },

    /// Bad options (`--target`, tags, build args).
    #[error("{0}")]
    Invalid(String),

    #[error("{}: {cause}", path.display())]
    Io {
        path: PathBuf,
        cause: std::io::Error,
    },
}

fn tail_text(tail: &[String]) -> String {
    if tail.is_empty() {
        return String::new();
    }
    let mut s = String::from("\nlast lines of its output:");
    for l in tail {
        s.push_str("\n  | ");
        s.push_str(l);
    }
    s
}

/// How a build is asked for.
#[derive(Debug, Clone, Default)]
pub struct BuildOptions {
    pub dockerfile: String,
    /// The Dockerfile's name for messages (`Dockerfile`, `-`).
    pub dockerfile_name: String,
    /// The context directory; `None` when only a Dockerfile came (`-`).
    pub context: Option<PathBuf>,
    pub tags: Vec<String>,
    pub build_args: Vec<(String, String)>,
    pub no_cache: bool,
    pub target: Option<String>,
    pub labels: Vec<(String, String)>,
    /// `default` (bridge), `bridge`, `host`, `none` or a network name.
    pub network: String,
    /// Say why for every step, hits included.
    pub explain_cache: bool,
    /// `--pull`: ask the [`BaseFetcher`] for every base image, even one
    /// already in the store.
    pub pull: bool,
}

/// Fetches a base image the store lacks (or, with `--pull`, a newer one):
/// the host implements it with its registry client. This crate only knows
/// when a base is needed, not where images come from.
pub trait BaseFetcher {
    /// Puts `reference` into `store`, or says why it cannot.
    fn fetch(&mut self, store: &Store, reference: &str) -> Result<(), String>;
}

/// Where the builder's lines go (the CLI prints them unless `-q`).
pub trait Progress {
    /// One line of Docker's build output, without the newline.
    fn line(&mut self, text: &str);
    /// Bytes a RUN step wrote.
    fn output(&mut self, bytes: &[u8]);
}

/// One RUN step for a [`StepRunner`].
#[derive(Debug)]
pub struct RunRequest<'a> {
    /// The image to run on: the step's parent (not in the index; its
    /// layers are in the store).
    pub image: &'a Image,
    /// The full command line (shell included for the shell form).
    pub args: &'a [String],
    /// Build args, added to the image's environment.
    pub env: &'a [String],
    /// `default`/`bridge`, `host`, `none` or a network name.
    pub network: &'a str,
}

/// What a finished RUN container left behind.
#[derive(Debug)]
pub struct RunOutcome {
    pub exit_code: i32,
    /// The overlay upper dir: the step's changes.
    pub upper: PathBuf,
    pub container_id: String,
}

/// Runs RUN steps in containers; the host's runtime implements it with the
/// same namespaces and seccomp as `wrun run`.
pub trait StepRunner {
    /// Runs the command to its end. `started` receives the container id,
    /// `waiting` how long it has run (called often while it runs), `output`
    /// what it writes.
    fn run(
        &mut self,
        request: &RunRequest<'_>,
        started: &mut dyn FnMut(&str),
        waiting: &mut dyn FnMut(std::time::Duration),
        output: &mut dyn FnMut(&[u8]),
    ) -> Result<RunOutcome, String>;

    /// Removes a container `run` made (its upper dir goes with it).
    fn remove(&mut self, container_id: &str);
}

/// The result of a build.
#[derive(Debug, Clone)]
pub struct Built {
    pub id: String,
    /// Familiar names given (`product-api:latest`).
    pub tags: Vec<String>,
}

/// An image during the build: its whole config (kept as JSON, so fields the
/// OCI types lack, like `Healthcheck`, `Shell` and `OnBuild`, survive) and
/// its layers.
#[derive(Debug, Clone)]
struct ImageState {
    config: Value,
    layers: Vec<LayerInfo>,
    id: String,
    /// Made by a cache miss in this build: later steps cannot hit.
    rebuilt: bool,
    /// The miss that started the rebuild was a step never built before
    /// (a first build): later misses need no explaining.
    fresh: bool,
}

impl ImageState {
    fn from_config(config: Value, layers: Vec<LayerInfo>, rebuilt: bool) -> Self {
        let id = crate::blob::digest_of(&config_bytes(&config));
        ImageState {
            config,
            layers,
            id,
            rebuilt,
            fresh: false,
        }
    }

    fn short_id(&self) -> &str {
        let hex = self.id.strip_prefix("sha256:").unwrap_or(&self.id);
        &hex[..hex.len().min(12)]
    }

    fn cfg(&self) -> &Value {
        &self.config["config"]
    }

    fn env(&self) -> Vec<(String, String)> {
        self.cfg()["Env"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|e| e.as_str())
                    .map(|e| match e.split_once('=') {
                        Some((k, v)) => (k.to_owned(), v.to_owned()),
                        None => (e.to_owned(), String::new()),
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    fn shell(&self) -> Vec<String> {
        strings(&self.cfg()["Shell"]).unwrap_or_else(|| vec!["/bin/sh".into(), "-c".into()])
    }

    fn workdir(&self) -> String {
        self.cfg()["WorkingDir"]
            .as_str()
            .filter(|s| !s.is_empty())
            .unwrap_or("/")
            .to_owned()
    }

    fn as_image(&self) -> Result<Image, BuildError> {
        let config = crate::store::parse_config(&config_bytes(&self.config), "build step config")?;
        Ok(Image {
            id: self.id.clone(),
            manifest_digest: String::new(),
            config,
            repo_tags: Vec::new(),
            repo_digests: Vec::new(),
            names: Vec::new(),
            size: self.layers.iter().map(|l| l.size).sum(),
            layers: self.layers.clone(),
            last_tag_time: None,
        })
    }
}

fn config_bytes(v: &Value) -> Vec<u8> {
    serde_json::to_vec(v).expect("config serializes")
}

fn strings(v: &Value) -> Option<Vec<String>> {
    v.as_array().map(|a| {
        a.iter()
            .filter_map(|x| x.as_str().map(str::to_owned))
            .collect()
    })
}

/// Go's `%q` of a `[]string`: `["python" "app.py"]`.
fn go_list(items: &[String]) -> String {
    let q: Vec<String> = items
        .iter()
        .map(|s| crate::dockerfile::parser::go_quote(s))
        .collect();
    format!("[{}]", q.join(" "))
}

/// A stage's build-time variables.
#[derive(Debug, Clone, Default)]
struct Vars {
    /// Declared ARGs in order with their values (`None`: declared, unset).
    args: Vec<(String, Option<String>)>,
}

impl Vars {
    fn arg(&self, name: &str) -> Option<&Option<String>> {
        self.args
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v)
    }
}

/// The builder for one `wrun build`.
pub struct Builder<'a> {
    store: &'a Store,
    runner: &'a mut dyn StepRunner,
    progress: &'a mut dyn Progress,
    opts: BuildOptions,
    cache: Cache,
    file: String,
    lexer: Lexer,
    used_args: HashSet<String>,
    fetcher: Option<&'a mut dyn BaseFetcher>,
    /// Bases fetched during this build (a base is pulled once per build).
    fetched: HashSet<String>,
}

impl std::fmt::Debug for Builder<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Builder").field("opts", &self.opts).finish()
    }
}

const STEP_ARROW: &str = " ---> ";

/// How long a RUN may stay silent before a progress line says it runs.
const PROGRESS_EVERY: std::time::Duration = std::time::Duration::from_secs(15);

/// The `PATH` a stage gets when its base sets none (Docker's default).
pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

impl<'a> Builder<'a> {
    pub fn new(
        store: &'a Store,
        runner: &'a mut dyn StepRunner,
        progress: &'a mut dyn Progress,
        opts: BuildOptions,
    ) -> Result<Self, BuildError> {
        let cache = Cache::open(store.dir()).map_err(|cause| BuildError::Io {
            path: store.dir().join("build-cache"),
            cause,
        })?;
        let file = if opts.dockerfile_name.is_empty() {
            "Dockerfile".to_owned()
        } else {
            opts.dockerfile_name.clone()
        };
        Ok(Builder {
            store,
            runner,
            progress,
            opts,
            cache,
            file,
            lexer: Lexer::new('\\'),
            used_args: HashSet::new(),
            fetcher: None,
            fetched: HashSet::new(),
        })
    }

    /// Where missing base images come from (and, with `pull`, every base).
    /// Without one, a base must already be in the store.
    pub fn with_base_fetcher(mut self, fetcher: &'a mut dyn BaseFetcher) -> Self {
        self.fetcher = Some(fetcher);
        self
    }

    /// Finds a base image (`FROM`, `COPY --from`) in the store, asking the
    /// fetcher when it is missing or when `--pull` wants a fresh one.
    /// `what` names the instruction in messages (`FROM busybox`).
    fn resolve_base(
        &mut self,
        line: usize,
        what: &str,
        reference: &str,
    ) -> Result<Image, BuildError> {
        let wanted = self.opts.pull && !self.fetched.contains(reference);
        let found = if wanted {
            Err(crate::Error::ImageNotFound {
                reference: reference.to_owned(),
            })
        } else {
            self.store.lookup(reference)
        };
        match found {
            Err(crate::Error::ImageNotFound { .. }) => {}
            other => return other.map_err(BuildError::from),
        }
        let Some(fetcher) = self.fetcher.as_deref_mut() else {
            return Err(self.step_err(
                line,
                format!(
                    "{what}: the image is not in the local store (wrun load, wrun import or wrun pull it first)"
                ),
            ));
        };
        fetcher
            .fetch(self.store, reference)
            .map_err(|message| self.step_err(line, format!("{what}: {message}")))?;
        self.fetched.insert(reference.to_owned());
        Ok(self.store.lookup(reference)?)
    }

    fn step_err(&self, line: usize, message: impl Into<String>) -> BuildError {
        BuildError::Step {
            file: self.file.clone(),
            line,
            message: message.into(),
        }
    }

    /// Builds the image; on any error nothing is named and no container is
    /// left behind.
    pub fn build(mut self) -> Result<Built, BuildError> {
        let mut df =
            Dockerfile::parse(&self.opts.dockerfile).map_err(|e| e.in_file(self.file.clone()))?;
        self.lexer = Lexer::new(df.escape);
        for t in &self.opts.tags {
            crate::Reference::parse_normalized(t)?;
        }
        for (k, _) in &self.opts.build_args {
            if k.is_empty() {
                return Err(BuildError::Invalid(
                    "invalid --build-arg: empty name".into(),
                ));
            }
        }
        // Global ARGs (before the first FROM): only FROM lines see them.
        let mut meta = Vars::default();
        for s in &df.meta_args {
            if let Instruction::Arg(list) = &s.instruction {
                for (k, default) in list {
                    let v = match self.build_arg(k) {
                        Some(v) => Some(v),
                        None => match default {
                            Some(d) => Some(self.expand(s.line, d, &meta_env(&meta))?),
                            None => None,
                        },
                    };
                    meta.args.push((k.clone(), v));
                }
            }
        }
        let target = match &self.opts.target {
            None => df.stages.len() - 1,
            Some(t) => {
                let t = t.to_lowercase();
                df.stages
                    .iter()
                    .position(|s| s.name.as_deref() == Some(&t))
                    .ok_or_else(|| {
                        BuildError::Invalid(format!(
                            "failed to reach build target {t} in Dockerfile"
                        ))
                    })?
            }
        };
        if !self.opts.labels.is_empty() {
            // Docker's classic builder adds --label as a last LABEL step.
            let text: Vec<String> = self
                .opts
                .labels
                .iter()
                .map(|(k, v)| format!("{}={}", quote_arg(k), quote_arg(v)))
                .collect();
            let original = format!("LABEL {}", text.join(" "));
            df.stages[target].steps.push(Step {
                instruction: Instruction::Label(
                    self.opts
                        .labels
                        .iter()
                        .map(|(k, v)| (quote_arg(k), quote_arg(v)))
                        .collect(),
                ),
                original,
                line: 0,
                heredocs: Vec::new(),
            });
        }
        let bases: Vec<String> = df
            .stages
            .iter()
            .map(|s| self.expand(s.line, &s.base, &meta_env(&meta)))
            .collect::<Result<_, _>>()?;
        let needed = self.needed_stages(&df.stages, &bases, target)?;
        let total: usize = needed.iter().map(|&i| 1 + df.stages[i].steps.len()).sum();
        let mut n = 0;
        let mut results: HashMap<usize, ImageState> = HashMap::new();
        for &i in &needed {
            let stage = &df.stages[i];
            n += 1;
            self.progress
                .line(&format!("Step {n}/{total} : {}", from_display(stage)));
            let mut state = self.from(stage, &bases[i], &df.stages, &results)?;
            let base_id = state.short_id().to_owned();
            // As BuildKit and buildah do: a stage whose base sets no PATH
            // gets the default one (the config, and so the id, records it).
            if !state.env().iter().any(|(k, _)| k == "PATH") {
                let mut env: Vec<Value> =
                    state.cfg()["Env"].as_array().cloned().unwrap_or_default();
                env.insert(0, json!(format!("PATH={DEFAULT_PATH}")));
                if !state.config["config"].is_object() {
                    state.config["config"] = json!({});
                }
                state.config["config"]["Env"] = Value::Array(env);
                state = ImageState::from_config(state.config, state.layers, state.rebuilt);
            }
            self.progress.line(&format!("{STEP_ARROW}{base_id}"));
            let mut vars = Vars::default();
            let mut cmd_set = false;
            // ONBUILD triggers of the base run first, then are cleared.
            let triggers = strings(&state.cfg()["OnBuild"]).unwrap_or_default();
            if !triggers.is_empty() {
                self.progress.line(&format!(
                    "# Executing {} build trigger{}",
                    triggers.len(),
                    if triggers.len() == 1 { "" } else { "s" }
                ));
                state.config["config"]["OnBuild"] = Value::Null;
                state = ImageState::from_config(state.config, state.layers, state.rebuilt);
                for t in &triggers {
                    let parsed =
                        Dockerfile::parse(&format!("FROM scratch\n{t}\n")).map_err(|e| {
                            self.step_err(
                                stage.line,
                                format!("ONBUILD trigger {t:?}: {}", e.message),
                            )
                        })?;
                    let step = parsed.stages[0].steps[0].clone();
                    state = self.step(
                        &step,
                        state,
                        &mut vars,
                        &meta,
                        &mut cmd_set,
                        &df.stages,
                        &results,
                        i,
                    )?;
                }
            }
            for step in &stage.steps {
                n += 1;
                self.progress
                    .line(&format!("Step {n}/{total} : {}", step.display()));
                state = self.step(
                    step,
                    state,
                    &mut vars,
                    &meta,
                    &mut cmd_set,
                    &df.stages,
                    &results,
                    i,
                )?;
            }
            results.insert(i, state);
        }
        let unused: Vec<&str> = self
            .opts
            .build_args
            .iter()
            .map(|(k, _)| k.as_str())
            .filter(|k| !self.used_args.contains(*k) && !PREDEFINED_ARGS.contains(k))
            .collect();
        if !unused.is_empty() {
            self.progress.line(&format!(
                "[Warning] One or more build-args [{}] were not consumed",
                unused.join(" ")
            ));
        }
        let fin = results.remove(&target).expect("target built");
        let id =
            self.store
                .commit_image(&config_bytes(&fin.config), &fin.layers, &self.opts.tags)?;
        let short = id.strip_prefix("sha256:").unwrap_or(&id);
        self.progress.line(&format!(
            "Successfully built {}",
            &short[..12.min(short.len())]
        ));
        let mut tags = Vec::new();
        for t in &self.opts.tags {
            let r = crate::Reference::parse_normalized(t)?;
            self.progress
                .line(&format!("Successfully tagged {}", r.familiar()));
            tags.push(r.familiar());
        }
        Ok(Built { id, tags })
    }

    fn build_arg(&mut self, name: &str) -> Option<String> {
        let v = self
            .opts
            .build_args
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone());
        if v.is_some() {
            self.used_args.insert(name.to_owned());
        }
        v
    }

    fn expand(
        &self,
        line: usize,
        word: &str,
        env: &[(String, String)],
    ) -> Result<String, BuildError> {
        self.lexer
            .process_word(word, &|n: &str| lookup(env, n))
            .map_err(|e| self.step_err(line, format!("failed to expand {word:?}: {e}")))
    }

    /// The stages the target needs (FROM another stage, COPY --from), in
    /// file order; a `--from` that is not built before its user is refused.
    fn needed_stages(
        &self,
        stages: &[Stage],
        bases: &[String],
        target: usize,
    ) -> Result<Vec<usize>, BuildError> {
        let mut need = HashSet::new();
        let mut todo = vec![target];
        while let Some(i) = todo.pop() {
            if !need.insert(i) {
                continue;
            }
            let mut deps = Vec::new();
            if let Some(j) = stage_index(stages, &bases[i]) {
                deps.push((j, stages[i].line));
            }
            for s in &stages[i].steps {
                if let Instruction::Copy(c) = &s.instruction
                    && let Some(f) = &c.from
                    && let Some(j) = stage_index(stages, f)
                {
                    deps.push((j, s.line));
                }
            }
            for (j, line) in deps {
                if j >= i {
                    let name = |k: usize| stages[k].name.clone().unwrap_or_else(|| k.to_string());
                    return Err(self.step_err(
                        line,
                        format!(
                            "cyclic COPY --from: stage {} uses stage {}, which is not built before it",
                            name(i),
                            name(j)
                        ),
                    ));
                }
                todo.push(j);
            }
        }
        let mut v: Vec<usize> = need.into_iter().collect();
        v.sort();
        Ok(v)
    }

    fn from(
        &mut self,
        stage: &Stage,
        base: &str,
        stages: &[Stage],
        results: &HashMap<usize, ImageState>,
    ) -> Result<ImageState, BuildError> {
        if let Some(j) = stage_index(stages, base) {
            let s = results[&j].clone();
            return Ok(s);
        }
        if base == "scratch" {
            let config = json!({
                "architecture": crate::import::host_arch(),
                "os": "linux",
                "config": {},
                "rootfs": {"type": "layers", "diff_ids": []},
                "history": [],
            });
            return Ok(ImageState::from_config(config, Vec::new(), false));
        }
        let image = self.resolve_base(stage.line, &format!("FROM {base}"), base)?;
        let raw = self.store.read_blob(&image.id)?;
        let config: Value = serde_json::from_slice(&raw).map_err(|cause| crate::Error::Json {
            what: format!("config {}", image.id),
            cause,
        })?;
        Ok(ImageState {
            config,
            layers: image.layers.clone(),
            id: image.id.clone(),
            rebuilt: false,
            fresh: false,
        })
    }

    #[allow(
        clippy::too_many_arguments,
        reason = "one step needs the whole build's state"
    )]
    fn step(
        &mut self,
        step: &Step,
        state: ImageState,
        vars: &mut Vars,
        meta: &Vars,
        cmd_set: &mut bool,
        stages: &[Stage],
        results: &HashMap<usize, ImageState>,
        stage_no: usize,
    ) -> Result<ImageState, BuildError> {
        let line = step.line;
        // What this step sees: ENV wins over ARG of the same name.
        let mut env: Vec<(String, String)> = vars
            .args
            .iter()
            .filter_map(|(k, v)| v.clone().map(|v| (k.clone(), v)))
            .collect();
        env.extend(state.env());
        let run_args: BTreeMap<String, String> = {
            let image_env = state.env();
            vars.args
                .iter()
                .filter_map(|(k, v)| v.clone().map(|v| (k.clone(), v)))
                .filter(|(k, _)| !image_env.iter().any(|(e, _)| e == k))
                .collect()
        };
        let nop = |comment: &str| format!("{} #(nop)  {comment}", state.shell().join(" "));
        let mut next = state.config.clone();
        let mut parts = KeyParts {
            parent: state.id.clone(),
            raw: step.display(),
            resolved: String::new(),
            args: BTreeMap::new(),
            files: BTreeMap::new(),
        };
        // Work a miss needs beyond editing the config.
        enum Work {
            None,
            Run { args: Vec<String>, network: String },
            Copy(Vec<LayerEntry>),
        }
        let mut work = Work::None;
        let created_by: String;
        let c = &mut next["config"];
        if !c.is_object() {
            *c = json!({});
        }
        match &step.instruction {
            Instruction::Arg(list) => {
                let mut shown = Vec::new();
                for (k, default) in list {
                    let v = match self.build_arg(k) {
                        Some(v) => Some(v),
                        None => match default {
                            Some(d) => Some(self.expand(line, d, &env)?),
                            None => meta.arg(k).cloned().flatten(),
                        },
                    };
                    shown.push(match default {
                        Some(d) => format!("{k}={d}"),
                        None => k.clone(),
                    });
                    vars.args.push((k.clone(), v));
                }
                created_by = nop(&format!("ARG {}", shown.join(" ")));
            }
            Instruction::Env(pairs) => {
                let mut shown = Vec::new();
                let mut cur = state.env();
                for (k, v) in pairs {
                    let k = self.expand(line, k, &env)?;
                    let v = self.expand(line, v, &env)?;
                    if k.is_empty() {
                        return Err(self.step_err(line, "ENV names must not be empty"));
                    }
                    shown.push(format!("{k}={v}"));
                    match cur.iter_mut().find(|(e, _)| *e == k) {
                        Some(slot) => slot.1 = v.clone(),
                        None => cur.push((k.clone(), v.clone())),
                    }
                    env.push((k, v));
                }
                c["Env"] = json!(
                    cur.iter()
                        .map(|(k, v)| format!("{k}={v}"))
                        .collect::<Vec<_>>()
                );
                created_by = nop(&format!("ENV {}", shown.join(" ")));
            }
            Instruction::Label(pairs) => {
                let mut shown = Vec::new();
                if !c["Labels"].is_object() {
                    c["Labels"] = json!({});
                }
                for (k, v) in pairs {
                    let k = self.expand(line, k, &env)?;
                    let v = self.expand(line, v, &env)?;
                    shown.push(format!("{}={}", quote_arg(&k), quote_arg(&v)));
                    c["Labels"][k] = json!(v);
                }
                created_by = nop(&format!("LABEL {}", shown.join(" ")));
            }
            Instruction::Maintainer(m) => {
                next["author"] = json!(m);
                created_by = nop(&format!("MAINTAINER {m}"));
            }
            Instruction::Workdir(w) => {
                let w = self.expand(line, w, &env)?;
                let dir = clean_abs(&join_path(&state.workdir(), &w));
                c["WorkingDir"] = json!(dir);
                created_by = nop(&format!("WORKDIR {dir}"));
            }
            Instruction::User(u) => {
                let u = self.expand(line, u, &env)?;
                c["User"] = json!(u);
                created_by = nop(&format!("USER {u}"));
            }
            Instruction::Expose(ports) => {
                let mut shown = Vec::new();
                if !c["ExposedPorts"].is_object() {
                    c["ExposedPorts"] = json!({});
                }
                for p in ports {
                    let p = self.expand(line, p, &env)?;
                    for port in expand_port(&p).map_err(|e| self.step_err(line, e))? {
                        c["ExposedPorts"][port] = json!({});
                    }
                    shown.push(p);
                }
                created_by = nop(&format!("EXPOSE {}", shown.join(" ")));
            }
            Instruction::Volume(vols) => {
                let mut shown = Vec::new();
                if !c["Volumes"].is_object() {
                    c["Volumes"] = json!({});
                }
                for v in vols {
                    let v = self.expand(line, v, &env)?;
                    if v.trim().is_empty() {
                        return Err(
                            self.step_err(line, "VOLUME specified can not be an empty string")
                        );
                    }
                    c["Volumes"][v.clone()] = json!({});
                    shown.push(v);
                }
                created_by = nop(&format!("VOLUME [{}]", shown.join(" ")));
            }
            Instruction::Cmd(form) => {
                let argv = command_argv(form, &state.shell());
                c["Cmd"] = json!(argv);
                *cmd_set = true;
                created_by = nop(&format!("CMD {}", go_list(&argv)));
            }
            Instruction::Entrypoint(form) => {
                let argv = command_argv(form, &state.shell());
                c["Entrypoint"] = json!(argv);
                // A new ENTRYPOINT drops a CMD inherited from the base.
                if !*cmd_set {
                    c["Cmd"] = Value::Null;
                }
                created_by = nop(&format!("ENTRYPOINT {}", go_list(&argv)));
            }
            Instruction::Shell(sh) => {
                c["Shell"] = json!(sh);
                created_by = nop(&format!("SHELL {}", go_list(sh)));
            }
            Instruction::StopSignal(s) => {
                let s = self.expand(line, s, &env)?;
                c["StopSignal"] = json!(s);
                created_by = nop(&format!("STOPSIGNAL {s}"));
            }
            Instruction::Healthcheck(h) => {
                c["Healthcheck"] = healthcheck_json(h).map_err(|e| self.step_err(line, e))?;
                let rest = step.display();
                created_by = nop(&rest);
            }
            Instruction::Onbuild(t) => {
                let mut list = strings(&c["OnBuild"]).unwrap_or_default();
                list.push(t.clone());
                c["OnBuild"] = json!(list);
                created_by = nop(&format!("ONBUILD {t}"));
            }
            Instruction::Run { command, network } => {
                let argv = run_argv(command, &state.shell(), &step.heredocs);
                let mut prefix = String::new();
                if !run_args.is_empty() {
                    prefix = format!("|{} ", run_args.len());
                    for (k, v) in &run_args {
                        prefix.push_str(&format!("{k}={v} "));
                    }
                }
                created_by = format!("{prefix}{}", argv.join(" "));
                parts.args = run_args.clone();
                let network = match network.as_deref() {
                    None | Some("default") => self.opts.network.clone(),
                    Some(n) => n.to_owned(),
                };
                work = Work::Run {
                    args: argv,
                    network,
                };
            }
            Instruction::Copy(spec) | Instruction::Add(spec) => {
                let is_add = matches!(step.instruction, Instruction::Add(_));
                let plan =
                    self.plan_copy(step, spec, is_add, &state, &env, stages, results, stage_no)?;
                parts.files = plan.files;
                created_by = format!(
                    "{} #(nop) {} {} in {} ",
                    state.shell().join(" "),
                    step.keyword(),
                    plan.summary,
                    plan.dest_shown
                );
                work = Work::Copy(plan.entries);
            }
        }
        parts.resolved = created_by.clone();
        if !matches!(step.instruction, Instruction::Run { .. }) {
            parts.args = run_args.clone();
            // Only RUN depends on the args' values directly; elsewhere an
            // arg matters through the expanded text, already in `resolved`.
            parts.args.retain(|k, _| step.original.contains(k.as_str()));
        }

        // The cache.
        if !self.opts.no_cache
            && !state.rebuilt
            && let Some(rec) = self.cache.get(&parts)
            && let Some(hit) = self.state_of_record(&state, &rec)
        {
            self.progress.line(&format!("{STEP_ARROW}Using cache"));
            if self.opts.explain_cache {
                self.progress.line(&format!(
                    "{STEP_ARROW}cache hit: {} — same parent, instruction{}",
                    step.display(),
                    if parts.files.is_empty() {
                        ""
                    } else {
                        " and files"
                    }
                ));
            }
            self.progress
                .line(&format!("{STEP_ARROW}{}", hit.short_id()));
            return Ok(hit);
        }
        let reason = if self.opts.no_cache {
            "--no-cache".to_owned()
        } else if state.rebuilt {
            "parent step rebuilt".to_owned()
        } else {
            self.cache.explain_miss(&parts)
        };
        let fresh = if state.rebuilt {
            state.fresh
        } else {
            reason == "not built before"
        };
        if self.opts.explain_cache || !fresh {
            self.progress.line(&format!(
                "{STEP_ARROW}cache miss: {} — {reason}",
                step.display()
            ));
        }

        let created = now_rfc3339();
        let mut layers = state.layers.clone();
        let mut history = json!({"created": created, "created_by": created_by});
        let new_layer = match work {
            Work::None => {
                history["empty_layer"] = json!(true);
                None
            }
            Work::Copy(entries) => {
                let f = layer::write_entries(self.store.dir(), &entries).map_err(|cause| {
                    BuildError::Io {
                        path: self.store.dir().to_path_buf(),
                        cause,
                    }
                })?;
                Some(self.store.add_layer_tar(f)?)
            }
            Work::Run { args, network } => {
                Some(self.run_step(step, &state, &args, &run_args, &network)?)
            }
        };
        if let Some(l) = &new_layer {
            let ids = next["rootfs"]["diff_ids"].as_array_mut();
            match ids {
                Some(a) => a.push(json!(l.diff_id)),
                None => next["rootfs"] = json!({"type": "layers", "diff_ids": [l.diff_id]}),
            }
            layers.push(l.clone());
        }
        match next["history"].as_array_mut() {
            Some(h) => h.push(history),
            None => next["history"] = json!([history]),
        }
        next["created"] = json!(created);
        let mut out = ImageState::from_config(next, layers, true);
        out.fresh = fresh;
        let rec = Record {
            parts,
            config: String::from_utf8(config_bytes(&out.config)).expect("JSON is UTF-8"),
            created,
        };
        // A cache that cannot be written only costs the next build time.
        let _ = self.cache.put(&rec);
        self.progress
            .line(&format!("{STEP_ARROW}{}", out.short_id()));
        Ok(out)
    }

    /// The state a cache record describes, if its layers are still there.
    fn state_of_record(&self, parent: &ImageState, rec: &Record) -> Option<ImageState> {
        let config: Value = serde_json::from_str(&rec.config).ok()?;
        let ids: Vec<String> = strings(&config["rootfs"]["diff_ids"])?;
        let mut layers = parent.layers.clone();
        if ids.len() < layers.len()
            || ids[..layers.len()]
                != parent
                    .layers
                    .iter()
                    .map(|l| l.diff_id.clone())
                    .collect::<Vec<_>>()[..]
        {
            return None;
        }
        for d in &ids[layers.len()..] {
            let p = self.store.blob_path(d).ok()?;
            let size = fs::metadata(&p).ok()?.len();
            layers.push(LayerInfo {
                digest: d.clone(),
                media_type: MEDIA_LAYER_TAR.into(),
                size,
                diff_id: d.clone(),
            });
        }
        Some(ImageState::from_config(config, layers, false))
    }

    fn run_step(
        &mut self,
        step: &Step,
        state: &ImageState,
        args: &[String],
        run_args: &BTreeMap<String, String>,
        network: &str,
    ) -> Result<LayerInfo, BuildError> {
        let image = state.as_image()?;
        let env: Vec<String> = run_args.iter().map(|(k, v)| format!("{k}={v}")).collect();
        let req = RunRequest {
            image: &image,
            args,
            env: &env,
            network,
        };
        let mut tail: Vec<String> = Vec::new();
        let mut partial = Vec::new();
        let progress = std::cell::RefCell::new(&mut *self.progress);
        // A step silent for a while says it is still at work.
        let last_sign = std::cell::Cell::new(std::time::Instant::now());
        let result = self.runner.run(
            &req,
            &mut |id| {
                progress.borrow_mut().line(&format!(
                    "{STEP_ARROW}Running in {}",
                    &id[..12.min(id.len())]
                ));
            },
            &mut |elapsed| {
                if last_sign.get().elapsed() >= PROGRESS_EVERY {
                    last_sign.set(std::time::Instant::now());
                    progress.borrow_mut().line(&format!(
                        "{STEP_ARROW}still running: {} ({} s)",
                        step.display(),
                        elapsed.as_secs()
                    ));
                }
            },
            &mut |bytes| {
                last_sign.set(std::time::Instant::now());
                progress.borrow_mut().output(bytes);
                partial.extend_from_slice(bytes);
                while let Some(i) = partial.iter().position(|&b| b == b'\n') {
                    let l: Vec<u8> = partial.drain(..=i).collect();
                    tail.push(String::from_utf8_lossy(&l[..l.len() - 1]).into_owned());
                    if tail.len() > 10 {
                        tail.remove(0);
                    }
                }
            },
        );
        if !partial.is_empty() {
            tail.push(String::from_utf8_lossy(&partial).into_owned());
            if tail.len() > 10 {
                tail.remove(0);
            }
        }
        let outcome = result.map_err(|e| self.step_err(step.line, format!("RUN: {e}")))?;
        let finish = |this: &mut Self| -> Result<LayerInfo, BuildError> {
            if outcome.exit_code != 0 {
                return Err(BuildError::RunFailed {
                    file: this.file.clone(),
                    line: step.line,
                    command: args.join(" "),
                    code: outcome.exit_code,
                    tail: tail.clone(),
                });
            }
            let f = layer::write_upper(this.store.dir(), &outcome.upper).map_err(|cause| {
                BuildError::Io {
                    path: outcome.upper.clone(),
                    cause,
                }
            })?;
            Ok(this.store.add_layer_tar(f)?)
        };
        let r = finish(self);
        self.runner.remove(&outcome.container_id);
        self.progress.line(&format!(
            "Removing intermediate container {}",
            &outcome.container_id[..12.min(outcome.container_id.len())]
        ));
        r
    }
}

/// Build args Docker knows without an ARG (proxies).
const PREDEFINED_ARGS: &[&str] = &[
    "HTTP_PROXY",
    "http_proxy",
    "HTTPS_PROXY",
    "https_proxy",
    "FTP_PROXY",
    "ftp_proxy",
    "NO_PROXY",
    "no_proxy",
    "ALL_PROXY",
    "all_proxy",
];

fn meta_env(meta: &Vars) -> Vec<(String, String)> {
    meta.args
        .iter()
        .filter_map(|(k, v)| v.clone().map(|v| (k.clone(), v)))
        .collect()
}

fn lookup(env: &[(String, String)], name: &str) -> Option<String> {
    env.iter()
        .rev()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.clone())
}

fn from_display(stage: &Stage) -> String {
    let orig = stage.original.trim();
    let rest = orig
        .split_once(|c: char| c.is_whitespace())
        .map(|(_, r)| r.trim_start())
        .unwrap_or("");
    format!("FROM {rest}")
}

/// The stage a `FROM`/`--from` value names: its `AS` name or its index.
fn stage_index(stages: &[Stage], name: &str) -> Option<usize> {
    let lower = name.to_lowercase();
    if let Some(i) = stages
        .iter()
        .position(|s| s.name.as_deref() == Some(&lower))
    {
        return Some(i);
    }
    name.parse::<usize>().ok().filter(|i| *i < stages.len())
}

fn quote_arg(s: &str) -> String {
    if s.is_empty()
        || s.contains(|c: char| c.is_whitespace() || c == '"' || c == '\'' || c == '\\' || c == '$')
    {
        crate::dockerfile::parser::go_quote(s)
    } else {
        s.to_owned()
    }
}

fn join_path(base: &str, p: &str) -> String {
    if p.starts_with('/') {
        p.to_owned()
    } else {
        format!("{}/{p}", base.trim_end_matches('/'))
    }
}

/// An absolute, cleaned path (`/app/./x/..` → `/app`).
fn clean_abs(p: &str) -> String {
    format!("/{}", ignore::clean(p))
}

fn join_rel(dir: &str, name: &str) -> String {
    context::join_rel(dir, name)
}

fn base_name(rel: &str) -> &str {
    rel.rsplit('/').next().unwrap_or(rel)
}

fn command_argv(form: &CommandForm, shell: &[String]) -> Vec<String> {
    match form {
        CommandForm::Exec(a) => a.clone(),
        CommandForm::Shell(s) => {
            let mut v = shell.to_vec();
            v.push(s.clone());
            v
        }
    }
}

/// RUN's argv; a here-document is handed to the shell as the shell would
/// read it from a script (`RUN <<EOF` alone runs the document itself).
fn run_argv(
    form: &CommandForm,
    shell: &[String],
    heredocs: &[crate::dockerfile::Heredoc],
) -> Vec<String> {
    match form {
        CommandForm::Shell(s) if !heredocs.is_empty() => {
            let only = heredocs.len() == 1
                && s.trim()
                    .trim_start_matches(|c: char| c.is_ascii_digit())
                    .starts_with("<<")
                && !s.trim().contains(char::is_whitespace);
            let script = if only {
                heredocs[0].content.clone()
            } else {
                let mut t = s.clone();
                for h in heredocs {
                    t.push('\n');
                    t.push_str(&h.content);
                    t.push_str(&h.name);
                }
                t
            };
            let mut v = shell.to_vec();
            v.push(script);
            v
        }
        f => command_argv(f, shell),
    }
}

/// `5000` → `5000/tcp`; `8000-8001/udp` → each port.
fn expand_port(p: &str) -> Result<Vec<String>, String> {
    let (ports, proto) = match p.split_once('/') {
        Some((a, b)) => (a, b.to_lowercase()),
        None => (p, "tcp".to_owned()),
    };
    if !matches!(proto.as_str(), "tcp" | "udp" | "sctp") {
        return Err(format!("invalid proto: {proto}"));
    }
    let parse = |s: &str| {
        s.parse::<u16>()
            .map_err(|_| format!("invalid containerPort: {ports}"))
    };
    let (lo, hi) = match ports.split_once('-') {
        Some((a, b)) => (parse(a)?, parse(b)?),
        None => (parse(ports)?, parse(ports)?),
    };
    if hi < lo {
        return Err(format!("invalid port range: {ports}"));
    }
    Ok((lo..=hi).map(|n| format!("{n}/{proto}")).collect())
}

/// Go-style durations (`30s`, `1m30s`, `500ms`) in nanoseconds.
fn duration_ns(s: &str) -> Result<i64, String> {
    let mut total: f64 = 0.0;
    let mut rest = s;
    if rest.is_empty() {
        return Err(format!("invalid duration {s:?}"));
    }
    while !rest.is_empty() {
        let n = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(|| format!("missing unit in duration {s:?}"))?;
        let num: f64 = rest[..n]
            .parse()
            .map_err(|_| format!("invalid duration {s:?}"))?;
        rest = &rest[n..];
        let u = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let mult = match &rest[..u] {
            "ns" => 1.0,
            "us" | "µs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            other => return Err(format!("unknown unit {other:?} in duration {s:?}")),
        };
        total += num * mult;
        rest = &rest[u..];
    }
    Ok(total as i64)
}

fn healthcheck_json(h: &HealthSpec) -> Result<Value, String> {
    let mut v = json!({"Test": h.test});
    for (key, val) in [
        ("Interval", &h.interval),
        ("Timeout", &h.timeout),
        ("StartPeriod", &h.start_period),
        ("StartInterval", &h.start_interval),
    ] {
        if let Some(d) = val {
            let ns =
                duration_ns(d).map_err(|e| format!("HEALTHCHECK --{}: {e}", key.to_lowercase()))?;
            v[key] = json!(ns);
        }
    }
    if let Some(r) = &h.retries {
        let n: i64 = r
            .parse()
            .map_err(|_| format!("HEALTHCHECK --retries: invalid value {r:?}"))?;
        v["Retries"] = json!(n);
    }
    Ok(v)
}

#[cfg(test)]
mod tests;
