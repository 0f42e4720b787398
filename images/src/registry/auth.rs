//! Credentials, where Docker keeps them: `$DOCKER_CONFIG/config.json`
//! (default `~/.docker/config.json`).
//!
//! * `auths.<server>.auth` is `base64(user:password)`, the plain store;
//! * `credHelpers.<server>` names a helper for one registry and
//!   `credsStore` one for all: the program `docker-credential-<name>`,
//!   spoken to with its `get`/`store`/`erase` protocol (server URL or a JSON
//!   `{"ServerURL","Username","Secret"}` on stdin).
//!
//! Docker Hub's key is `https://index.docker.io/v1/`; other registries are
//! keyed by `host[:port]` (older files may hold `https://host` — matched
//! too). Everything else in the file is kept as it was when wrun writes it.
//! Secrets are never logged.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use base64::Engine as _;
use serde_json::{Map, Value};

use super::{Error, Result};

/// The key Docker uses for Docker Hub in `config.json`.
pub const DOCKER_HUB_KEY: &str = "https://index.docker.io/v1/";

/// A user name and a secret (password or token).
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    pub username: String,
    pub secret: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("username", &self.username)
            .field("secret", &"<redacted>")
            .finish()
    }
}

/// Where credentials were stored by [`store`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoredIn {
    /// Base64 in `config.json` (Docker warns that this is unencrypted).
    File(PathBuf),
    /// A `docker-credential-<name>` helper.
    Helper(String),
}

/// `$DOCKER_CONFIG`, else `$HOME/.docker`.
pub fn config_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("DOCKER_CONFIG").filter(|d| !d.is_empty()) {
        return PathBuf::from(d);
    }
    let home = std::env::var_os("HOME").unwrap_or_else(|| "/root".into());
    PathBuf::from(home).join(".docker")
}

/// The `config.json` key for a registry domain (`docker.io` → Docker Hub's URL).
pub fn server_key(domain: &str) -> String {
    if domain == crate::reference::DEFAULT_DOMAIN || domain == "index.docker.io" {
        DOCKER_HUB_KEY.to_owned()
    } else {
        domain.to_owned()
    }
}

/// `https://host/path` → `host`: how keys are compared.
fn bare_host(key: &str) -> &str {
    let k = key
        .strip_prefix("https://")
        .or_else(|| key.strip_prefix("http://"))
        .unwrap_or(key);
    k.split('/').next().unwrap_or(k)
}

fn same_server(a: &str, b: &str) -> bool {
    let norm = |k: &str| match bare_host(k) {
        "index.docker.io" | "registry-1.docker.io" | "docker.io" => "docker.io".to_owned(),
        h => h.to_owned(),
    };
    norm(a) == norm(b)
}

/// The parsed `config.json` (an empty object when there is none).
#[derive(Debug)]
pub struct DockerConfig {
    path: PathBuf,
    root: Map<String, Value>,
    /// Where `docker-credential-*` programs are looked for; `None` = `PATH`.
    helper_dir: Option<PathBuf>,
}

