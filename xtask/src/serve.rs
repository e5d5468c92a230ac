//! `cargo xtask serve [ARGS…]`: the host running on its defaults, for
//! trying it by hand.

use std::{ffi::OsString, process::Command};

use anyhow::Result;

use crate::{
    command::{build_workspace, run},
    engines::shipped_engines,
    layout::lay_out,
    paths::{Profile, host_binary_file, workspace_root},
};

/// Builds the workspace (debug, the same build the tests use), lays it out
/// in `target/serve/` and runs the host there with a session `default` on
/// the sandbox engine; `args` go to `wharf serve`.
pub(crate) fn serve(args: &[OsString]) -> Result<()> {
    let engines = shipped_engines()?;
    build_workspace()?;
    let layout = lay_out(Profile::Debug, "serve", &engines)?;
    let mut host = Command::new(layout.join(host_binary_file()));
    host.current_dir(workspace_root())
        .arg("serve")
        .args(["--start-session", "default"])
        .args(args);
    run(host)
}
