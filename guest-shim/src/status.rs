//! The status channel to the runtime (`WRUN_STATUS_FD`, docs/contracts.md):
//! one JSON line, `started` once the workload has exec'd or `error` with
//! Docker's code and message.

use std::fs::File;
use std::io::Write;

/// Where status lines go; without `WRUN_STATUS_FD`, errors go to stderr.
#[derive(Debug)]
pub struct Status(Option<File>);

impl Status {
    /// The channel named by `WRUN_STATUS_FD`, if any.
    pub fn from_env() -> Result<Self, crate::Error> {
        match std::env::var("WRUN_STATUS_FD") {
            Err(_) => Ok(Status(None)),
            Ok(v) => {
                let raw = v.parse().map_err(|_| {
                    crate::Error::Usage(format!("WRUN_STATUS_FD={v}: not a number"))
                })?;
                Ok(Status(Some(File::from(wrun_sys::fd::take_inherited(raw)?))))
            }
        }
    }

    /// The workload has exec'd as `pid` (as seen in the container).
    pub fn started(&mut self, pid: i32) {
        if let Some(f) = &mut self.0 {
            let _ = writeln!(f, r#"{{"type":"started","pid":{pid}}}"#);
        }
    }

    /// The container could not start.
    pub fn error(&mut self, code: i32, message: &str) {
        match &mut self.0 {
            Some(f) => {
                let msg = serde_json::to_string(message).unwrap_or_else(|_| "\"\"".into());
                let _ = writeln!(f, r#"{{"type":"error","code":{code},"message":{msg}}}"#);
            }
            None => eprintln!("wrun-shim: {message}"),
        }
    }
}
