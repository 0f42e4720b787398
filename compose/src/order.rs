//! `depends_on` order: services start after what they depend on, stop
//! before it; a cycle is an error that names it.

use std::collections::{BTreeMap, BTreeSet};

use crate::model::ComposeFile;
use crate::{Error, Result};

/// The services to start for `selected` (all when empty) and, unless
/// `no_deps`, everything they depend on, dependencies first. Ties keep
/// name order, so the order is stable.
pub fn start_order(model: &ComposeFile, selected: &[String]) -> Result<Vec<String>> {
    start_order_with(model, selected, false)
}

/// [`start_order`] with `--no-deps`: only `selected`, still ordered.
pub fn start_order_with(
    model: &ComposeFile,
    selected: &[String],
    no_deps: bool,
) -> Result<Vec<String>> {
    for s in selected {
        if !model.services.contains_key(s) {
            let hint = crate::load::closest(s, model.services.keys().map(String::as_str))
                .map(|c| format!("; did you mean {c:?}?"))
                .unwrap_or_default();
            return Err(Error::NoSuchService {
                name: s.clone(),
                hint,
            });
        }
    }
    let mut wanted: BTreeSet<String> = if selected.is_empty() {
        model.services.keys().cloned().collect()
    } else {
        selected.iter().cloned().collect()
    };
    if !no_deps {
        let mut stack: Vec<String> = wanted.iter().cloned().collect();
        while let Some(s) = stack.pop() {
            for dep in model.services[&s].depends_on.keys() {
                if model.services.contains_key(dep) && wanted.insert(dep.clone()) {
                    stack.push(dep.clone());
                }
            }
        }
    }
    // Depth-first, dependencies first; `visiting` finds cycles.
    let mut order = Vec::new();
    let mut done = BTreeSet::new();
    let mut visiting: Vec<String> = Vec::new();
    fn visit(
        name: &str,
        model: &ComposeFile,
        wanted: &BTreeSet<String>,
        done: &mut BTreeSet<String>,
        visiting: &mut Vec<String>,
        order: &mut Vec<String>,
    ) -> Result<()> {
        if done.contains(name) {
            return Ok(());
        }
        if let Some(pos) = visiting.iter().position(|v| v == name) {
            let mut cycle = visiting[pos..].to_vec();
            cycle.push(name.to_string());
            return Err(Error::Cycle { cycle });
        }
        visiting.push(name.to_string());
        for dep in model.services[name].depends_on.keys() {
            if model.services.contains_key(dep) {
                visit(dep, model, wanted, done, visiting, order)?;
            }
        }
        visiting.pop();
        done.insert(name.to_string());
        if wanted.contains(name) {
            order.push(name.to_string());
        }
        Ok(())
    }
    // Cycles are found among all services, not only the wanted ones.
    let all: Vec<String> = model.services.keys().cloned().collect();
    for s in &all {
        visit(s, model, &wanted, &mut done, &mut visiting, &mut order)?;
    }
    Ok(order)
}

/// Services that depend on each service (for stopping in reverse).
pub fn dependents(model: &ComposeFile) -> BTreeMap<String, Vec<String>> {
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (name, s) in &model.services {
        for dep in s.depends_on.keys() {
            out.entry(dep.clone()).or_default().push(name.clone());
        }
    }
    out
}
