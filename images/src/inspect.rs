//! `docker image inspect` JSON and `docker history` rows, as data.
//!
//! The JSON keeps Docker's key names and its habit of `null` for unset
//! config fields, since scripts read these with `--format '{{.Config.Env}}'`
//! or `jq .[0].Config.Cmd`.

use serde_json::{Value, json};

use crate::store::{Image, Store};

/// The `docker image inspect` object for one image.
pub fn inspect_json(store: &Store, image: &Image) -> Value {
    let c = image.config.config().clone().unwrap_or_default();
    let set = |v: &Option<Vec<String>>| -> Value {
        match v {
            Some(items) => Value::Object(items.iter().map(|k| (k.clone(), json!({}))).collect()),
            None => Value::Null,
        }
    };
    let mut config = json!({
        "Hostname": "",
        "Domainname": "",
        "User": c.user().clone().unwrap_or_default(),
        "AttachStdin": false,
        "AttachStdout": false,
        "AttachStderr": false,
        "Tty": false,
        "OpenStdin": false,
        "StdinOnce": false,
        "Env": c.env(),
        "Cmd": c.cmd(),
        "Image": "",
        "Volumes": set(c.volumes()),
        "WorkingDir": c.working_dir().clone().unwrap_or_default(),
        "Entrypoint": c.entrypoint(),
        "OnBuild": Value::Null,
        "Labels": c.labels(),
    });
    if c.exposed_ports().is_some() {
        config["ExposedPorts"] = set(c.exposed_ports());
    }
    if let Some(s) = c.stop_signal() {
        config["StopSignal"] = json!(s);
    }
    // Docker's config fields the OCI types do not carry (written by
    // `wrun build` and by Docker itself), read from the config blob.
    if let Some(raw) = store
        .read_blob(&image.id)
        .ok()
        .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
    {
        for key in ["Healthcheck", "OnBuild", "Shell"] {
            let v = &raw["config"][key];
            if !v.is_null() {
                config[key] = v.clone();
            }
        }
    }
    let lower: Vec<String> = image
        .layers
        .iter()
        .rev()
        .filter_map(|l| store.layer_path(&l.diff_id).ok())
        .map(|p| p.display().to_string())
        .collect();
    let comment = image
        .config
        .history()
        .as_ref()
        .and_then(|h| h.last())
        .and_then(|h| h.comment().clone())
        .unwrap_or_default();
    json!({
        "Id": image.id,
        "RepoTags": image.repo_tags,
        "RepoDigests": image.repo_digests,
        "Parent": "",
        "Comment": comment,
        "Created": image.config.created().clone().unwrap_or_default(),
        "DockerVersion": "",
        "Author": image.config.author().clone().unwrap_or_default(),
        "Config": config,
        "Architecture": image.config.architecture().to_string(),
        "Os": image.config.os().to_string(),
        "Size": image.size,
        "GraphDriver": {
            "Name": "overlay",
            "Data": { "LowerDir": lower.join(":") },
        },
        "RootFS": {
            "Type": image.config.rootfs().typ(),
            "Layers": image.config.rootfs().diff_ids(),
        },
        "Metadata": {
            "LastTagTime": image.last_tag_time.clone().unwrap_or_else(|| "0001-01-01T00:00:00Z".into()),
        },
    })
}

/// One row of `docker history`, newest first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryRow {
    /// The image id on the newest row, `None` (`<missing>`) below it.
    pub id: Option<String>,
    /// RFC 3339, as in the config.
    pub created: Option<String>,
    pub created_by: String,
    /// Size of the layer this step made (0 for config-only steps).
    pub size: u64,
    pub comment: String,
}

/// The image's history from its config, each non-empty step paired with its
/// layer; an image without history gets one row per layer.
pub fn history_rows(image: &Image) -> Vec<HistoryRow> {
    let mut rows = Vec::new();
    let mut layers = image.layers.iter();
    match image.config.history() {
        Some(h) if !h.is_empty() => {
            for step in h {
                let size = if step.empty_layer().unwrap_or(false) {
                    0
                } else {
                    layers.next().map_or(0, |l| l.size)
                };
                rows.push(HistoryRow {
                    id: None,
                    created: step.created().clone(),
                    created_by: step.created_by().clone().unwrap_or_default(),
                    size,
                    comment: step.comment().clone().unwrap_or_default(),
                });
            }
        }
        _ => {
            for l in layers {
                rows.push(HistoryRow {
                    id: None,
                    created: image.config.created().clone(),
                    created_by: String::new(),
                    size: l.size,
                    comment: String::new(),
                });
            }
        }
    }
    rows.reverse();
    if let Some(top) = rows.first_mut() {
        top.id = Some(image.id.clone());
    }
    rows
}
