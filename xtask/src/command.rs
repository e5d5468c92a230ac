//! Running the programs xtask drives: cargo, the built host, Python.

use std::{env, process::Command};

use anyhow::{Context, Result, bail};

use crate::paths::workspace_root;

/// The cargo that runs xtask (so the same toolchain builds everything), in
/// the workspace root.
pub(crate) fn cargo() -> Command {
    let mut command = Command::new(env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    command.current_dir(workspace_root());
    command
}

/// Runs `command` to its end; its failure is the task's, named with the
/// command line so the user can run it again by hand.
pub(crate) fn run(mut command: Command) -> Result<()> {
    let shown = format!("{command:?}");
    let status = command
        .status()
        .with_context(|| format!("cannot run {shown}"))?;
    if !status.success() {
        bail!("{shown} failed with {status}");
    }
    Ok(())
}

/// Builds every package and target of the workspace in the dev profile.
///
/// The tests and `serve` share this one build. Building `--all-targets`
/// matters: dev-dependencies turn on extra features of shared crates (tokio's
/// `test-util`, for one), and cargo rebuilds everything above a crate whose
/// features changed, so a plain `cargo build` followed by `cargo test` would
/// compile the whole WhatsApp stack twice.
pub(crate) fn build_workspace() -> Result<()> {
    let mut build = cargo();
    build.args(["build", "--workspace", "--all-targets"]);
    run(build)
}
