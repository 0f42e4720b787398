//! HTTP to registries: endpoints, authentication, errors.
//!
//! The HTTP stack is `ureq` (blocking, rustls, no async runtime): a pull is
//! a handful of requests plus a few long streams, each consumed by a thread
//! that also decompresses and unpacks, so threads fit better than futures,
//! and the binary carries no tokio/hyper stack for it. `ureq` follows
//! redirects (blob storage) and drops `Authorization` when it does, sends
//! `Range`, and has connect, response and per-read timeouts.
//!
//! Authentication follows the registry's `WWW-Authenticate` challenge on a
//! 401: `Bearer realm=…,service=…,scope=…` → a token from the realm (with
//! basic credentials when the user has some, anonymous otherwise), or
//! `Basic` → the user's credentials. Tokens are cached per registry and
//! scope for the life of the client.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Duration;

use base64::Engine as _;
use ureq::http::{Response, StatusCode};

use super::auth::{self, Credentials, DockerConfig};
use super::config::RegistryConfig;
use super::{Error, Result};
use crate::reference::{DEFAULT_DOMAIN, Reference};

/// Docker Hub's registry host.
pub const DOCKER_HUB_HOST: &str = "registry-1.docker.io";

/// A registry endpoint serving one repository.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// `https://registry-1.docker.io`, `http://127.0.0.1:5000`.
    pub base: String,
    /// The reference's domain (`docker.io`): the key for credentials.
    pub domain: String,
    /// Repository path inside the registry (`library/busybox`).
    pub repository: String,
    /// Whether this is a mirror standing in for `docker.io`.
    pub mirror: bool,
}

impl Endpoint {
    pub fn url(&self, tail: &str) -> String {
        format!("{}/v2/{}/{tail}", self.base, self.repository)
    }
    /// `host[:port]` of the base URL.
    pub fn host(&self) -> &str {
        self.base.split_once("://").map_or(&self.base, |(_, h)| h)
    }
}

/// What a request body is.
#[derive(Debug, Clone, Copy)]
pub enum Body<'a> {
    Empty,
    Bytes(&'a [u8]),
}

/// A registry client: the HTTP agent, configuration, credentials and the
/// tokens obtained so far. Shared by the threads of one pull or push.
#[derive(Debug)]
pub struct Client {
    agent: ureq::Agent,
    config: RegistryConfig,
    docker_config_dir: PathBuf,
    /// Credentials given explicitly (`wrun login`), by domain.
    explicit: Mutex<HashMap<String, Credentials>>,
    /// `Authorization` values by (host, scope).
    tokens: Mutex<HashMap<(String, String), String>>,
    /// Only loopback hosts may be contacted (tests, air-gapped machines).
    loopback_only: bool,
}

/// Connect timeout: a registry that does not answer SYN fails in this time.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(15);
/// No byte for this long on a response or a body: the registry hangs.
pub const READ_TIMEOUT: Duration = Duration::from_secs(60);

impl Client {
    /// A client with `config`, reading credentials from `$DOCKER_CONFIG`
    /// (or `~/.docker`).
    pub fn new(config: RegistryConfig) -> Self {
        Self::with_timeouts(config, CONNECT_TIMEOUT, READ_TIMEOUT)
    }

    /// As [`Client::new`] with other timeouts (tests of hanging registries).
    pub fn with_timeouts(config: RegistryConfig, connect: Duration, read: Duration) -> Self {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .max_redirects(10)
            .timeout_connect(Some(connect))
            .timeout_recv_response(Some(read))
            .timeout_per_read(Some(read))
            .timeout_send_request(Some(read))
            .timeout_per_write(Some(read))
            .user_agent(concat!("wrun/", env!("CARGO_PKG_VERSION")))
            .max_idle_connections_per_host(8)
            .build()
            .into();
        Client {
            agent,
            config,
            docker_config_dir: auth::config_dir(),
            explicit: Mutex::new(HashMap::new()),
            tokens: Mutex::new(HashMap::new()),
            loopback_only: false,
        }
    }

    /// Refuses every host but loopback ones before any packet is sent:
    /// test suites and offline classrooms must never reach Docker Hub.
    pub fn loopback_only(mut self, yes: bool) -> Self {
        self.loopback_only = yes;
        self
    }

    /// Reads credentials from `dir` instead of `$DOCKER_CONFIG`.
    pub fn with_docker_config_dir(mut self, dir: PathBuf) -> Self {
        self.docker_config_dir = dir;
        self
    }

