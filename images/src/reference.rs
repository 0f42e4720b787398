//! Image references, normalized the way Docker does it.
//!
//! A user types `busybox`, `python:3.11-slim`, `localhost:5000/a/b:t` or
//! `x@sha256:…`; the store keys images by the fully qualified form
//! (`docker.io/library/busybox:latest`) so that `busybox` and
//! `docker.io/library/busybox` are the same name, and shows the familiar form
//! (`busybox:latest`) in tables and messages, as `docker images` does.
//! The grammar is distribution's `reference` package: lowercase path
//! components separated by `.`, `_`, `__` or dashes; a first component is a
//! registry domain when it contains `.` or `:` or is `localhost`; tags are
//! `[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`; digests are `sha256:` + 64 hex.

use std::fmt;

use crate::Error;

/// Docker Hub's canonical domain.
pub const DEFAULT_DOMAIN: &str = "docker.io";
/// The namespace Docker Hub uses for single-component names.
pub const OFFICIAL_REPO_PREFIX: &str = "library/";
/// The tag a name without tag or digest gets.
pub const DEFAULT_TAG: &str = "latest";

/// A parsed, normalized image reference.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Reference {
    domain: String,
    path: String,
    tag: Option<String>,
    digest: Option<String>,
}

impl Reference {
    /// Parses and normalizes `s`. A reference with neither tag nor digest
    /// gets no tag here; see [`Reference::with_default_tag`].
    pub fn parse(s: &str) -> Result<Self, Error> {
        let bad = |reason: String| Error::InvalidReference {
            reference: s.to_owned(),
            reason,
        };
        if s.is_empty() {
            return Err(bad("empty reference".into()));
        }
        let (rest, digest) = match s.split_once('@') {
            Some((r, d)) => {
                check_digest(d).map_err(bad)?;
                (r, Some(d.to_owned()))
            }
            None => (s, None),
        };
        // A tag is what follows the last ':' after the last '/'; a ':' before
        // a '/' belongs to a registry port.
        let last_slash = rest.rfind('/').map_or(0, |i| i + 1);
        let (name, tag) = match rest[last_slash..].rfind(':') {
            Some(i) => {
                let t = &rest[last_slash + i + 1..];
                check_tag(t).map_err(bad)?;
                (&rest[..last_slash + i], Some(t.to_owned()))
            }
            None => (rest, None),
        };
        if name.is_empty() {
            return Err(bad("empty repository name".into()));
        }
        if name.len() > 255 {
            return Err(bad(
                "repository name must not be more than 255 characters".into()
            ));
        }
        let (domain, path) = split_domain(name);
        check_domain(&domain).map_err(bad)?;
        if path.chars().any(|c| c.is_ascii_uppercase()) {
            return Err(bad(format!("repository name ({path}) must be lowercase")));
        }
        if let Some(bare) = path.strip_prefix(OFFICIAL_REPO_PREFIX)
            && is_hex64(bare)
            && !name.contains('/')
        {
            return Err(bad(format!(
                "invalid repository name ({bare}), cannot specify 64-byte hexadecimal strings"
            )));
        }
        for comp in path.split('/') {
            check_component(comp).map_err(bad)?;
        }
        Ok(Reference {
            domain,
            path,
            tag,
            digest,
        })
    }

    /// Parses `s` and adds `:latest` when it has neither tag nor digest.
    pub fn parse_normalized(s: &str) -> Result<Self, Error> {
        Ok(Self::parse(s)?.with_default_tag())
    }

    /// Adds the default tag when the reference has neither tag nor digest.
    pub fn with_default_tag(mut self) -> Self {
        if self.tag.is_none() && self.digest.is_none() {
            self.tag = Some(DEFAULT_TAG.to_owned());
        }
        self
    }

    /// The registry domain, e.g. `docker.io` or `localhost:5000`.
    pub fn domain(&self) -> &str {
        &self.domain
    }
    /// The repository path inside the registry, e.g. `library/busybox`.
    pub fn path(&self) -> &str {
        &self.path
    }
    pub fn tag(&self) -> Option<&str> {
        self.tag.as_deref()
    }
    pub fn digest(&self) -> Option<&str> {
        self.digest.as_deref()
    }

    /// `docker.io/library/busybox`.
    pub fn repository(&self) -> String {
        format!("{}/{}", self.domain, self.path)
    }

