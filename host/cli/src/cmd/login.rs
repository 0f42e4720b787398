//! `wrun login [-u USER] [-p PASS | --password-stdin] [SERVER]`: checks the
//! credentials against the registry and stores them where Docker does
//! (`~/.docker/config.json`, or its credential helper), so Docker's and
//! wrun's logins are one. A password on the command line is warned about;
//! no password is ever logged.

use std::io::{BufRead, IsTerminal, Read, Write};

use wrun_images::registry::auth::{self, Credentials, DockerConfig, StoredIn};

use crate::cmd::pull::{client, daemon_error};
use crate::exit::ExitError;
use crate::global::Global;

#[derive(Debug, clap::Args)]
pub struct LoginArgs {
    /// Username
    #[arg(short, long)]
    pub username: Option<String>,
    /// Password
    #[arg(short, long)]
    pub password: Option<String>,
    /// Take the password from stdin
    #[arg(long = "password-stdin")]
    pub password_stdin: bool,
    /// Registry (default Docker Hub)
    #[arg(value_name = "SERVER")]
    pub server: Option<String>,
}

/// `https://host:5000/x` → (`host:5000` domain, `config.json` key).
pub fn server_of(arg: Option<&str>) -> (String, String) {
    let raw = arg.unwrap_or("docker.io");
    let bare = raw
        .strip_prefix("https://")
        .or_else(|| raw.strip_prefix("http://"))
        .unwrap_or(raw);
    let host = bare.split('/').next().unwrap_or(bare);
    let domain = match host {
        "index.docker.io" | "registry-1.docker.io" | "docker.io" => "docker.io",
        h => h,
    };
    (domain.to_owned(), auth::server_key(domain))
}

impl LoginArgs {
    pub fn execute(self, g: &Global) -> anyhow::Result<i32> {
        let fail = |m: String| -> anyhow::Error { ExitError::new(1, m).into() };
        if self.password.is_some() && self.password_stdin {
            return Err(fail(
                "--password and --password-stdin are mutually exclusive".into(),
            ));
        }
        if self.password_stdin && self.username.is_none() {
            return Err(fail("Must provide --username with --password-stdin".into()));
        }
        let (domain, key) = server_of(self.server.as_deref());
        let username = match self.username {
            Some(u) => u,
            None => prompt("Username: ", false)?,
        };
        let secret = if let Some(p) = self.password {
            eprintln!("WARNING! Using --password via the CLI is insecure. Use --password-stdin.");
            p
        } else if self.password_stdin {
            let mut s = String::new();
            std::io::stdin().read_to_string(&mut s)?;
            s.trim_end_matches(['\n', '\r']).to_owned()
        } else {
            prompt("Password: ", true)?
        };
        if username.is_empty() || secret.is_empty() {
            return Err(fail(
                "Error: Non-null Username and Password Required".into(),
            ));
        }
        let creds = Credentials { username, secret };
        let client = client(g)?;
        client
            .check_login(&domain, &creds)
            .map_err(|e| fail(daemon_error(&e)))?;
        let mut cfg =
            DockerConfig::load(client.docker_config_dir()).map_err(|e| fail(e.to_string()))?;
        match cfg.store(&key, &creds).map_err(|e| fail(e.to_string()))? {
            StoredIn::File(p) => {
                eprintln!(
                    "WARNING! Your password will be stored unencrypted in {}.\n\
                     Configure a credential helper to remove this warning. See\n\
                     https://docs.docker.com/engine/reference/commandline/login/#credential-stores\n",
                    p.display()
                );
            }
            StoredIn::Helper(_) => {}
        }
        println!("Login Succeeded");
        Ok(0)
    }
}

/// Reads one line from the terminal (or stdin), without echo for secrets.
fn prompt(label: &str, secret: bool) -> anyhow::Result<String> {
    let stdin = std::io::stdin();
    if !stdin.is_terminal() {
        let mut line = String::new();
        stdin.lock().read_line(&mut line)?;
        return Ok(line.trim_end_matches(['\n', '\r']).to_owned());
    }
    eprint!("{label}");
    let _ = std::io::stderr().flush();
    let saved = if secret {
        let t = rustix::termios::tcgetattr(&stdin).ok();
        if let Some(t) = &t {
            let mut quiet = t.clone();
            quiet.local_modes.remove(rustix::termios::LocalModes::ECHO);
            let _ =
                rustix::termios::tcsetattr(&stdin, rustix::termios::OptionalActions::Now, &quiet);
        }
        t
    } else {
        None
    };
    let mut line = String::new();
    let res = stdin.lock().read_line(&mut line);
    if let Some(t) = saved {
        let _ = rustix::termios::tcsetattr(&stdin, rustix::termios::OptionalActions::Now, &t);
        eprintln!();
    }
    res?;
    Ok(line.trim_end_matches(['\n', '\r']).to_owned())
}
