//! `cargo xtask conformance`: `wharf conformance` on every engine the
//! project vouches for (part of `cargo xtask test`).

use std::{fs, path::Path, process::Command};

use anyhow::{Context, Result, bail};

use crate::{
    command::{cargo, run},
    engines::shipped_engines,
    new_engine::{EngineApi, generate_engine},
    paths::{Profile, library_file, renamed_library_file, target_dir, workspace_root},
};

/// `wharf conformance` on every engine crate, the engine-api example, the
/// new-engine template and the engines frozen at earlier ABIs, on a
/// workspace already built.
pub(crate) fn conformance_of_engines() -> Result<()> {
    conformance_of_shipped_engines()?;
    let example = Profile::Debug
        .dir()
        .join("examples")
        .join(library_file("minimal_engine"));
    conformance(&example, None, &[])
        .context("engine-api/examples/minimal_engine.rs does not pass conformance")?;
    new_engine_template_check()?;
    frozen_abi_check()
}

/// Runs `wharf conformance` on `library`, with the session config in
/// `config_file` when it exists (`{}` otherwise). The deadline is short: the shipped
/// engines answer in milliseconds or fail at once, and an engine that
/// cannot reach its service (CI has no network) is waited for this long.
fn conformance(library: &Path, config_file: Option<&Path>, args: &[String]) -> Result<()> {
    let mut check = Command::new(Profile::Debug.host_binary());
    check
        .args(["conformance", "--engine-timeout", "5"])
        .args(args);
    if let Some(file) = config_file.filter(|file| file.exists()) {
        check.arg("--config-file").arg(file);
    }
    check.arg(library);
    run(check)
}

/// `wharf conformance` on every shipped engine, each with the config in its
/// crate's `conformance.json`, which keeps it on loopback.
fn conformance_of_shipped_engines() -> Result<()> {
    for engine in shipped_engines()? {
        conformance(
            &Profile::Debug.library(&engine.library),
            Some(&engine.dir.join("conformance.json")),
            &engine.conformance_args,
        )
        .with_context(|| format!("{} does not pass conformance", engine.package))?;
    }
    Ok(())
}

/// A crate made by `new-engine`, outside the workspace as an author would
/// make it, must build and pass conformance as generated.
fn new_engine_template_check() -> Result<()> {
    let dir = target_dir().join("xtask").join("new-engine-check");
    match fs::remove_dir_all(&dir) {
        Ok(()) => {}
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
        Err(err) => bail!("cannot clear {}: {err}", dir.display()),
    }
    let generated = generate_engine(
        "template-check",
        &dir,
        &EngineApi::Path(
            workspace_root()
                .join("engine-api")
                .to_str()
                .context("the checkout's path is not UTF-8")?
                .to_owned(),
        ),
    )?;
    build_and_check_crate(&dir, &generated.library)
        .context("the new-engine template does not pass conformance")
}

/// Builds the engine crate in `dir`, which is not part of this workspace,
/// with exactly the versions in its own `Cargo.lock`, and runs `wharf
/// conformance` on its library with the config in its `conformance.json`.
fn build_and_check_crate(dir: &Path, library: &str) -> Result<()> {
    let mut build = cargo();
    build
        .arg("build")
        .arg("--locked")
        .arg("--manifest-path")
        .arg(dir.join("Cargo.toml"))
        // Shares the workspace's build directory: the dependencies it has
        // in common are not compiled again.
        .env("CARGO_TARGET_DIR", target_dir());
    run(build)?;
    conformance(
        &Profile::Debug.library(library),
        Some(&dir.join("conformance.json")),
        &[],
    )
}

/// The ABI versions an engine is frozen at, each in `tests/abi/<version>`
/// with its library named `wharf_abi_<major>_<minor>`.
const FROZEN_ABIS: &[&str] = &["2.0", "2.1", "2.2"];

/// Engines built against earlier versions of the ABI must load and pass
/// conformance in this host, on their own and beside today's engines: see
/// `tests/abi/README.md`.
fn frozen_abi_check() -> Result<()> {
    for version in FROZEN_ABIS {
        let frozen = workspace_root().join("tests").join("abi").join(version);
        let library = format!("wharf_abi_{}", version.replace('.', "_"));
        build_and_check_crate(&frozen, &library)
            .and_then(|()| frozen_abi_beside_current(&library))
            .with_context(|| {
                format!(
                    "an engine built against ABI {version} (tests/abi/{version}) no longer passes: \
                     this host breaks the ABI 2 promise"
                )
            })?;
    }
    Ok(())
}

/// An operator keeps engines of several ABI versions in one directory: the
/// frozen engine `library` and today's sandbox must both load in one host,
/// whichever of them is loaded first (a directory loads in file-name
/// order). `wharf engines list` loads a directory as the server does and
/// fails when it rejects a library.
fn frozen_abi_beside_current(library: &str) -> Result<()> {
    let frozen = Profile::Debug.library(library);
    let current = Profile::Debug.library("wharf_sandbox");
    for (frozen_loads, frozen_name, current_name) in [
        ("first", "a-frozen", "b-current"),
        ("last", "b-frozen", "a-current"),
    ] {
        let dir = target_dir()
            .join("tmp")
            .join(format!("{library}-loaded-{frozen_loads}"));
        if dir.exists() {
            fs::remove_dir_all(&dir)?;
        }
        fs::create_dir_all(&dir)?;
        fs::copy(&frozen, dir.join(renamed_library_file(frozen_name)))?;
        fs::copy(&current, dir.join(renamed_library_file(current_name)))?;
        let listed = Command::new(Profile::Debug.host_binary())
            .args(["engines", "list", "--engines-dir"])
            .arg(&dir)
            .output()?;
        if !listed.status.success() {
            bail!(
                "loaded {frozen_loads}, beside the sandbox, {library} makes the host reject an engine:\n{}{}",
                String::from_utf8_lossy(&listed.stdout),
                String::from_utf8_lossy(&listed.stderr)
            );
        }
        println!("{library} loads {frozen_loads}, beside the sandbox: both accepted");
    }
    Ok(())
}
