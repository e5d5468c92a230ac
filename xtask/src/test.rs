//! `cargo xtask test [ARGS…]`: every test of the project, in one command.

use std::ffi::OsString;

use anyhow::Result;

use crate::{
    clients::client_tests,
    command::{build_workspace, cargo, run},
    conformance::conformance_of_engines,
};

/// Runs the workspace's tests (`args` go to `cargo test`), the client
/// tests and conformance.
pub(crate) fn test(args: &[OsString]) -> Result<()> {
    // The end-to-end tests start the real binary with real engine libraries,
    // which `cargo test` alone does not build.
    build_workspace()?;
    let mut test = cargo();
    test.args(["test", "--workspace"]).args(args);
    run(test)?;
    client_tests()?;
    conformance_of_engines()
}
