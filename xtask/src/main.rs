//! `cargo xtask …`: the project's build, run, test and benchmark commands.
//!
//! - `cargo xtask dist`: release host and every engine into `target/dist/`.
//! - `cargo xtask serve [ARGS…]`: build the workspace (debug, the same build
//!   the tests use), lay it out in `target/serve/`, then run the host on its
//!   defaults with a session `default` on the sandbox engine.
//! - `cargo xtask test [ARGS…]`: build the host and every engine library,
//!   then run every test of the workspace.
//! - `cargo xtask bench [abi]`: print benchmark figures.

use std::{
    env,
    ffi::OsString,
    fs,
    path::{Path, PathBuf},
    process::{Command, ExitCode},
};

use anyhow::{Context, Result, bail};
use serde_json::Value;

const USAGE: &str = "usage: cargo xtask <dist | serve [ARGS…] | test [ARGS…] | bench [abi]>";

fn main() -> ExitCode {
    match run_command() {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

fn run_command() -> Result<()> {
    let mut args = env::args_os().skip(1);
    let command = args
        .next()
        .and_then(|c| c.into_string().ok())
        .unwrap_or_default();
    let rest: Vec<OsString> = args.collect();
    match command.as_str() {
        "dist" => dist().map(|_| ()),
        "serve" => serve(&rest),
        "test" => test(&rest),
        "bench" => bench(&rest),
        _ => bail!("{USAGE}"),
    }
}

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives in the workspace")
        .to_owned()
}

fn cargo() -> Command {
    let mut command = Command::new(env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    command.current_dir(workspace_root());
    command
}

fn run(mut command: Command) -> Result<()> {
    let shown = format!("{command:?}");
    let status = command
        .status()
        .with_context(|| format!("cannot run {shown}"))?;
    if !status.success() {
        bail!("{shown} failed with {status}");
    }
    Ok(())
}

/// The workspace's packages, from `cargo metadata`.
fn packages() -> Result<Vec<Value>> {
    let output = cargo()
        .args(["metadata", "--format-version", "1", "--no-deps"])
        .output()
        .context("cannot run cargo metadata")?;
    if !output.status.success() {
        bail!(
            "cargo metadata failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let metadata: Value = serde_json::from_slice(&output.stdout)?;
    Ok(metadata["packages"].as_array().cloned().unwrap_or_default())
}

/// A shipped engine: a package under `engines/` with a cdylib target.
struct EngineCrate {
    package: String,
    library: String,
}

fn shipped_engines() -> Result<Vec<EngineCrate>> {
    let engines_dir = workspace_root().join("engines");
    let mut engines = Vec::new();
    for package in packages()? {
        let manifest = PathBuf::from(package["manifest_path"].as_str().unwrap_or_default());
        if !manifest.starts_with(&engines_dir) {
            continue;
        }
        let cdylib = package["targets"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|target| {
                target["crate_types"]
                    .as_array()
                    .is_some_and(|types| types.iter().any(|t| t == "cdylib"))
            });
        if let (Some(name), Some(target)) = (package["name"].as_str(), cdylib) {
            engines.push(EngineCrate {
                package: name.to_owned(),
                library: target["name"].as_str().unwrap_or(name).replace('-', "_"),
            });
        }
    }
    if engines.is_empty() {
        bail!("no engine crates found under {}", engines_dir.display());
    }
    Ok(engines)
}

fn library_file(library: &str) -> String {
    format!(
        "{}{library}{}",
        env::consts::DLL_PREFIX,
        env::consts::DLL_SUFFIX
    )
}

/// Builds the release host and every engine into `target/dist/`; returns
/// the dist directory.
fn dist() -> Result<PathBuf> {
    let engines = shipped_engines()?;
    let mut build = cargo();
    build.args(["build", "--release", "--package", "wharf"]);
    for engine in &engines {
        build.args(["--package", &engine.package]);
    }
    run(build)?;
    let dist = lay_out("release", "dist", &engines)?;
    println!("dist ready in {}", dist.display());
    Ok(dist)
}

/// Builds every package and target of the workspace in the dev profile.
///
/// The tests and `serve` share this one build. Building `--all-targets`
/// matters: dev-dependencies turn on extra features of shared crates (tokio's
/// `test-util`, for one), and cargo rebuilds everything above a crate whose
/// features changed, so a plain `cargo build` followed by `cargo test` would
/// compile the whole WhatsApp stack twice.
fn build_workspace() -> Result<()> {
    let mut build = cargo();
    build.args(["build", "--workspace", "--all-targets"]);
    run(build)
}

/// Copies the host binary and the shipped engine libraries of
/// `target/{profile}` into `target/{into}/` (`wharf` and `engines/`), the
/// layout the host expects: its default engines directory is `engines/`
/// beside the binary.
fn lay_out(profile: &str, into: &str, engines: &[EngineCrate]) -> Result<PathBuf> {
    let built = workspace_root().join("target").join(profile);
    let out = workspace_root().join("target").join(into);
    let out_engines = out.join("engines");
    fs::create_dir_all(&out_engines)?;
    let binary = format!("wharf{}", env::consts::EXE_SUFFIX);
    copy(&built.join(&binary), &out.join(&binary))?;
    for engine in engines {
        let file = library_file(&engine.library);
        copy(&built.join(&file), &out_engines.join(&file))?;
    }
    Ok(out)
}

fn copy(from: &Path, to: &Path) -> Result<()> {
    // Replace rather than overwrite in place: a running host may have the
    // old file mapped.
    let staged = to.with_extension("partial");
    fs::copy(from, &staged)
        .with_context(|| format!("cannot copy {} to {}", from.display(), staged.display()))?;
    fs::rename(&staged, to).with_context(|| format!("cannot replace {}", to.display()))?;
    Ok(())
}

fn serve(args: &[OsString]) -> Result<()> {
    let engines = shipped_engines()?;
    build_workspace()?;
    let layout = lay_out("debug", "serve", &engines)?;
    let mut host = Command::new(layout.join(format!("wharf{}", env::consts::EXE_SUFFIX)));
    host.current_dir(workspace_root())
        .arg("serve")
        .args(["--start-session", "default"])
        .args(args);
    run(host)
}

fn test(args: &[OsString]) -> Result<()> {
    // The end-to-end tests start the real binary with real engine libraries,
    // which `cargo test` alone does not build.
    build_workspace()?;
    let mut test = cargo();
    test.args(["test", "--workspace"]).args(args);
    run(test)?;
    client_tests()
}

/// Runs `tests/clients`: third-party WAHA clients and OpenAPI checkers
/// (Python packages, pinned in its requirements.txt) against the built
/// binary. Their virtual environment lives in `target/` and is rebuilt when
/// the requirements change.
fn client_tests() -> Result<()> {
    let root = workspace_root();
    let clients = root.join("tests").join("clients");
    let requirements = clients.join("requirements.txt");
    let venv = root.join("target").join("client-tests-venv");
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
        .env("WHARF_BUILD_DIR", root.join("target").join("debug"));
    run(pytest)
}

fn bench(args: &[OsString]) -> Result<()> {
    let which: Vec<String> = args
        .iter()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    match which
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .as_slice()
    {
        [] | ["abi"] => bench_abi(),
        _ => bail!("unknown benchmark {which:?}; available: abi"),
    }
}

fn bench_abi() -> Result<()> {
    run({
        let mut build = cargo();
        build.args(["build", "--release", "--package", "wharf-engine-sandbox"]);
        build
    })?;
    let library = workspace_root()
        .join("target")
        .join("release")
        .join(library_file("wharf_sandbox"));
    let mut bench = cargo();
    bench
        .args(["bench", "--package", "wharf", "--bench", "abi"])
        .env("WHARF_BENCH_ENGINE", library);
    run(bench)
}
