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
    Ok(json!({
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
        "RestartCount": 0,
        "Driver": "overlay",
        "Platform": "linux",
        "HostConfig": {
            "AutoRemove": state.auto_remove,
            "ReadonlyRootfs": spec["root"]["readonly"].as_bool().unwrap_or(false),
            "CapAdd": Value::Null,
            "CapDrop": Value::Null,
        },
        "GraphDriver": {
            "Name": "overlay",
            "Data": {"UpperDir": dir.join("upper"), "WorkDir": dir.join("work"),
                     "MergedDir": dir.join("rootfs")},
        },
        "Mounts": mounts,
        "Config": {
            "Hostname": spec["hostname"],
            "User": spec["annotations"]["run.wrun.user"],
            "Tty": process["terminal"].as_bool().unwrap_or(false),
            "Env": process["env"],
            "Cmd": state.command,
            "Image": state.image,
            "WorkingDir": process["cwd"],
        },
    }))
}

/// The `/etc/hosts`, `/etc/hostname` and `/etc/resolv.conf` binds are
/// wrun's own, not user mounts.
fn is_generated(m: &Value, dir: &std::path::Path) -> bool {
    m["source"]
        .as_str()
        .is_some_and(|s| std::path::Path::new(s).starts_with(dir))
}
