//! The distribution formats: image manifests and indexes in their OCI and
//! Docker media types, parsed leniently (unknown fields ignored) but checked
//! for what wrun relies on.

use serde::{Deserialize, Serialize};

use super::{Error, Result};

pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
pub const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
pub const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
pub const DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";

pub const OCI_LAYER_TAR: &str = "application/vnd.oci.image.layer.v1.tar";
pub const OCI_LAYER_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
pub const OCI_LAYER_ZSTD: &str = "application/vnd.oci.image.layer.v1.tar+zstd";
pub const DOCKER_LAYER_GZIP: &str = "application/vnd.docker.image.rootfs.diff.tar.gzip";
pub const DOCKER_LAYER_TAR: &str = "application/vnd.docker.image.rootfs.diff.tar";

/// What `Accept` says on a manifest request: every format wrun reads.
pub const ACCEPT_MANIFESTS: &str = "application/vnd.oci.image.index.v1+json, application/vnd.docker.distribution.manifest.list.v2+json, application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json";

/// Manifests larger than this are refused (Docker's limit is 4 MiB).
pub const MAX_MANIFEST: u64 = 4 << 20;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Platform {
    pub architecture: String,
    pub os: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
}

impl Platform {
    /// `linux/<host arch>` (with `v8` for arm64, as Docker matches it).
    pub fn host() -> Self {
        Platform {
            os: "linux".into(),
            architecture: crate::import::host_arch().into(),
            variant: None,
        }
    }

    /// Parses `os/arch[/variant]` (`--platform`).
    pub fn parse(s: &str) -> Result<Self> {
        let bad = |r: &str| Error::InvalidPlatform {
            value: s.to_owned(),
            reason: r.to_owned(),
        };
        let parts: Vec<&str> = s.split('/').collect();
        if parts.iter().any(|p| p.is_empty()) || !(2..=3).contains(&parts.len()) {
            return Err(bad("want os/arch[/variant], e.g. linux/amd64"));
        }
        let arch = match parts[1] {
            "x86_64" | "x86-64" => "amd64",
            "aarch64" => "arm64",
            a => a,
        };
        Ok(Platform {
            os: parts[0].to_ascii_lowercase(),
            architecture: arch.to_owned(),
            variant: parts.get(2).map(|v| (*v).to_owned()),
        })
    }

    fn matches(&self, other: &Platform) -> bool {
        let norm_variant = |p: &Platform| match (p.architecture.as_str(), p.variant.as_deref()) {
            ("arm64", None) => Some("v8".to_owned()),
            (_, v) => v.map(str::to_owned),
        };
        self.os == other.os
            && self.architecture == other.architecture
            && (self.variant.is_none() || norm_variant(self) == norm_variant(other))
    }
}

