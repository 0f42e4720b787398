//! Typed instructions from the parsed tree, grouped into build stages.
//! Values keep their variables: expansion happens while building, with the
//! ARG and ENV values in effect at that step.

use super::parser::{Ast, Heredoc, Node};
use super::{ParseError, parse};

/// Exec form (`["a","b"]`) or shell form (`a b`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CommandForm {
    Exec(Vec<String>),
    Shell(String),
}

/// A `COPY` or `ADD`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CopySpec {
    pub sources: Vec<String>,
    pub dest: String,
    pub from: Option<String>,
    pub chown: Option<String>,
    pub chmod: Option<String>,
    pub link: bool,
    /// `ADD --checksum`.
    pub checksum: Option<String>,
}

/// `HEALTHCHECK` as the image config stores it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct HealthSpec {
    /// `["NONE"]`, `["CMD", …]` or `["CMD-SHELL", "…"]`.
    pub test: Vec<String>,
    pub interval: Option<String>,
    pub timeout: Option<String>,
    pub start_period: Option<String>,
    pub start_interval: Option<String>,
    pub retries: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Instruction {
    Arg(Vec<(String, Option<String>)>),
    Env(Vec<(String, String)>),
    Label(Vec<(String, String)>),
    Workdir(String),
    User(String),
    Expose(Vec<String>),
    Volume(Vec<String>),
    Cmd(CommandForm),
    Entrypoint(CommandForm),
    Shell(Vec<String>),
    StopSignal(String),
    Healthcheck(HealthSpec),
    /// The trigger as written after `ONBUILD`.
    Onbuild(String),
    Maintainer(String),
    Run {
        command: CommandForm,
        /// `--network` for this step.
        network: Option<String>,
    },
    Copy(CopySpec),
    Add(CopySpec),
}

/// One instruction with where it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    pub instruction: Instruction,
    /// The instruction line as written (continuations joined).
    pub original: String,
    pub line: usize,
    pub heredocs: Vec<Heredoc>,
}

impl Step {
    /// The keyword in upper case (`COPY`).
    pub fn keyword(&self) -> &'static str {
        match self.instruction {
            Instruction::Arg(_) => "ARG",
            Instruction::Env(_) => "ENV",
            Instruction::Label(_) => "LABEL",
            Instruction::Workdir(_) => "WORKDIR",
            Instruction::User(_) => "USER",
            Instruction::Expose(_) => "EXPOSE",
            Instruction::Volume(_) => "VOLUME",
            Instruction::Cmd(_) => "CMD",
            Instruction::Entrypoint(_) => "ENTRYPOINT",
            Instruction::Shell(_) => "SHELL",
            Instruction::StopSignal(_) => "STOPSIGNAL",
            Instruction::Healthcheck(_) => "HEALTHCHECK",
            Instruction::Onbuild(_) => "ONBUILD",
            Instruction::Maintainer(_) => "MAINTAINER",
            Instruction::Run { .. } => "RUN",
            Instruction::Copy(_) => "COPY",
            Instruction::Add(_) => "ADD",
        }
    }

    /// `COPY . .`: the keyword in upper case and the rest as written, as
    /// Docker's classic builder prints `Step N/M : …`.
    pub fn display(&self) -> String {
        let orig = self.original.trim();
        let rest = orig
            .split_once(|c: char| c.is_whitespace())
            .map(|(_, r)| r.trim_start())
            .unwrap_or("");
        if rest.is_empty() {
            self.keyword().to_owned()
        } else {
            format!("{} {rest}", self.keyword())
        }
    }
}

/// One `FROM` and the steps after it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stage {
    /// The base as written (may hold `$VARS` from global ARGs).
    pub base: String,
    /// `AS name`, lower-cased as Docker does.
    pub name: Option<String>,
    pub platform: Option<String>,
    pub original: String,
    pub line: usize,
    pub steps: Vec<Step>,
}

/// A typed Dockerfile: the ARGs before the first FROM, then the stages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dockerfile {
    pub meta_args: Vec<Step>,
    pub stages: Vec<Stage>,
    pub escape: char,
}

impl Dockerfile {
    /// Parses and types a Dockerfile; errors carry the line.
    pub fn parse(text: &str) -> Result<Dockerfile, ParseError> {
        let ast = parse(text)?;
        Dockerfile::from_ast(&ast)
    }

