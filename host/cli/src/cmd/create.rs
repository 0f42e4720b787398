//! `wrun create [OPTIONS] IMAGE [COMMAND] [ARG...]`: everything `run` does
//! before the container starts (flags, image, volumes, the policy checked
//! and its enforcement decided), then prints the id; `wrun start` runs it.
//! The options are `run`'s (`-d`, `-a`, `-i` and `--rm` keep their
//! meaning for the later `start`, as in Docker).

use crate::global::Global;

#[derive(Debug, clap::Args)]
#[command(
    about = "Create a new container",
    override_usage = "wrun create [OPTIONS] IMAGE [COMMAND] [ARG...]",
    disable_help_flag = true
)]
pub struct CreateArgs {
    #[command(flatten)]
    pub run: super::run::RunArgs,
}

impl CreateArgs {
    pub fn execute(self, g: &Global) -> anyhow::Result<i32> {
        if !nix::unistd::geteuid().is_root() {
            return Err(crate::exit::ExitError::new(
                125,
                "wrun create needs root: rootless containers are not supported yet",
            )
            .into());
        }
        let (_runtime, state, _cfg) = self.run.create(g)?;
        println!("{}", state.id);
        Ok(0)
    }
}
