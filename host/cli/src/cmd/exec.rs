//! `wrun exec [OPTIONS] CONTAINER COMMAND [ARG...]`

use std::path::PathBuf;

use anyhow::Context;
use wrun_runtime::exec::ExecOptions;
use wrun_runtime::launch::SignalProxy;

use crate::global::Global;

/// Docker's exit code for a flag it refuses before anything runs.
const BAD_FLAGS: i32 = 125;
/// Docker's exit code when the process could not be invoked.
const CANNOT_INVOKE: i32 = 126;
/// Docker's exit code when the command was not found.
const NOT_FOUND: i32 = 127;

#[derive(Debug, clap::Args)]
#[command(
    about = "Execute a command in a running container",
    override_usage = "wrun exec [OPTIONS] CONTAINER COMMAND [ARG...]"
)]
pub struct ExecArgs {
    /// Detached mode: run command in the background
    #[arg(short = 'd', long)]
    pub detach: bool,
    /// Set environment variables
    #[arg(short = 'e', long = "env", value_name = "KEY=VALUE")]
    pub env: Vec<String>,
    /// Read in a file of environment variables
    #[arg(long = "env-file", value_name = "FILE")]
    pub env_file: Vec<PathBuf>,
    /// Keep STDIN open even if not attached
    #[arg(short = 'i', long)]
    pub interactive: bool,
    /// Allocate a pseudo-TTY
    #[arg(short = 't', long)]
    pub tty: bool,
    /// Username or UID (format: "<name|uid>[:<group|gid>]")
    #[arg(short = 'u', long)]
    pub user: Option<String>,
    /// Working directory inside the container
    #[arg(short = 'w', long = "workdir")]
    pub workdir: Option<String>,
    /// Isolation of the process: only the container's own (an exec cannot leave it)
    #[arg(long, value_name = "LEVEL")]
    pub isolation: Option<String>,
    /// Policy of the process: only the container's own (an exec always runs under it)
    #[arg(long, value_name = "NAME|FILE")]
    pub policy: Option<String>,
    /// CONTAINER, then the command and its arguments
    #[arg(
        required = true,
        num_args = 2..,
        trailing_var_arg = true,
        allow_hyphen_values = true,
        value_name = "CONTAINER COMMAND [ARG...]"
    )]
    pub args: Vec<String>,
}

impl ExecArgs {
    pub fn execute(self, g: &Global) -> anyhow::Result<i32> {
        // Before any thread exists, so every thread inherits the mask.
        let signals = if self.detach {
            None
        } else {
            Some(SignalProxy::block()?)
        };
        let (container, opts) = match self.options() {
            Ok(v) => v,
            Err(e) => {
                eprintln!("wrun: {e:#}");
                return Ok(BAD_FLAGS);
            }
        };
        let runtime = super::run::open_runtime(g)?;
        match runtime.exec(&container, &opts, signals.as_ref()) {
            Ok(code) => Ok(code),
            Err(e) => {
                let (code, message) = report(e);
                eprintln!("{message}");
                Ok(code)
            }
        }
    }

    /// The container and the validated options.
    fn options(&self) -> anyhow::Result<(String, ExecOptions)> {
        let (container, command) = self.args.split_first().expect("clap requires CONTAINER");
        let mut env = Vec::new();
        for file in &self.env_file {
            env.extend(super::run::read_env_file(file)?);
        }
        for e in &self.env {
            if let Some(entry) =
                super::run::env_entry(e).with_context(|| format!("invalid -e {e:?}"))?
            {
                env.push(entry);
            }
        }
        let opts = ExecOptions {
            args: command.to_vec(),
            env,
            workdir: self.workdir.clone(),
            user: self.user.clone(),
            tty: self.tty,
            interactive: self.interactive,
            detach: self.detach,
            isolation: self
                .isolation
                .as_deref()
                .map(str::parse::<wrun_runtime::isolation::Isolation>)
                .transpose()?,
            policy: self.policy.clone(),
        };
        opts.validate()?;
        Ok((container.clone(), opts))
    }
}

/// Docker's exit code and message for an exec that did not run.
fn report(e: wrun_runtime::Error) -> (i32, String) {
    use wrun_runtime::Error as E;
    match e {
        E::NotRunning(id) => (
            1,
            format!("Error response from daemon: container {id} is not running"),
        ),
        E::Start { code, message } => (
            if code == NOT_FOUND {
                NOT_FOUND
            } else {
                CANNOT_INVOKE
            },
            format!(
                "OCI runtime exec failed: exec failed: unable to start container process: \
                 {message}: unknown"
            ),
        ),
        e @ E::InvalidFlag { .. } => (BAD_FLAGS, format!("wrun: {e}")),
        e => (1, format!("Error response from daemon: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    fn parse(args: &[&str]) -> ExecArgs {
        match crate::cmd::Cli::try_parse_from(args).unwrap().command {
            crate::cmd::Command::Exec(e) => e,
            other => panic!("parsed as {other:?}"),
        }
    }

    #[test]
    fn docker_command_lines_parse() {
        let e = parse(&["wrun", "exec", "-it", "web", "sh"]);
        assert!(e.interactive && e.tty && !e.detach);
        assert_eq!(e.args, ["web", "sh"]);
        let e = parse(&[
            "wrun", "exec", "-u", "nobody", "-w", "/tmp", "-e", "A=1", "web", "ls", "-la", "-e",
        ]);
        let (c, o) = e.options().unwrap();
        assert_eq!(c, "web");
        assert_eq!(o.args, ["ls", "-la", "-e"]);
        assert_eq!(o.env, ["A=1"]);
        assert_eq!(o.user.as_deref(), Some("nobody"));
        assert_eq!(o.workdir.as_deref(), Some("/tmp"));
        let e = parse(&["wrun", "exec", "-d", "web", "sleep", "9"]);
        assert!(e.detach);
        assert!(crate::cmd::Cli::try_parse_from(["wrun", "exec", "web"]).is_err());
    }

    #[test]
    fn refusals_and_failures_get_dockers_codes() {
        let e = parse(&["wrun", "exec", "-w", "rel", "web", "true"]);
        assert!(format!("{:#}", e.options().unwrap_err()).contains("--workdir"));
        let (code, msg) = report(wrun_runtime::Error::Start {
            code: 127,
            message: "exec: \"nosuch\": executable file not found in $PATH".into(),
        });
        assert_eq!(code, 127);
        assert_eq!(
            msg,
            "OCI runtime exec failed: exec failed: unable to start container process: \
             exec: \"nosuch\": executable file not found in $PATH: unknown"
        );
        let (code, _) = report(wrun_runtime::Error::Start {
            code: 125,
            message: "unable to find user x: no matching entries in passwd file".into(),
        });
        assert_eq!(code, 126);
        let (code, msg) = report(wrun_runtime::Error::NoSuchContainer("x".into()));
        assert_eq!(
            (code, msg.as_str()),
            (1, "Error response from daemon: No such container: x")
        );
        let (code, msg) = report(wrun_runtime::Error::NotRunning("abc".into()));
        assert_eq!(
            (code, msg.as_str()),
            (
                1,
                "Error response from daemon: container abc is not running"
            )
        );
    }
}