impl std::fmt::Display for Platform {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        if let Some(v) = &self.variant {
            write!(f, "/{v}")?;
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Descriptor {
    #[serde(rename = "mediaType", default)]
    pub media_type: String,
    pub digest: String,
    pub size: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<Platform>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub urls: Option<Vec<String>>,
}

/// A manifest or an index, told apart by media type or shape.
#[derive(Debug, Clone, Deserialize)]
struct Raw {
    #[serde(rename = "schemaVersion")]
    schema_version: Option<u32>,
    #[serde(rename = "mediaType", default)]
    media_type: Option<String>,
    config: Option<Descriptor>,
    layers: Option<Vec<Descriptor>>,
    manifests: Option<Vec<Descriptor>>,
}

/// A parsed distribution document.
#[derive(Debug, Clone)]
pub enum Document {
    Index(Vec<Descriptor>),
    Manifest {
        media_type: String,
        config: Descriptor,
        layers: Vec<Descriptor>,
    },
}

/// Parses `bytes` served with `content_type`; `what` names it in errors.
pub fn parse(bytes: &[u8], content_type: Option<&str>, what: &str) -> Result<Document> {
    let raw: Raw = serde_json::from_slice(bytes)
        .map_err(|e| Error::bad(what, format!("invalid manifest JSON: {e}")))?;
    if raw.schema_version != Some(2) {
        return Err(Error::bad(
            what,
            format!(
                "unsupported manifest schema version {} (Docker schema 1 is not supported)",
                raw.schema_version.map_or("none".into(), |v| v.to_string())
            ),
        ));
    }
    let ct = content_type
        .map(|c| c.split(';').next().unwrap_or(c).trim().to_owned())
        .filter(|c| c.starts_with("application/vnd."));
    let media = raw.media_type.clone().or(ct).unwrap_or_default();
    let is_index =
        media == OCI_INDEX || media == DOCKER_LIST || (media.is_empty() && raw.manifests.is_some());
    if is_index {
        let list = raw
            .manifests
            .ok_or_else(|| Error::bad(what, "index without \"manifests\""))?;
        return Ok(Document::Index(list));
    }
    if !(media == OCI_MANIFEST || media == DOCKER_MANIFEST || media.is_empty()) {
        return Err(Error::bad(
            what,
            format!("unsupported manifest media type \"{media}\""),
        ));
    }
    let config = raw
        .config
        .ok_or_else(|| Error::bad(what, "manifest without \"config\""))?;
    let layers = raw.layers.unwrap_or_default();
    for d in std::iter::once(&config).chain(&layers) {
        check_digest(&d.digest, what)?;
    }
    for l in &layers {
        if layer_compression(&l.media_type).is_none() {
            return Err(Error::bad(
                what,
                format!(
                    "layer {}: unsupported media type \"{}\"",
                    l.digest, l.media_type
                ),
            ));
        }
    }
    Ok(Document::Manifest {
        media_type: if media.is_empty() {
            OCI_MANIFEST.into()
        } else {
            media
        },
        config,
        layers,
    })
}

/// How a layer of this media type is compressed; `None` when wrun cannot
/// read it (foreign or encrypted layers).
pub fn layer_compression(media_type: &str) -> Option<LayerCompression> {
    match media_type {
        OCI_LAYER_TAR | DOCKER_LAYER_TAR => Some(LayerCompression::None),
        OCI_LAYER_GZIP | DOCKER_LAYER_GZIP => Some(LayerCompression::Gzip),
        OCI_LAYER_ZSTD => Some(LayerCompression::Zstd),
        _ => None,
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LayerCompression {
    None,
    Gzip,
    Zstd,
}

/// Refuses anything but `sha256:` + 64 hex digits: digests name files.
pub fn check_digest(d: &str, what: &str) -> Result<()> {
    match d.strip_prefix("sha256:") {
        Some(h) if crate::reference::is_hex64(h) => Ok(()),
        _ => Err(Error::bad(what, format!("unsupported digest \"{d}\""))),
    }
}

/// The index entry for `want`.
pub fn select<'a>(list: &'a [Descriptor], want: &Platform) -> Result<&'a Descriptor> {
    list.iter()
        .filter(|d| d.media_type != "application/vnd.in-toto+json")
        .find(|d| d.platform.as_ref().is_some_and(|p| want.matches(p)))
        .ok_or_else(|| Error::NoMatchingPlatform {
            platform: want.to_string(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    const D: &str = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    #[test]
    fn index_selects_the_platform() {
        let idx = format!(
            r#"{{"schemaVersion":2,"mediaType":"{DOCKER_LIST}","manifests":[
            {{"mediaType":"{DOCKER_MANIFEST}","digest":"{D}","size":1,"platform":{{"architecture":"arm64","os":"linux","variant":"v8"}}}},
            {{"mediaType":"{DOCKER_MANIFEST}","digest":"{D}","size":2,"platform":{{"architecture":"amd64","os":"linux"}}}}]}}"#
        );
        let Document::Index(list) = parse(idx.as_bytes(), None, "x").unwrap() else {
            panic!("index expected")
        };
        assert_eq!(
            select(&list, &Platform::parse("linux/amd64").unwrap())
                .unwrap()
                .size,
            2
        );
        assert_eq!(
            select(&list, &Platform::parse("linux/arm64").unwrap())
                .unwrap()
                .size,
            1
        );
        let e = select(&list, &Platform::parse("linux/s390x").unwrap()).unwrap_err();
        assert_eq!(
            e.to_string(),
            "no matching manifest for linux/s390x in the manifest list entries"
        );
    }

    #[test]
    fn bad_documents_are_named() {
        for (doc, want) in [
            ("not json", "invalid manifest JSON"),
            (r#"{"schemaVersion":1}"#, "schema 1"),
            (
                r#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"x","digest":"md5:1","size":1},"layers":[]}"#,
                "unsupported digest",
            ),
            (
                &format!(
                    r#"{{"schemaVersion":2,"config":{{"mediaType":"x","digest":"{D}","size":1}},"layers":[{{"mediaType":"application/vnd.oci.image.layer.v1.tar+encrypted","digest":"{D}","size":1}}]}}"#
                ),
                "unsupported media type",
            ),
        ] {
            let e = parse(doc.as_bytes(), None, "manifest x")
                .unwrap_err()
                .to_string();
            assert!(e.starts_with("manifest x: ") && e.contains(want), "{e}");
        }
        assert!(Platform::parse("linux").is_err());
        assert_eq!(
            Platform::parse("linux/x86_64").unwrap().architecture,
            "amd64"
        );
    }
}
