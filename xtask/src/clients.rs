//! The client tests, part of `cargo xtask test`: the host as the clients
//! people already use see it.

use std::{env, fs, process::Command};

use anyhow::{Context, Result};

use crate::{
    command::run,
    paths::{Profile, target_dir, workspace_root},
};

/// Runs `tests/clients`: third-party WAHA clients and OpenAPI checkers
/// (Python packages, pinned in its requirements.txt) against the built
/// binary. Their virtual environment lives in `target/` and is rebuilt when
/// the requirements change.
pub(crate) fn client_tests() -> Result<()> {
    let root = workspace_root();
    let clients = root.join("tests").join("clients");
    let requirements = clients.join("requirements.txt");
    let venv = target_dir().join("client-tests-venv");
    let python = venv.join("bin").join("python");
    let stamp = venv.join("requirements.txt");
    let wanted = fs::read_to_string(&requirements)
        .with_context(|| format!("cannot read {}", requirements.display()))?;
    if fs::read_to_string(&stamp).ok().as_deref() != Some(wanted.as_str()) {
        let python3 = env::var_os("PYTHON").unwrap_or_else(|| "python3".into());
        run({
            let mut create = Command::new(&python3);
            create.args(["-m", "venv", "--clear"]).arg(&venv);
            create
        })
        .context(
            "the client tests need Python 3.9 or newer with venv (set PYTHON to choose one)",
        )?;
        run({
            let mut install = Command::new(&python);
            install
                .args([
                    "-m",
                    "pip",
                    "install",
                    "--quiet",
                    "--disable-pip-version-check",
                    "-r",
                ])
                .arg(&requirements);
            install
        })?;
        fs::write(&stamp, wanted)?;
    }
    let mut pytest = Command::new(&python);
    pytest
        .current_dir(&root)
        .args(["-m", "pytest", "-q", "-p", "no:cacheprovider"])
        .arg(&clients)
        .env("WHARF_BUILD_DIR", Profile::Debug.dir());
    run(pytest)
}
