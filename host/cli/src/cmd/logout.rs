//! `wrun logout [SERVER]`: forgets the credentials `wrun login` (or
//! `docker login`) stored for a registry.

use wrun_images::registry::auth::DockerConfig;

use crate::cmd::login::server_of;
use crate::exit::ExitError;
use crate::global::Global;

#[derive(Debug, clap::Args)]
pub struct LogoutArgs {
    /// Registry (default Docker Hub)
    #[arg(value_name = "SERVER")]
    pub server: Option<String>,
}

impl LogoutArgs {
    pub fn execute(self, _g: &Global) -> anyhow::Result<i32> {
        let (_, key) = server_of(self.server.as_deref());
        let dir = wrun_images::registry::auth::config_dir();
        let mut cfg = DockerConfig::load(&dir).map_err(|e| ExitError::new(1, e.to_string()))?;
        if cfg
            .erase(&key)
            .map_err(|e| ExitError::new(1, e.to_string()))?
        {
            println!("Removing login credentials for {key}");
        } else {
            println!("Not logged in to {key}");
        }
        Ok(0)
    }
}
