//! `docker inspect`'s JSON for a container, from its state and spec.

use serde_json::{Value, json};

use crate::Result;
use crate::state::{Containers, Status};

/// The Docker-shaped inspect document of container `id`.
pub fn container_json(containers: &Containers, id: &str) -> Result<Value> {
    let state = containers.load(id)?;
    let dir = containers.dir(id);
    let spec: Value = std::fs::read(dir.join("config.json"))
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or(Value::Null);
    let process = &spec["process"];
    let (path, args) = match state.command.split_first() {
        Some((p, a)) => (p.clone(), a.to_vec()),
        None => (String::new(), vec![]),
    };
    let zero_time = "0001-01-01T00:00:00Z";
    let mounts: Vec<Value> = spec["mounts"]
        .as_array()
        .map(|ms| {
            ms.iter()
                .filter(|m| m["type"] == "bind" && !is_generated(m, &dir))
                .map(|m| {
                    let ro = m["options"]
                        .as_array()
                        .is_some_and(|o| o.iter().any(|x| x == "ro"));
                    json!({"Type": "bind", "Source": m["source"], "Destination": m["destination"],
                           "Mode": if ro { "ro" } else { "" }, "RW": !ro, "Propagation": "rprivate"})
                })
                .collect()
        })
        .unwrap_or_default();
    let mut out = json!({
        "Id": state.id,
        "Created": state.created,
        "Path": path,
        "Args": args,
        "State": {
            "Status": state.status.as_str(),
            "Running": state.status == Status::Running,
            "Paused": false,
            "Restarting": false,
            "OOMKilled": false,
            "Dead": false,
            "Pid": state.pid.unwrap_or(0),
            "ExitCode": state.exit_code.unwrap_or(0),
            "Error": "",
            "StartedAt": state.started_at.as_deref().unwrap_or(zero_time),
            "FinishedAt": state.finished_at.as_deref().unwrap_or(zero_time),
        },
        "Image": state.image_id,
        "ResolvConfPath": dir.join("resolv.conf"),
        "HostnamePath": dir.join("hostname"),
        "HostsPath": dir.join("hosts"),
        "Name": format!("/{}", state.name),
        "RestartCount": state.restart_count,
        "Driver": "overlay",
        "Platform": "linux",
        "LogPath": crate::logs::log_path(&dir),
        "HostConfig": {
            "NetworkMode": state.host.network,
            "AutoRemove": state.auto_remove,
            "RestartPolicy": {
                "Name": state.host.restart.name(),
                "MaximumRetryCount": match state.host.restart {
                    crate::policy::RestartPolicy::OnFailure { max_retries } => max_retries,
                    _ => 0,
                },
            },
            "LogConfig": {
                "Type": "json-file",
                "Config": log_config(&state.host.log),
            },
            "Memory": state.host.resources.memory.unwrap_or(0),
            "NanoCpus": state.host.resources.nano_cpus.unwrap_or(0),
            "PidsLimit": state.host.resources.pids_limit,
            "ReadonlyRootfs": spec["root"]["readonly"].as_bool().unwrap_or(false),
            "Isolation": state.host.isolation.as_str(),
            // Docker's HostConfig.Annotations (API 1.43): the policy.
            "Annotations": match &state.host.policy {
                Some(p) => json!({
                    "run.wrun.policy": p.name,
                    "run.wrun.policy.module": p.hash,
                    "run.wrun.policy.mode": if p.naive { "naive" } else { "emulate" },
                    "run.wrun.policy.enforcement": p.enforced_by.as_str(),
                    "run.wrun.policy.enforcement.note": p.enforcement_note,
                }),
                None => Value::Null,
            },
            "CapAdd": Value::Null,
            "CapDrop": Value::Null,
        },
        "GraphDriver": {
            "Name": "overlay",
            "Data": {"UpperDir": dir.join("upper"), "WorkDir": dir.join("work"),
                     "MergedDir": dir.join("rootfs")},
        },
        "Mounts": mounts,
        "NetworkSettings": network_settings(&state, &dir),
        "Config": {
            "Hostname": spec["hostname"],
            "User": spec["annotations"]["run.wrun.user"],
            "Tty": process["terminal"].as_bool().unwrap_or(false),
            "Env": process["env"],
            "Cmd": state.command,
            "Image": state.image,
            "WorkingDir": process["cwd"],
            "Labels": state.host.labels,
            "StopSignal": state.host.stop_signal,
        },
    });
    // Docker shows State.Health only for a container with a healthcheck.
    if let Some(health) = crate::health::read_state(&dir) {
        out["State"]["Health"] = serde_json::to_value(health).unwrap_or_default();
    }
    Ok(out)
}

/// The `/etc/hosts`, `/etc/hostname` and `/etc/resolv.conf` binds are
/// wrun's own, not user mounts.
fn is_generated(m: &Value, dir: &std::path::Path) -> bool {
    m["source"]
        .as_str()
        .is_some_and(|s| std::path::Path::new(s).starts_with(dir))
}

fn log_config(opts: &crate::logs::LogOptions) -> Value {
    let mut m = serde_json::Map::new();
    if let Some(size) = opts.max_size {
        m.insert("max-size".into(), json!(size.to_string()));
        m.insert("max-file".into(), json!(opts.max_file.to_string()));
    }
    Value::Object(m)
}

/// Docker's `NetworkSettings`: the first endpoint's address at the top, every
/// network by name, and the published ports.
fn network_settings(state: &crate::state::ContainerState, dir: &std::path::Path) -> Value {
    let mut ports = serde_json::Map::new();
    for m in crate::network::ports::load_ports(dir).unwrap_or_default() {
        let entry = ports.entry(m.container_key()).or_insert_with(|| json!([]));
        if let Some(list) = entry.as_array_mut() {
            list.push(
                json!({"HostIp": m.host_ip.to_string(), "HostPort": m.host_port.to_string()}),
            );
        }
    }
    let networks: serde_json::Map<String, Value> = state
        .endpoints
        .iter()
        .map(|e| {
            (
                e.network.clone(),
                json!({"IPAddress": e.ip.to_string(), "IPPrefixLen": e.prefix,
                       "Gateway": e.gateway.to_string(), "MacAddress": e.mac,
                       "Aliases": state.host.aliases}),
            )
        })
        .collect();
    let first = state.endpoints.first();
    json!({
        "Networks": networks,
        "Ports": ports,
        "IPAddress": first.map(|e| e.ip.to_string()).unwrap_or_default(),
        "IPPrefixLen": first.map_or(0, |e| e.prefix),
        "Gateway": first.map(|e| e.gateway.to_string()).unwrap_or_default(),
        "MacAddress": first.map(|e| e.mac.clone()).unwrap_or_default(),
    })
}
