//! `wrun container-monitor --ready-fd N ID` (hidden): the process that owns
//! a detached container; `wrun run -d` and `wrun start` start it.

use crate::global::Global;

#[derive(Debug, clap::Args)]
pub struct MonitorArgs {
    /// Inherited pipe on which to report the first start
    #[arg(long)]
    pub ready_fd: Option<i32>,
    pub id: String,
}

impl MonitorArgs {
    pub fn execute(self, g: &Global) -> anyhow::Result<i32> {
        let ready = match self.ready_fd {
            Some(fd) => Some(std::fs::File::from(wrun_sys::fd::take_inherited(fd)?)),
            None => None,
        };
        let runtime = super::run::open_runtime(g)?;
        Ok(runtime.monitor(&self.id, None, ready)?)
    }
}
