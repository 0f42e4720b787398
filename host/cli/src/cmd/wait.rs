//! `wrun wait CONTAINER...`: prints each container's exit code.

use crate::global::Global;

#[derive(Debug, clap::Args)]
pub struct WaitArgs {
    #[arg(required = true, value_name = "CONTAINER")]
    pub containers: Vec<String>,
}

impl WaitArgs {
    pub fn execute(self, g: &Global) -> anyhow::Result<i32> {
        let runtime = super::run::open_runtime(g)?;
        let mut code = 0;
        for c in &self.containers {
            match runtime.wait(c) {
                Ok(exit) => println!("{exit}"),
                Err(e) => {
                    eprintln!("Error response from daemon: {e}");
                    code = 1;
                }
            }
        }
        Ok(code)
    }
}