    pub fn docker_config_dir(&self) -> &std::path::Path {
        &self.docker_config_dir
    }

    pub fn config(&self) -> &RegistryConfig {
        &self.config
    }

    /// Uses `creds` for `domain` instead of the stored ones.
    pub fn set_credentials(&self, domain: &str, creds: Credentials) {
        self.explicit
            .lock()
            .expect("lock")
            .insert(domain.to_owned(), creds);
    }

    fn credentials(&self, domain: &str) -> Result<Option<Credentials>> {
        if let Some(c) = self.explicit.lock().expect("lock").get(domain) {
            return Ok(Some(c.clone()));
        }
        let cfg = DockerConfig::load(&self.docker_config_dir)?;
        cfg.get(&auth::server_key(domain))
    }

    /// The endpoints to try for `r`, in order: mirrors first for Docker Hub.
    pub fn endpoints(&self, r: &Reference) -> Vec<Endpoint> {
        let domain = r.domain().to_owned();
        let mut out = Vec::new();
        if domain == DEFAULT_DOMAIN {
            for m in &self.config.mirrors {
                out.push(Endpoint {
                    base: m.clone(),
                    domain: domain.clone(),
                    repository: r.path().to_owned(),
                    mirror: true,
                });
            }
            out.push(Endpoint {
                base: format!("https://{DOCKER_HUB_HOST}"),
                domain,
                repository: r.path().to_owned(),
                mirror: false,
            });
        } else {
            let scheme = if self.config.is_insecure(&domain) {
                "http"
            } else {
                "https"
            };
            out.push(Endpoint {
                base: format!("{scheme}://{domain}"),
                domain,
                repository: r.path().to_owned(),
                mirror: false,
            });
        }
        out
    }

    /// Sends one request to `ep`, answering an authentication challenge
    /// once. `scope` is the token scope (`repository:x:pull`); extra scopes
    /// (a mount's source) may follow, space separated.
    pub fn send(
        &self,
        ep: &Endpoint,
        scope: &str,
        method: &str,
        url: &str,
        headers: &[(&str, &str)],
        body: Body<'_>,
    ) -> Result<Response<ureq::Body>> {
        let key = (ep.host().to_owned(), scope.to_owned());
        let cached = self.tokens.lock().expect("lock").get(&key).cloned();
        let resp = self.raw(method, url, headers, cached.as_deref(), body)?;
        if resp.status() != StatusCode::UNAUTHORIZED {
            return Ok(resp);
        }
        let challenge = resp
            .headers()
            .get("www-authenticate")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned();
        let Some(authz) = self.authorize(ep, &challenge, scope)? else {
            return Ok(resp);
        };
        if cached.as_deref() == Some(authz.as_str()) {
            return Ok(resp);
        }
        self.tokens.lock().expect("lock").insert(key, authz.clone());
        self.raw(method, url, headers, Some(&authz), body)
    }

    /// One HTTP exchange without authentication logic.
    pub(crate) fn raw(
        &self,
        method: &str,
        url: &str,
        headers: &[(&str, &str)],
        authz: Option<&str>,
        body: Body<'_>,
    ) -> Result<Response<ureq::Body>> {
        if self.loopback_only {
            let host = url
                .split_once("://")
                .map_or(url, |(_, r)| r)
                .split('/')
                .next()
                .unwrap_or("");
            if !super::config::is_loopback(host) {
                return Err(http_err(
                    method,
                    url,
                    format!(
                        "not contacting {host}: WRUN_OFFLINE is set (only loopback registries are used)"
                    ),
                ));
            }
        }
        let mut b = ureq::http::Request::builder().method(method).uri(url);
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        if let Some(a) = authz {
            b = b.header("Authorization", a);
        }
        match body {
            Body::Empty => b
                .body(())
                .map_err(|e| http_err(method, url, e.to_string()))
                .and_then(|r| {
                    self.agent
                        .run(r)
                        .map_err(|e| http_err(method, url, describe(&e)))
                }),
            Body::Bytes(bytes) => b
                .header("Content-Length", bytes.len().to_string())
                .body(bytes)
                .map_err(|e| http_err(method, url, e.to_string()))
                .and_then(|r| {
                    self.agent
                        .run(r)
                        .map_err(|e| http_err(method, url, describe(&e)))
                }),
        }
    }

