//! `cargo xtask attack [ARGS…]`: the end-to-end tests that attack the host
//! from outside, on their own.

use std::ffi::OsString;

use anyhow::Result;

use crate::command::{cargo, run};

/// The end-to-end tests that attack the host the way an outsider did:
/// broken library files, hostile session configs, slow and silent clients,
/// racing lifecycle calls. Each reproduced a crash, a leak or a 500 before
/// its fix; `cargo xtask test` runs them with everything else. Each is a
/// module of the end-to-end test binary.
const ATTACK_TESTS: [&str; 4] = [
    "library_files::",
    "config_files::",
    "slow_clients::",
    "lifecycle_races::",
];

/// Runs the attack tests, on a workspace already built; `args` go to the
/// test binary (`--nocapture`, say).
pub(crate) fn attack(args: &[OsString]) -> Result<()> {
    let mut test = cargo();
    test.args(["test", "--package", "wharf-e2e", "--test", "e2e", "--"])
        .args(ATTACK_TESTS)
        .args(args.iter().filter(|arg| *arg != "--"));
    run(test)
}