impl DockerConfig {
    /// Reads `config.json` in `dir`.
    pub fn load(dir: &Path) -> Result<Self> {
        let path = dir.join("config.json");
        let root = match std::fs::read(&path) {
            Ok(data) if data.iter().all(u8::is_ascii_whitespace) => Map::new(),
            Ok(data) => match serde_json::from_slice::<Value>(&data) {
                Ok(Value::Object(m)) => m,
                Ok(_) => {
                    return Err(Error::Config {
                        path,
                        reason: "not a JSON object".into(),
                    });
                }
                Err(e) => {
                    return Err(Error::Config {
                        path,
                        reason: e.to_string(),
                    });
                }
            },
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Map::new(),
            Err(e) => return Err(Error::io(&path, e)),
        };
        Ok(DockerConfig {
            path,
            root,
            helper_dir: None,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The helper that holds `server`'s credentials, if any.
    fn helper_for(&self, server: &str) -> Option<String> {
        if let Some(Value::Object(h)) = self.root.get("credHelpers") {
            for (k, v) in h {
                if same_server(k, server)
                    && let Some(name) = v.as_str()
                {
                    return Some(name.to_owned());
                }
            }
        }
        self.root
            .get("credsStore")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
    }

    fn auths(&self) -> Option<&Map<String, Value>> {
        self.root.get("auths").and_then(Value::as_object)
    }

    /// Credentials for `server` (a `config.json` key or a domain), if any.
    pub fn get(&self, server: &str) -> Result<Option<Credentials>> {
        if let Some(h) = self.helper_for(server) {
            return self.helper_get(&h, server);
        }
        let Some(auths) = self.auths() else {
            return Ok(None);
        };
        for (k, v) in auths {
            if !same_server(k, server) {
                continue;
            }
            if let Some(a) = v
                .get("auth")
                .and_then(Value::as_str)
                .filter(|a| !a.is_empty())
            {
                let raw = base64::engine::general_purpose::STANDARD
                    .decode(a.trim())
                    .map_err(|e| Error::Config {
                        path: self.path.clone(),
                        reason: format!("auths.{k}.auth: invalid base64: {e}"),
                    })?;
                let s = String::from_utf8_lossy(&raw).into_owned();
                let (u, p) = s.split_once(':').ok_or_else(|| Error::Config {
                    path: self.path.clone(),
                    reason: format!("auths.{k}.auth: not user:password"),
                })?;
                return Ok(Some(Credentials {
                    username: u.to_owned(),
                    secret: p.to_owned(),
                }));
            }
            if let (Some(u), Some(p)) = (
                v.get("username").and_then(Value::as_str),
                v.get("password").and_then(Value::as_str),
            ) {
                return Ok(Some(Credentials {
                    username: u.to_owned(),
                    secret: p.to_owned(),
                }));
            }
        }
        Ok(None)
    }

    /// Stores credentials for `server`, in its helper if one is configured.
    pub fn store(&mut self, server: &str, c: &Credentials) -> Result<StoredIn> {
        if let Some(h) = self.helper_for(server) {
            let input = serde_json::json!({
                "ServerURL": server, "Username": c.username, "Secret": c.secret
            });
            self.helper_run(&h, "store", input.to_string().as_bytes())?;
            // Docker leaves an empty entry so `auths` lists the server.
            self.set_auth_entry(server, Value::Object(Map::new()));
            self.save()?;
            return Ok(StoredIn::Helper(h));
        }
        let token = base64::engine::general_purpose::STANDARD
            .encode(format!("{}:{}", c.username, c.secret));
        self.set_auth_entry(server, serde_json::json!({ "auth": token }));
        self.save()?;
        Ok(StoredIn::File(self.path.clone()))
    }

    fn set_auth_entry(&mut self, server: &str, v: Value) {
        let auths = self
            .root
            .entry("auths")
            .or_insert_with(|| Value::Object(Map::new()));
        if !auths.is_object() {
            *auths = Value::Object(Map::new());
        }
        let m = auths.as_object_mut().expect("object");
        m.retain(|k, _| !same_server(k, server));
        m.insert(server.to_owned(), v);
    }

    /// Removes `server`'s credentials; false when there were none.
    pub fn erase(&mut self, server: &str) -> Result<bool> {
        let mut found = false;
        if let Some(h) = self.helper_for(server) {
            found = self.helper_run(&h, "erase", server.as_bytes()).is_ok();
        }
        if let Some(Value::Object(m)) = self.root.get_mut("auths") {
            let before = m.len();
            m.retain(|k, _| !same_server(k, server));
            found |= m.len() != before;
        }
        if found {
            self.save()?;
        }
        Ok(found)
    }

    fn helper_run(&self, helper: &str, verb: &str, input: &[u8]) -> Result<Vec<u8>> {
        let prog = format!("docker-credential-{helper}");
        let program = match &self.helper_dir {
            Some(d) => d.join(&prog),
            None => PathBuf::from(&prog),
        };
        let mut child = Command::new(&program)
            .arg(verb)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| Error::Credentials {
                reason: format!("error getting credentials - err: exec: \"{prog}\": {e}"),
            })?;
        if let Some(mut stdin) = child.stdin.take() {
            let _ = stdin.write_all(input);
        }
        let out = child.wait_with_output().map_err(|e| Error::Credentials {
            reason: format!("{prog} {verb}: {e}"),
        })?;
        if !out.status.success() {
            let msg = String::from_utf8_lossy(&out.stdout).trim().to_owned();
            let err = String::from_utf8_lossy(&out.stderr).trim().to_owned();
            return Err(Error::Credentials {
                reason: format!("{prog} {verb}: {}", if msg.is_empty() { err } else { msg }),
            });
        }
        Ok(out.stdout)
    }

    fn helper_get(&self, helper: &str, server: &str) -> Result<Option<Credentials>> {
        match self.helper_run(helper, "get", server.as_bytes()) {
            Ok(out) => {
                let v: Value = serde_json::from_slice(&out).map_err(|e| Error::Credentials {
                    reason: format!("docker-credential-{helper} get: invalid answer: {e}"),
                })?;
                let u = v["Username"].as_str().unwrap_or_default().to_owned();
                let s = v["Secret"].as_str().unwrap_or_default().to_owned();
                Ok((!s.is_empty()).then_some(Credentials {
                    username: u,
                    secret: s,
                }))
            }
            Err(Error::Credentials { reason }) if reason.contains("credentials not found") => {
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }

    fn save(&self) -> Result<()> {
        let dir = self.path.parent().unwrap_or(Path::new("."));
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        let mut data = serde_json::to_vec_pretty(&Value::Object(self.root.clone()))
            .expect("config serializes");
        data.push(b'\n');
        let tmp = dir.join(format!(".config.json.{}", std::process::id()));
        let res = (|| {
            use std::os::unix::fs::OpenOptionsExt;
            let mut f = std::fs::OpenOptions::new()
                .create(true)
                .truncate(true)
                .write(true)
                .mode(0o600)
                .open(&tmp)?;
            f.write_all(&data)?;
            f.sync_all()?;
            std::fs::rename(&tmp, &self.path)
        })();
        if res.is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
        res.map_err(|e| Error::io(&self.path, e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_writes_and_erases_keeping_other_keys() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(
            d.path().join("config.json"),
            r#"{"auths":{"https://old.example":{"auth":"dTpw"}},"psFormat":"x"}"#,
        )
        .unwrap();
        let mut c = DockerConfig::load(d.path()).unwrap();
        let got = c.get("old.example").unwrap().unwrap();
        assert_eq!((got.username.as_str(), got.secret.as_str()), ("u", "p"));
        assert!(c.get("other:5000").unwrap().is_none());
        let creds = Credentials {
            username: "me".into(),
            secret: "s3:cret".into(),
        };
        c.store("localhost:5000", &creds).unwrap();
        let c2 = DockerConfig::load(d.path()).unwrap();
        assert_eq!(c2.get("localhost:5000").unwrap().unwrap(), creds);
        let text = std::fs::read_to_string(d.path().join("config.json")).unwrap();
        assert!(
            text.contains("psFormat") && !text.contains("s3:cret"),
            "{text}"
        );
        let mut c3 = DockerConfig::load(d.path()).unwrap();
        assert!(c3.erase("localhost:5000").unwrap());
        assert!(!c3.erase("localhost:5000").unwrap());
        assert!(
            DockerConfig::load(d.path())
                .unwrap()
                .get("localhost:5000")
                .unwrap()
                .is_none()
        );
        assert_eq!(server_key("docker.io"), DOCKER_HUB_KEY);
        assert!(same_server(DOCKER_HUB_KEY, "registry-1.docker.io"));
    }

    #[test]
    fn credentials_through_a_helper() {
        let d = tempfile::tempdir().unwrap();
        // A helper speaking the protocol, keeping one secret in a file.
        let state = d.path().join("stored.json");
        let helper = d.path().join("docker-credential-wruntest");
        std::fs::write(
            &helper,
            format!(
                "#!/bin/sh\ncase \"$1\" in\n get) read s; if [ -f {0} ]; then cat {0}; else echo 'credentials not found in native keychain'; exit 1; fi;;\n store) cat > {0};;\n erase) rm -f {0};;\nesac\n",
                state.display()
            ),
        )
        .unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&helper, std::fs::Permissions::from_mode(0o755)).unwrap();
        std::fs::write(
            d.path().join("config.json"),
            r#"{"credHelpers":{"reg.lab:5000":"wruntest"}}"#,
        )
        .unwrap();
        let mut c = DockerConfig::load(d.path()).unwrap();
        c.helper_dir = Some(d.path().to_path_buf());
        assert!(c.get("reg.lab:5000").unwrap().is_none());
        let creds = Credentials {
            username: "u".into(),
            secret: "pw".into(),
        };
        assert_eq!(
            c.store("reg.lab:5000", &creds).unwrap(),
            StoredIn::Helper("wruntest".into())
        );
        assert_eq!(c.get("reg.lab:5000").unwrap().unwrap(), creds);
        let text = std::fs::read_to_string(d.path().join("config.json")).unwrap();
        assert!(!text.contains("pw"), "{text}");
        assert!(c.erase("reg.lab:5000").unwrap());
        assert!(c.get("reg.lab:5000").unwrap().is_none());
        // No helper for another registry: the file store.
        assert!(c.get("other:1").unwrap().is_none());
    }
}