    /// The `Authorization` value that answers `challenge`, or `None` when
    /// there is nothing to answer with (basic auth without credentials).
    fn authorize(&self, ep: &Endpoint, challenge: &str, scope: &str) -> Result<Option<String>> {
        let (scheme, params) = parse_challenge(challenge);
        let creds = if ep.mirror {
            None
        } else {
            self.credentials(&ep.domain)?
        };
        match scheme.to_ascii_lowercase().as_str() {
            "basic" => Ok(creds.map(|c| basic(&c))),
            "bearer" => {
                let realm = params.get("realm").cloned().ok_or_else(|| {
                    Error::bad(
                        format!("registry {}", ep.host()),
                        format!("bearer challenge without realm: {challenge}"),
                    )
                })?;
                let mut url = realm.clone();
                let mut sep = if realm.contains('?') { '&' } else { '?' };
                if let Some(s) = params.get("service") {
                    url.push_str(&format!("{sep}service={}", encode(s)));
                    sep = '&';
                }
                for s in scope.split(' ').filter(|s| !s.is_empty()) {
                    url.push_str(&format!("{sep}scope={}", encode(s)));
                    sep = '&';
                }
                let authz = creds.as_ref().map(basic);
                let mut resp = self.raw("GET", &url, &[], authz.as_deref(), Body::Empty)?;
                let status = resp.status().as_u16();
                let body = resp
                    .body_mut()
                    .with_config()
                    .limit(1 << 20)
                    .read_to_vec()
                    .unwrap_or_default();
                if status == 401 || status == 403 {
                    return Err(Error::Unauthorized {
                        method: "Get".into(),
                        url: realm,
                        detail: error_detail(&body, "incorrect username or password"),
                    });
                }
                if status != 200 {
                    return Err(Error::Status {
                        method: "Get".into(),
                        url: realm,
                        status,
                        detail: error_detail(&body, ""),
                    });
                }
                let v: serde_json::Value = serde_json::from_slice(&body)
                    .map_err(|e| Error::bad(format!("token from {realm}"), e.to_string()))?;
                let token = v["token"]
                    .as_str()
                    .or(v["access_token"].as_str())
                    .filter(|t| !t.is_empty())
                    .ok_or_else(|| {
                        Error::bad(format!("token from {realm}"), "no token in the answer")
                    })?;
                Ok(Some(format!("Bearer {token}")))
            }
            _ => Ok(None),
        }
    }

    /// `wrun login`: checks `creds` against the registry of `domain`
    /// (`GET /v2/`, answering its challenge).
    pub fn check_login(&self, domain: &str, creds: &Credentials) -> Result<()> {
        let r = Reference::parse_normalized(&format!("{domain}/x"))
            .or_else(|_| Reference::parse_normalized("x"))?;
        let mut ep = self.endpoints(&r).pop().expect("one endpoint");
        ep.domain = domain.to_owned();
        let url = format!("{}/v2/", ep.base);
        self.set_credentials(domain, creds.clone());
        let resp = self.raw("GET", &url, &[], None, Body::Empty)?;
        if resp.status().as_u16() == 200 {
            return Ok(());
        }
        let challenge = resp
            .headers()
            .get("www-authenticate")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned();
        let authz = self.authorize(&ep, &challenge, "")?;
        let mut resp = self.raw("GET", &url, &[], authz.as_deref(), Body::Empty)?;
        let status = resp.status().as_u16();
        if status == 200 {
            return Ok(());
        }
        let body = resp
            .body_mut()
            .with_config()
            .limit(1 << 20)
            .read_to_vec()
            .unwrap_or_default();
        if status == 401 || status == 403 {
            return Err(Error::Unauthorized {
                method: "Get".into(),
                url,
                detail: error_detail(&body, "incorrect username or password"),
            });
        }
        Err(Error::Status {
            method: "Get".into(),
            url,
            status,
            detail: error_detail(&body, ""),
        })
    }
}

fn basic(c: &Credentials) -> String {
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{}:{}", c.username, c.secret))
    )
}

/// Go's spelling of a method in error messages (`Get "url": …`).
pub(crate) fn go_method(m: &str) -> String {
    let lower = m.to_ascii_lowercase();
    let mut c = lower.chars();
    c.next()
        .map(|f| f.to_ascii_uppercase().to_string() + c.as_str())
        .unwrap_or_default()
}

pub(crate) fn http_err(method: &str, url: &str, cause: String) -> Error {
    Error::Http {
        method: go_method(method),
        url: url.to_owned(),
        cause,
    }
}