    pub fn from_ast(ast: &Ast) -> Result<Dockerfile, ParseError> {
        let mut meta_args = Vec::new();
        let mut stages: Vec<Stage> = Vec::new();
        for node in &ast.children {
            let line = node.start_line;
            if node.value.eq_ignore_ascii_case("from") {
                stages.push(parse_from(node)?);
                continue;
            }
            let step = parse_step(node)?;
            match stages.last_mut() {
                Some(s) => s.steps.push(step),
                None if matches!(step.instruction, Instruction::Arg(_)) => meta_args.push(step),
                None => {
                    return Err(ParseError::at(
                        line,
                        1,
                        format!(
                            "no build stage in current context: {} must come after FROM",
                            step.keyword()
                        ),
                    ));
                }
            }
        }
        if stages.is_empty() {
            return Err(ParseError::at(
                0,
                0,
                "no build stage in context: the Dockerfile has no FROM".into(),
            ));
        }
        Ok(Dockerfile {
            meta_args,
            stages,
            escape: ast.escape,
        })
    }
}

fn err(node: &Node, message: impl Into<String>) -> ParseError {
    ParseError::at(node.start_line, 1, message.into())
}

/// `--name=value` / `--name` flags, checked against what the instruction allows.
fn flags(node: &Node, allowed: &[&str]) -> Result<Vec<(String, Option<String>)>, ParseError> {
    let mut out = Vec::new();
    for f in &node.flags {
        let body = f.strip_prefix("--").unwrap_or(f);
        let (name, value) = match body.split_once('=') {
            Some((n, v)) => (n.to_owned(), Some(v.to_owned())),
            None => (body.to_owned(), None),
        };
        if !allowed.contains(&name.as_str()) {
            return Err(err(
                node,
                format!(
                    "unknown flag: --{name} (allowed for {}: {})",
                    node.value.to_uppercase(),
                    if allowed.is_empty() {
                        "none".to_owned()
                    } else {
                        allowed
                            .iter()
                            .map(|a| format!("--{a}"))
                            .collect::<Vec<_>>()
                            .join(", ")
                    }
                ),
            ));
        }
        if out
            .iter()
            .any(|(n, _): &(String, Option<String>)| *n == name)
        {
            return Err(err(node, format!("duplicate flag specified: --{name}")));
        }
        out.push((name, value));
    }
    Ok(out)
}

fn flag_value(
    node: &Node,
    fl: &[(String, Option<String>)],
    name: &str,
) -> Result<Option<String>, ParseError> {
    match fl.iter().find(|(n, _)| n == name) {
        None => Ok(None),
        Some((_, Some(v))) => Ok(Some(v.clone())),
        Some((_, None)) => Err(err(node, format!("missing a value on flag: --{name}"))),
    }
}

fn flag_bool(node: &Node, fl: &[(String, Option<String>)], name: &str) -> Result<bool, ParseError> {
    match fl.iter().find(|(n, _)| n == name) {
        None => Ok(false),
        Some((_, None)) => Ok(true),
        Some((_, Some(v))) => match v.as_str() {
            "true" | "1" => Ok(true),
            "false" | "0" => Ok(false),
            _ => Err(err(
                node,
                format!("expecting boolean value for flag --{name}, not: {v}"),
            )),
        },
    }
}

fn parse_from(node: &Node) -> Result<Stage, ParseError> {
    let fl = flags(node, &["platform"])?;
    let args = node.args();
    let name = match args.len() {
        1 => None,
        3 if args[1].eq_ignore_ascii_case("as") => {
            let n = args[2].to_lowercase();
            let valid = n.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
                && n.chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
            if !valid {
                return Err(err(
                    node,
                    format!(
                        "invalid name for build stage: {:?}, name can't start with a number or contain symbols",
                        args[2]
                    ),
                ));
            }
            Some(n)
        }
        _ => {
            return Err(err(
                node,
                "FROM requires either one or three arguments (FROM image [AS name])",
            ));
        }
    };
    Ok(Stage {
        base: args[0].clone(),
        name,
        platform: flag_value(node, &fl, "platform")?,
        original: node.original.clone(),
        line: node.start_line,
        steps: Vec::new(),
    })
}

fn command_form(node: &Node) -> CommandForm {
    if node.json {
        CommandForm::Exec(node.args())
    } else {
        CommandForm::Shell(node.args().into_iter().next().unwrap_or_default())
    }
}

fn pairs(node: &Node, kw: &str) -> Result<Vec<(String, String)>, ParseError> {
    let a = node.args();
    if a.is_empty() {
        return Err(err(node, format!("{kw} requires at least one argument")));
    }
    Ok(a.chunks(3).map(|c| (c[0].clone(), c[1].clone())).collect())
}

fn one_arg(node: &Node, kw: &str) -> Result<String, ParseError> {
    let a = node.args();
    match a.len() {
        1 => Ok(a[0].clone()),
        _ => Err(err(node, format!("{kw} requires exactly one argument"))),
    }
}

