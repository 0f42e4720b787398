//! Every compose file of the awesome-compose corpus (39 real-world files)
//! loads, or fails with a precise error for a feature wrun does not
//! support; and what `config` prints of each loads again to the same model.

use std::collections::BTreeMap;
use std::path::PathBuf;

fn corpus() -> PathBuf {
    match std::env::var_os("WRUN_CORPORA") {
        Some(d) => PathBuf::from(d).join("awesome-compose"),
        None => {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/corpora/awesome-compose")
        }
    }
}

fn files() -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(corpus()).expect("the awesome-compose corpus (WRUN_CORPORA)") {
        let dir = entry.unwrap().path();
        for name in wrun_compose::load::FILE_NAMES {
            let f = dir.join(name);
            if f.is_file() {
                out.push(f);
            }
        }
    }
    out.sort();
    out
}

#[test]
fn every_file_loads_and_config_round_trips() {
    let files = files();
    assert_eq!(files.len(), 39, "{files:?}");
    // Files that need a variable the user must set: without it, the error
    // names the key and the problem; with it, the file loads.
    let needs: BTreeMap<&str, (&str, &str, &str)> = BTreeMap::from([(
        "plex",
        (
            "PLEX_MEDIA_PATH",
            "/srv/media",
            "services.plex.volumes: invalid volume \":/media/",
        ),
    )]);
    let mut services = 0;
    for f in &files {
        let dir = f.parent().unwrap();
        let text = std::fs::read_to_string(f).unwrap();
        let mut env = BTreeMap::new();
        let example = dir.file_name().unwrap().to_str().unwrap();
        if let Some((var, value, error)) = needs.get(example) {
            let e = wrun_compose::load_str(&text, f, dir, &env)
                .unwrap_err()
                .to_string();
            assert!(
                e.contains(error)
                    && e.contains("empty section between colons")
                    && e.contains("compose.yaml:9:"),
                "{e}"
            );
            env.insert(var.to_string(), value.to_string());
        }
        let model = wrun_compose::load_str(&text, f, dir, &env)
            .unwrap_or_else(|e| panic!("{}: {e}", f.display()));
        assert!(!model.services.is_empty(), "{}", f.display());
        services += model.services.len();
        let printed = wrun_compose::to_yaml(&model);
        let again = wrun_compose::load_str(&printed, f, dir, &env)
            .unwrap_or_else(|e| panic!("{} (config output): {e}\n{printed}", f.display()));
        assert_eq!(
            model,
            again,
            "{}: config output is not stable:\n{printed}",
            f.display()
        );
        assert_eq!(printed, wrun_compose::to_yaml(&again));
    }
    assert!(services >= 39);
}