/// A ureq error as a person reads it.
fn describe(e: &ureq::Error) -> String {
    match e {
        ureq::Error::Timeout(_) => format!("{e} (the registry did not answer in time)"),
        ureq::Error::Io(io) if io.kind() == std::io::ErrorKind::ConnectionRefused => {
            "connect: connection refused".into()
        }
        ureq::Error::HostNotFound => "no such host".into(),
        other => other.to_string(),
    }
}

/// The distribution API's error body as Docker prints it:
/// `manifest unknown: manifest unknown`; `fallback` when there is none.
pub fn error_detail(body: &[u8], fallback: &str) -> String {
    #[derive(serde::Deserialize)]
    struct E {
        #[serde(default)]
        code: String,
        #[serde(default)]
        message: String,
    }
    #[derive(serde::Deserialize)]
    struct Es {
        errors: Vec<E>,
    }
    if let Ok(es) = serde_json::from_slice::<Es>(body)
        && !es.errors.is_empty()
    {
        return es
            .errors
            .iter()
            .map(|e| {
                let code = e.code.to_ascii_lowercase().replace('_', " ");
                if e.message.is_empty() {
                    code
                } else {
                    format!("{code}: {}", e.message)
                }
            })
            .collect::<Vec<_>>()
            .join(", ");
    }
    let text = String::from_utf8_lossy(body);
    let line = text.lines().next().unwrap_or("").trim();
    if line.is_empty() {
        fallback.to_owned()
    } else {
        line.chars().take(200).collect()
    }
}

/// Whether a distribution error body carries `code`.
pub fn has_error_code(body: &[u8], code: &str) -> bool {
    serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|v| v["errors"].as_array().cloned())
        .is_some_and(|es| es.iter().any(|e| e["code"] == code))
}

/// `Bearer realm="…",service="…"` → ("Bearer", {realm, service}).
pub fn parse_challenge(h: &str) -> (String, HashMap<String, String>) {
    let h = h.trim();
    let (scheme, rest) = h.split_once(' ').unwrap_or((h, ""));
    let mut params = HashMap::new();
    let mut chars = rest.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| *c == ',' || c.is_whitespace()) {
            chars.next();
        }
        let key: String = chars.by_ref().take_while(|c| *c != '=').collect();
        if key.is_empty() {
            break;
        }
        let mut value = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            while let Some(c) = chars.next() {
                match c {
                    '\\' => value.extend(chars.next()),
                    '"' => break,
                    c => value.push(c),
                }
            }
        } else {
            while let Some(c) = chars.peek() {
                if *c == ',' {
                    break;
                }
                value.push(*c);
                chars.next();
            }
        }
        params.insert(key.trim().to_ascii_lowercase(), value.trim().to_owned());
    }
    (scheme.to_owned(), params)
}

/// Percent-encodes a query value.
pub(crate) fn encode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn challenges_with_quoted_commas() {
        let (s, p) = parse_challenge(
            r#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:a/b:pull,push""#,
        );
        assert_eq!(s, "Bearer");
        assert_eq!(p["realm"], "https://auth.docker.io/token");
        assert_eq!(p["service"], "registry.docker.io");
        assert_eq!(p["scope"], "repository:a/b:pull,push");
        let (s, p) = parse_challenge(r#"Basic realm="Registry Realm""#);
        assert_eq!(
            (s.as_str(), p["realm"].as_str()),
            ("Basic", "Registry Realm")
        );
    }

    #[test]
    fn endpoints_and_errors() {
        let c = Client::new(RegistryConfig {
            mirrors: vec!["http://127.0.0.1:18699".into()],
            ..Default::default()
        });
        let eps = c.endpoints(&Reference::parse_normalized("busybox").unwrap());
        assert_eq!(eps.len(), 2);
        assert_eq!(
            eps[0].url("manifests/latest"),
            "http://127.0.0.1:18699/v2/library/busybox/manifests/latest"
        );
        assert_eq!(eps[1].base, "https://registry-1.docker.io");
        let eps = c.endpoints(&Reference::parse_normalized("localhost:5000/a/b").unwrap());
        assert_eq!(
            (eps.len(), eps[0].base.as_str()),
            (1, "http://localhost:5000")
        );
        let eps = c.endpoints(&Reference::parse_normalized("quay.io/a/b").unwrap());
        assert_eq!(eps[0].base, "https://quay.io");
        assert_eq!(
            error_detail(
                br#"{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown"}]}"#,
                ""
            ),
            "manifest unknown: manifest unknown"
        );
        assert_eq!(
            encode("repository:a/b:pull,push"),
            "repository%3Aa%2Fb%3Apull%2Cpush"
        );
    }
}
