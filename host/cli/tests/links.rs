//! End-to-end tests of `--link`, as the lecture's part 5 uses it:
//! `docker run -d -p 5000:5000 --link postgres --link redis flask-app`.

mod common;

use std::time::Duration;

use common::{busybox, inspect, ok, run_d, text, wait_until};

#[test]
fn a_link_resolves_by_alias_and_name_and_carries_dockers_variables() {
    let Some(env) = busybox() else { return };
    let db = run_d(
        &env,
        &[
            "--name",
            "postgres",
            "-e",
            "POSTGRES_USER=app",
            "-p",
            "127.0.0.1:18095:5432",
            "busybox",
            "sh",
            "-c",
            "mkdir -p /www && echo from-postgres > /www/index.html && httpd -f -p 5432 -h /www",
        ],
    );
    let ip = inspect(&env, &db, "{{.NetworkSettings.IPAddress}}");
    assert!(ip.starts_with("10."), "{ip}");
    // httpd listens a moment after the container starts.
    wait_until("the linked server", Duration::from_secs(10), || {
        env.wrun(&[
            "exec",
            &db,
            "sh",
            "-c",
            "wget -qO- http://127.0.0.1:5432/ >/dev/null",
        ])
        .status
        .success()
    });

    let out = ok(&env.wrun(&[
        "run",
        "--rm",
        "--name",
        "web",
        "--link",
        "postgres",
        "--link",
        "postgres:db",
        "-e",
        "DB_ENV_POSTGRES_USER=overridden",
        "busybox",
        "sh",
        "-c",
        "cat /etc/hosts; echo ---; env | sort; echo ---; \
         wget -qO- http://postgres:5432/ && wget -qO- http://db:5432/",
    ]));
    let mut parts = out.split("---\n");
    let (hosts, vars, fetched) = (
        parts.next().unwrap(),
        parts.next().unwrap(),
        parts.next().unwrap(),
    );
    let db_short = &db[..12];
    assert!(
        hosts.contains(&format!("{ip}\tpostgres {db_short}\n")),
        "{hosts}"
    );
    assert!(
        hosts.contains(&format!("{ip}\tdb {db_short} postgres\n")),
        "{hosts}"
    );
    for want in [
        "POSTGRES_NAME=/web/postgres".to_string(),
        format!("POSTGRES_PORT=tcp://{ip}:5432"),
        format!("POSTGRES_PORT_5432_TCP_ADDR={ip}"),
        "POSTGRES_PORT_5432_TCP_PORT=5432".to_string(),
        "POSTGRES_PORT_5432_TCP_PROTO=tcp".to_string(),
        "POSTGRES_ENV_POSTGRES_USER=app".to_string(),
        "DB_NAME=/web/db".to_string(),
        // The user's own -e wins over a link variable.
        "DB_ENV_POSTGRES_USER=overridden".to_string(),
    ] {
        assert!(vars.lines().any(|l| l == want), "{want} missing in\n{vars}");
    }
    assert_eq!(fetched, "from-postgres\nfrom-postgres", "{out}");
}

#[test]
fn linking_to_a_stopped_or_unknown_container_fails_clearly() {
    let Some(env) = busybox() else { return };
    ok(&env.wrun(&["run", "--name", "gone", "busybox", "true"]));
    let out = env.wrun(&["run", "--rm", "--link", "gone:db", "busybox", "true"]);
    assert_eq!(out.status.code(), Some(125));
    let err = text(&out.stderr);
    assert!(
        err.contains("Cannot link to a non running container: /gone AS /") && err.contains("/db"),
        "{err}"
    );
    let out = env.wrun(&["run", "--rm", "--link", "nosuch", "busybox", "true"]);
    assert_eq!(out.status.code(), Some(125));
    assert!(
        text(&out.stderr).contains("could not get container for nosuch"),
        "{}",
        text(&out.stderr)
    );
    let out = env.wrun(&["run", "--rm", "--link", "bad:", "busybox", "true"]);
    assert_eq!(out.status.code(), Some(125));
    assert!(
        text(&out.stderr).contains("--link"),
        "{}",
        text(&out.stderr)
    );
    // The refused runs left no container behind: only `gone` is there.
    assert_eq!(ok(&env.wrun(&["ps", "-a", "-q"])).lines().count(), 1);
    // `name=` is a regular expression, as Docker's.
    ok(&env.wrun(&["run", "--name", "gone-too", "busybox", "true"]));
    let count = |filter: &str| {
        ok(&env.wrun(&["ps", "-a", "-q", "--filter", filter]))
            .lines()
            .count()
    };
    assert_eq!(count("name=gone"), 2);
    assert_eq!(count("name=^gone$"), 1);
    assert_eq!(count("name=^/gone$"), 1);
    assert_eq!(count("name=^too"), 0);
}