    /// `busybox`, `localhost:5000/a/b`: the repository as Docker shows it.
    pub fn familiar_repository(&self) -> String {
        if self.domain == DEFAULT_DOMAIN {
            self.path
                .strip_prefix(OFFICIAL_REPO_PREFIX)
                .unwrap_or(&self.path)
                .to_owned()
        } else {
            self.repository()
        }
    }

    /// The familiar form with tag and digest: `busybox:latest`.
    pub fn familiar(&self) -> String {
        let mut s = self.familiar_repository();
        push_suffix(&mut s, self.tag.as_deref(), self.digest.as_deref());
        s
    }

    /// Drops the digest, keeping repository and tag (`name:tag@d` -> `name:tag`).
    pub fn without_digest(&self) -> Reference {
        Reference {
            digest: None,
            ..self.clone()
        }
    }
}

/// The fully qualified form: `docker.io/library/busybox:latest`.
impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut s = self.repository();
        push_suffix(&mut s, self.tag.as_deref(), self.digest.as_deref());
        f.write_str(&s)
    }
}

fn push_suffix(s: &mut String, tag: Option<&str>, digest: Option<&str>) {
    if let Some(t) = tag {
        s.push(':');
        s.push_str(t);
    }
    if let Some(d) = digest {
        s.push('@');
        s.push_str(d);
    }
}

/// The familiar form of a fully qualified name, or `name` itself when it
/// does not parse (used for display only).
pub fn familiar_name(name: &str) -> String {
    Reference::parse(name)
        .map(|r| r.familiar())
        .unwrap_or_else(|_| name.to_owned())
}

fn split_domain(name: &str) -> (String, String) {
    let (domain, path) = match name.split_once('/') {
        Some((first, rest))
            if first.contains('.') || first.contains(':') || first == "localhost" =>
        {
            (first.to_owned(), rest.to_owned())
        }
        _ => (DEFAULT_DOMAIN.to_owned(), name.to_owned()),
    };
    let domain = if domain == "index.docker.io" {
        DEFAULT_DOMAIN.to_owned()
    } else {
        domain
    };
    let path = if domain == DEFAULT_DOMAIN && !path.contains('/') {
        format!("{OFFICIAL_REPO_PREFIX}{path}")
    } else {
        path
    };
    (domain, path)
}

