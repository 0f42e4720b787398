//! Docker's `--format` templates, the subset people type: `{{.Field}}`,
//! nested `{{.State.Status}}`, `{{json .Config}}`, `{{json .}}`, with
//! literal text between, and `\t`/`\n` escapes.

use serde_json::Value;

/// Renders `template` against `value`.
pub fn render(template: &str, value: &Value) -> anyhow::Result<String> {
    let template = template.replace("\\t", "\t").replace("\\n", "\n");
    let mut out = String::new();
    let mut rest = template.as_str();
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = after
            .find("}}")
            .ok_or_else(|| anyhow::anyhow!("template {template:?}: unclosed action"))?;
        let action = after[..end].trim();
        let (json, path) = match action.strip_prefix("json ") {
            Some(p) => (true, p.trim()),
            None => (false, action),
        };
        let field = lookup(value, path)
            .ok_or_else(|| anyhow::anyhow!("template {template:?}: can't evaluate field {path}"))?;
        if json {
            out.push_str(&serde_json::to_string(field)?);
        } else {
            out.push_str(&plain(field));
        }
        rest = &after[end + 2..];
    }
    out.push_str(rest);
    Ok(out)
}

/// JSON as `docker inspect` prints it: indented with four spaces.
pub fn docker_json(value: &Value) -> String {
    let mut buf = Vec::new();
    let fmt = serde_json::ser::PrettyFormatter::with_indent(b"    ");
    let mut ser = serde_json::Serializer::with_formatter(&mut buf, fmt);
    serde::Serialize::serialize(value, &mut ser).expect("a JSON value serializes");
    String::from_utf8_lossy(&buf).into_owned()
}

fn lookup<'a>(value: &'a Value, path: &str) -> Option<&'a Value> {
    let path = path.strip_prefix('.')?;
    if path.is_empty() {
        return Some(value);
    }
    path.split('.').try_fold(value, |v, key| v.get(key))
}

/// Go's default formatting of a value: strings bare, null as `<no value>`,
/// lists as `[a b]`, maps as `map[k:v]`.
fn plain(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => "<no value>".into(),
        Value::Array(a) => format!("[{}]", a.iter().map(plain).collect::<Vec<_>>().join(" ")),
        Value::Object(m) => format!(
            "map[{}]",
            m.iter()
                .map(|(k, v)| format!("{k}:{}", plain(v)))
                .collect::<Vec<_>>()
                .join(" ")
        ),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn renders_fields_nested_and_json() {
        let v = json!({"Id": "abc", "State": {"Status": "exited", "ExitCode": 3},
                       "Config": {"Cmd": ["sh", "-c"]}});
        assert_eq!(render("{{.Id}}", &v).unwrap(), "abc");
        assert_eq!(
            render("{{.State.Status}} {{.State.ExitCode}}", &v).unwrap(),
            "exited 3"
        );
        assert_eq!(
            render("{{json .Config.Cmd}}", &v).unwrap(),
            r#"["sh","-c"]"#
        );
        assert_eq!(render("{{.Config.Cmd}}", &v).unwrap(), "[sh -c]");
        assert_eq!(render("a\\tb", &v).unwrap(), "a\tb");
        assert!(
            render("{{.Nope}}", &v)
                .unwrap_err()
                .to_string()
                .contains(".Nope")
        );
        assert!(render("{{.Id", &v).is_err());
    }
}