fn parse_step(node: &Node) -> Result<Step, ParseError> {
    let kw = node.value.to_uppercase();
    let none: &[&str] = &[];
    let instruction = match kw.as_str() {
        "ARG" => {
            flags(node, none)?;
            let a = node.args();
            if a.is_empty() {
                return Err(err(node, "ARG requires at least one argument"));
            }
            let mut out = Vec::new();
            for w in a {
                match w.split_once('=') {
                    Some((k, v)) => out.push((k.to_owned(), Some(v.to_owned()))),
                    None => out.push((w, None)),
                }
            }
            Instruction::Arg(out)
        }
        "ENV" => {
            flags(node, none)?;
            Instruction::Env(pairs(node, "ENV")?)
        }
        "LABEL" => {
            flags(node, none)?;
            Instruction::Label(pairs(node, "LABEL")?)
        }
        "MAINTAINER" => {
            flags(node, none)?;
            Instruction::Maintainer(one_arg(node, "MAINTAINER")?)
        }
        "WORKDIR" => {
            flags(node, none)?;
            Instruction::Workdir(one_arg(node, "WORKDIR")?)
        }
        "USER" => {
            flags(node, none)?;
            Instruction::User(one_arg(node, "USER")?)
        }
        "STOPSIGNAL" => {
            flags(node, none)?;
            Instruction::StopSignal(one_arg(node, "STOPSIGNAL")?)
        }
        "EXPOSE" => {
            flags(node, none)?;
            let a = node.args();
            if a.is_empty() {
                return Err(err(node, "EXPOSE requires at least one argument"));
            }
            Instruction::Expose(a)
        }
        "VOLUME" => {
            flags(node, none)?;
            let a = node.args();
            if a.is_empty() {
                return Err(err(node, "VOLUME requires at least one argument"));
            }
            if a.iter().any(|v| v.trim().is_empty()) {
                return Err(err(node, "VOLUME specified can not be an empty string"));
            }
            Instruction::Volume(a)
        }
        "CMD" => {
            flags(node, none)?;
            Instruction::Cmd(command_form(node))
        }
        "ENTRYPOINT" => {
            flags(node, none)?;
            Instruction::Entrypoint(command_form(node))
        }
        "SHELL" => {
            flags(node, none)?;
            if !node.json {
                return Err(err(node, "SHELL requires the arguments to be in JSON form"));
            }
            let a = node.args();
            if a.is_empty() {
                return Err(err(node, "SHELL requires at least one argument"));
            }
            Instruction::Shell(a)
        }
        "RUN" => {
            let fl = flags(node, &["network", "mount", "security"])?;
            if fl.iter().any(|(n, _)| n == "mount" || n == "security") {
                return Err(err(
                    node,
                    "RUN --mount and --security are not supported by wrun build yet",
                ));
            }
            let network = flag_value(node, &fl, "network")?;
            if let Some(n) = &network
                && !matches!(n.as_str(), "default" | "none" | "host")
            {
                return Err(err(
                    node,
                    format!("invalid RUN --network value {n:?}: expected default, none or host"),
                ));
            }
            if node.next.is_empty() {
                return Err(err(node, "RUN requires at least one argument"));
            }
            Instruction::Run {
                command: command_form(node),
                network,
            }
        }
        "COPY" | "ADD" => {
            let allowed: &[&str] = if kw == "COPY" {
                &["from", "chown", "chmod", "link"]
            } else {
                &["chown", "chmod", "link", "checksum"]
            };
            let fl = flags(node, allowed)?;
            let mut a = node.args();
            if a.len() < 2 {
                return Err(err(node, format!("{kw} requires at least two arguments")));
            }
            let dest = a.pop().expect("two or more");
            let spec = CopySpec {
                sources: a,
                dest,
                from: flag_value(node, &fl, "from")?,
                chown: flag_value(node, &fl, "chown")?,
                chmod: flag_value(node, &fl, "chmod")?,
                link: flag_bool(node, &fl, "link")?,
                checksum: flag_value(node, &fl, "checksum")?,
            };
            if kw == "COPY" {
                Instruction::Copy(spec)
            } else {
                Instruction::Add(spec)
            }
        }
        "HEALTHCHECK" => {
            let fl = flags(
                node,
                &[
                    "interval",
                    "timeout",
                    "start-period",
                    "start-interval",
                    "retries",
                ],
            )?;
            let a = node.args();
            let Some(typ) = a.first() else {
                return Err(err(node, "HEALTHCHECK requires an argument"));
            };
            let test = match typ.to_uppercase().as_str() {
                "NONE" => {
                    if a.len() > 1 || !fl.is_empty() {
                        return Err(err(node, "HEALTHCHECK NONE takes no arguments"));
                    }
                    vec!["NONE".to_owned()]
                }
                "CMD" => {
                    if a.len() < 2 {
                        return Err(err(node, "Missing command after HEALTHCHECK CMD"));
                    }
                    if node.json {
                        let mut t = vec!["CMD".to_owned()];
                        t.extend(a[1..].iter().cloned());
                        t
                    } else {
                        vec!["CMD-SHELL".to_owned(), a[1].clone()]
                    }
                }
                other => {
                    return Err(err(
                        node,
                        format!("Unknown type {other:?} in HEALTHCHECK (try CMD)"),
                    ));
                }
            };
            Instruction::Healthcheck(HealthSpec {
                test,
                interval: flag_value(node, &fl, "interval")?,
                timeout: flag_value(node, &fl, "timeout")?,
                start_period: flag_value(node, &fl, "start-period")?,
                start_interval: flag_value(node, &fl, "start-interval")?,
                retries: flag_value(node, &fl, "retries")?,
            })
        }
        "ONBUILD" => {
            flags(node, none)?;
            let Some(child) = node.next.first().and_then(|n| n.children.first()) else {
                return Err(err(node, "ONBUILD requires at least one argument"));
            };
            match child.value.to_uppercase().as_str() {
                "ONBUILD" => {
                    return Err(err(
                        node,
                        "Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed",
                    ));
                }
                "FROM" | "MAINTAINER" => {
                    return Err(err(
                        node,
                        format!(
                            "{} isn't allowed as an ONBUILD trigger",
                            child.value.to_uppercase()
                        ),
                    ));
                }
                _ => {}
            }
            // Typing the trigger checks it now rather than in a child build.
            parse_step(child)?;
            let orig = node.original.trim_start();
            let trigger = orig
                .get(7..)
                .map(str::trim_start)
                .unwrap_or_default()
                .to_owned();
            Instruction::Onbuild(trigger)
        }
        "FROM" => unreachable!("FROM is handled by the caller"),
        other => {
            return Err(err(node, format!("unknown instruction: {other}")));
        }
    };
    Ok(Step {
        instruction,
        original: node.original.clone(),
        line: node.start_line,
        heredocs: node.heredocs.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_instruction_names_line() {
        let e = Dockerfile::parse("FROM x\n\nCOPPY a b\n").unwrap_err();
        assert_eq!(e.to_string(), "Dockerfile:3:1: unknown instruction: COPPY");
    }

    #[test]
    fn stages_and_meta_args() {
        let d = Dockerfile::parse(
            "ARG V=1\nFROM busybox:$V AS Build\nRUN echo\nFROM scratch\nCOPY --from=build /a /b\n",
        )
        .unwrap();
        assert_eq!(d.meta_args.len(), 1);
        assert_eq!(d.stages.len(), 2);
        assert_eq!(d.stages[0].name.as_deref(), Some("build"));
        let Instruction::Copy(c) = &d.stages[1].steps[0].instruction else {
            panic!("copy")
        };
        assert_eq!(c.from.as_deref(), Some("build"));
        assert_eq!(d.stages[1].steps[0].display(), "COPY --from=build /a /b");
    }

    #[test]
    fn instruction_before_from_is_refused() {
        let e = Dockerfile::parse("RUN x\nFROM y\n").unwrap_err();
        assert!(
            e.to_string().starts_with("Dockerfile:1:1: no build stage"),
            "{e}"
        );
    }

    #[test]
    fn bad_flags_are_named() {
        let e = Dockerfile::parse("FROM x\nCOPY --frm=a b c\n").unwrap_err();
        assert!(e.to_string().contains("unknown flag: --frm"), "{e}");
        let e = Dockerfile::parse("FROM x\nSHELL sh -c\n").unwrap_err();
        assert!(e.to_string().contains("JSON form"), "{e}");
    }

    #[test]
    fn healthcheck_and_onbuild() {
        let d = Dockerfile::parse(
            "FROM x\nHEALTHCHECK --interval=5s CMD curl -f http://l/\nONBUILD RUN echo hi\n",
        )
        .unwrap();
        let Instruction::Healthcheck(h) = &d.stages[0].steps[0].instruction else {
            panic!()
        };
        assert_eq!(h.test, vec!["CMD-SHELL", "curl -f http://l/"]);
        assert_eq!(h.interval.as_deref(), Some("5s"));
        assert_eq!(
            d.stages[0].steps[1].instruction,
            Instruction::Onbuild("RUN echo hi".into())
        );
        assert!(Dockerfile::parse("FROM x\nONBUILD ONBUILD RUN x\n").is_err());
    }
}
