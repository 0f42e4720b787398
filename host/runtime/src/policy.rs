//! `--restart`: when the monitor starts a container again after it exits.

use serde::{Deserialize, Serialize};

/// Docker's restart policies.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "name", rename_all = "kebab-case")]
pub enum RestartPolicy {
    #[default]
    No,
    /// Restart after a non-zero exit, at most `max_retries` times (0 means
    /// without limit, as in Docker).
    OnFailure {
        max_retries: u32,
    },
    Always,
    UnlessStopped,
}

impl std::str::FromStr for RestartPolicy {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let (name, count) = match s.split_once(':') {
            Some((n, c)) => (n, Some(c)),
            None => (s, None),
        };
        let policy = match name {
            "no" | "" => RestartPolicy::No,
            "always" => RestartPolicy::Always,
            "unless-stopped" => RestartPolicy::UnlessStopped,
            "on-failure" => {
                let max_retries = match count {
                    None => 0,
                    Some(c) => c.parse::<u32>().map_err(|_| {
                        format!("invalid restart policy {s:?}: maximum retry count must be a non-negative integer")
                    })?,
                };
                return Ok(RestartPolicy::OnFailure { max_retries });
            }
            _ => {
                return Err(format!(
                    "invalid restart policy {s:?}: use no, always, unless-stopped or on-failure[:max-retries]"
                ));
            }
        };
        if count.is_some() {
            return Err(format!(
                "invalid restart policy {s:?}: maximum retry count can only be used with 'on-failure'"
            ));
        }
        Ok(policy)
    }
}

impl RestartPolicy {
    /// Whether a container that exited with `code`, after `restarts`
    /// restarts, is started again. `stopped` is true when a user stopped it.
    pub fn should_restart(self, code: i32, restarts: u32, stopped: bool) -> bool {
        if stopped {
            return false;
        }
        match self {
            RestartPolicy::No => false,
            RestartPolicy::Always | RestartPolicy::UnlessStopped => true,
            RestartPolicy::OnFailure { max_retries } => {
                code != 0 && (max_retries == 0 || restarts < max_retries)
            }
        }
    }

    /// Docker's spelling, for `inspect`.
    pub fn name(self) -> &'static str {
        match self {
            RestartPolicy::No => "no",
            RestartPolicy::OnFailure { .. } => "on-failure",
            RestartPolicy::Always => "always",
            RestartPolicy::UnlessStopped => "unless-stopped",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_dockers_policies() {
        assert_eq!("no".parse::<RestartPolicy>().unwrap(), RestartPolicy::No);
        assert_eq!(
            "on-failure:2".parse::<RestartPolicy>().unwrap(),
            RestartPolicy::OnFailure { max_retries: 2 }
        );
        assert_eq!(
            "always".parse::<RestartPolicy>().unwrap(),
            RestartPolicy::Always
        );
        for bad in ["sometimes", "always:3", "on-failure:x", "on-failure:-1"] {
            let err = bad.parse::<RestartPolicy>().unwrap_err();
            assert!(err.contains(bad), "{err}");
        }
    }

    #[test]
    fn on_failure_counts_restarts() {
        let p = RestartPolicy::OnFailure { max_retries: 2 };
        assert!(p.should_restart(1, 0, false));
        assert!(p.should_restart(1, 1, false));
        assert!(!p.should_restart(1, 2, false));
        assert!(!p.should_restart(0, 0, false));
        assert!(!RestartPolicy::Always.should_restart(0, 5, true));
        assert!(RestartPolicy::Always.should_restart(0, 5, false));
    }
}