fn check_component(c: &str) -> Result<(), String> {
    // [a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*
    let b = c.as_bytes();
    let alnum = |x: u8| x.is_ascii_lowercase() || x.is_ascii_digit();
    let err = || Err(format!("invalid repository path component \"{c}\""));
    if b.is_empty() || !alnum(b[0]) || !alnum(b[b.len() - 1]) {
        return err();
    }
    let mut i = 0;
    while i < b.len() {
        if alnum(b[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < b.len() && !alnum(b[i]) {
            i += 1;
        }
        let sep = &c[start..i];
        let ok = sep == "." || sep == "_" || sep == "__" || sep.bytes().all(|x| x == b'-');
        if !ok {
            return err();
        }
    }
    Ok(())
}

fn check_domain(d: &str) -> Result<(), String> {
    let (host, port) = match d.rsplit_once(':') {
        Some((h, p)) => (h, Some(p)),
        None => (d, None),
    };
    let host_ok = !host.is_empty()
        && host.split('.').all(|l| {
            !l.is_empty()
                && l.bytes().all(|x| x.is_ascii_alphanumeric() || x == b'-')
                && !l.starts_with('-')
                && !l.ends_with('-')
        });
    let port_ok = port.is_none_or(|p| !p.is_empty() && p.bytes().all(|x| x.is_ascii_digit()));
    if host_ok && port_ok {
        Ok(())
    } else {
        Err(format!("invalid registry domain \"{d}\""))
    }
}

fn check_tag(t: &str) -> Result<(), String> {
    let b = t.as_bytes();
    let word = |x: u8| x.is_ascii_alphanumeric() || x == b'_';
    let ok = !b.is_empty()
        && b.len() <= 128
        && word(b[0])
        && b.iter().all(|&x| word(x) || x == b'.' || x == b'-');
    if ok {
        Ok(())
    } else {
        Err(format!("invalid tag \"{t}\""))
    }
}

fn check_digest(d: &str) -> Result<(), String> {
    match d.strip_prefix("sha256:") {
        Some(h) if is_hex64(h) => Ok(()),
        _ => Err(format!(
            "invalid digest \"{d}\" (want sha256: and 64 lowercase hex digits)"
        )),
    }
}

/// Whether `s` is exactly 64 lowercase hex digits.
pub fn is_hex64(s: &str) -> bool {
    s.len() == 64 && is_lower_hex(s)
}

/// Whether `s` is non-empty lowercase hex.
pub fn is_lower_hex(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    const D: &str = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    #[test]
    fn normalizes_like_docker() {
        let cases: &[(&str, &str, &str)] = &[
            (
                "busybox",
                "docker.io/library/busybox:latest",
                "busybox:latest",
            ),
            (
                "busybox:1.36",
                "docker.io/library/busybox:1.36",
                "busybox:1.36",
            ),
            (
                "python:3.11-slim",
                "docker.io/library/python:3.11-slim",
                "python:3.11-slim",
            ),
            (
                "library/busybox",
                "docker.io/library/busybox:latest",
                "busybox:latest",
            ),
            (
                "docker.io/busybox",
                "docker.io/library/busybox:latest",
                "busybox:latest",
            ),
            (
                "index.docker.io/library/x",
                "docker.io/library/x:latest",
                "x:latest",
            ),
            ("user/app:v1", "docker.io/user/app:v1", "user/app:v1"),
            (
                "localhost:5000/a/b:t",
                "localhost:5000/a/b:t",
                "localhost:5000/a/b:t",
            ),
            ("localhost/a", "localhost/a:latest", "localhost/a:latest"),
            ("quay.io/x/y", "quay.io/x/y:latest", "quay.io/x/y:latest"),
            (
                "my-reg:5000/x",
                "my-reg:5000/x:latest",
                "my-reg:5000/x:latest",
            ),
            (
                "a__b.c-d--e",
                "docker.io/library/a__b.c-d--e:latest",
                "a__b.c-d--e:latest",
            ),
            (
                "tag_ok:A_b.c-D",
                "docker.io/library/tag_ok:A_b.c-D",
                "tag_ok:A_b.c-D",
            ),
        ];
        for (input, full, familiar) in cases {
            let r = Reference::parse_normalized(input).unwrap();
            assert_eq!(r.to_string(), *full, "{input}");
            assert_eq!(r.familiar(), *familiar, "{input}");
        }
    }

    #[test]
    fn digests() {
        let r = Reference::parse_normalized(&format!("x@{D}")).unwrap();
        assert_eq!(r.tag(), None);
        assert_eq!(r.digest(), Some(D));
        assert_eq!(r.to_string(), format!("docker.io/library/x@{D}"));
        let r = Reference::parse_normalized(&format!("x:1@{D}")).unwrap();
        assert_eq!(r.tag(), Some("1"));
        assert_eq!(r.familiar(), format!("x:1@{D}"));
        assert_eq!(r.without_digest().familiar(), "x:1");
        let r = Reference::parse_normalized(&format!("localhost:5000/x@{D}")).unwrap();
        assert_eq!(r.domain(), "localhost:5000");
    }

    #[test]
    fn rejects_bad_values_and_names_them() {
        let cases: &[(&str, &str)] = &[
            ("Busybox", "must be lowercase"),
            ("docker.io/Foo/bar", "must be lowercase"),
            ("x:", "invalid tag"),
            ("x:-bad", "invalid tag"),
            ("x:a/b", "invalid"),
            ("x@sha256:abc", "invalid digest"),
            ("x@md5:0123", "invalid digest"),
            ("", "empty"),
            (":tag", "empty repository"),
            ("a//b", "invalid repository path component"),
            ("-a", "invalid repository path component"),
            ("a-", "invalid repository path component"),
            ("a..b", "invalid repository path component"),
            ("a b", "invalid"),
            (
                "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
                "64-byte",
            ),
        ];
        for (input, want) in cases {
            let e = Reference::parse(input).unwrap_err().to_string();
            assert!(e.contains(want), "{input:?}: {e}");
            assert!(
                e.contains(&format!("\"{input}\"")) || input.is_empty(),
                "{input:?}: {e}"
            );
        }
        let long = format!("x:{}", "a".repeat(129));
        assert!(Reference::parse(&long).is_err());
        assert!(Reference::parse(&"a".repeat(256)).is_err());
    }
}
