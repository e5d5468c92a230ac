//! `cargo xtask …`: the project's build, run, test and benchmark commands.
//!
//! - `cargo xtask dist`: release host and every engine into `target/dist/`.
//! - `cargo xtask serve [ARGS…]`: build the workspace (debug, the same build
//!   the tests use), lay it out in `target/serve/`, then run the host on its
//!   defaults with a session `default` on the sandbox engine.
//! - `cargo xtask test [ARGS…]`: build the host and every engine library,
//!   then run every test of the workspace.
//! - `cargo xtask bench [abi | reload | http | sessions | book | contacts]`: print benchmark figures.
//! - `cargo xtask new-engine NAME [--path DIR] [--engine-api SOURCE]`: a new
//!   engine crate, in `engines/NAME` or anywhere else, that builds and
//!   passes conformance (`cargo xtask new-engine --help` says more).
//! - `cargo xtask conformance`: `wharf conformance` on every engine under
//!   `engines/`, on a freshly generated one, and on the engine frozen at
//!   ABI 2.0 in `tests/abi/2.0` (part of `test`).
//! - `cargo xtask attack [ARGS…]`: the end-to-end tests that attack the
//!   host from outside (part of `test`), on their own.
//! - `cargo xtask docs [--check]`: write `docs/engines.md` from the shipped
//!   engines' manifests; with `--check`, fail if it is not up to date.

use std::{
    env,
    ffi::OsString,
    fs,
    path::{Path, PathBuf},
    process::{Command, ExitCode},
};

use anyhow::{Context, Result, bail};
use serde_json::Value;

mod new_engine;

use new_engine::{EngineApi, generate_engine, new_engine};

const USAGE: &str = "usage: cargo xtask <dist | serve [ARGS…] | test [ARGS…] | bench [abi | reload | http | sessions | book | contacts] | new-engine NAME [--path DIR] [--engine-api SOURCE] | conformance | attack [ARGS…] | docs [--check]>";

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
        "new-engine" => new_engine(&rest),
        "conformance" => {
            build_workspace()?;
            conformance_of_engines()
        }
        "docs" => docs(&rest),
        "attack" => {
            build_workspace()?;
            attack(&rest)
        }
        "help" | "--help" | "-h" => {
            println!("{USAGE}\n\nThe module docs of xtask/src/main.rs say what each does.");
            Ok(())
        }
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
    dir: PathBuf,
    /// Extra `wharf conformance` arguments, from the crate's
    /// `[package.metadata.wharf] conformance-args`.
    conformance_args: Vec<String>,
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
            let conformance_args = package["metadata"]["wharf"]["conformance-args"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|arg| arg.as_str().map(str::to_owned))
                .collect();
            engines.push(EngineCrate {
                package: name.to_owned(),
                library: target["name"].as_str().unwrap_or(name).replace('-', "_"),
                dir: manifest.parent().unwrap_or(&engines_dir).to_owned(),
                conformance_args,
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
    client_tests()?;
    conformance_of_engines()
}

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

/// Runs the attack tests; `args` go to the test binary (`--nocapture`,
/// say).
fn attack(args: &[OsString]) -> Result<()> {
    let mut test = cargo();
    test.args(["test", "--package", "wharf-e2e", "--test", "e2e", "--"])
        .args(ATTACK_TESTS)
        .args(args.iter().filter(|arg| *arg != "--"));
    run(test)
}

/// `wharf conformance` on every engine crate, the engine-api example and
/// the new-engine template.
fn conformance_of_engines() -> Result<()> {
    conformance_of_shipped_engines()?;
    let example = workspace_root()
        .join("target")
        .join("debug")
        .join("examples")
        .join(library_file("minimal_engine"));
    conformance(&example, None, &[])
        .context("engine-api/examples/minimal_engine.rs does not pass conformance")?;
    new_engine_template_check()?;
    frozen_abi_check()
}

/// Builds the engine crate in `dir`, which is not part of this workspace,
/// with exactly the versions in its own `Cargo.lock`, and runs `wharf
/// conformance` on its library with the config in its `conformance.json`.
fn build_and_check_crate(dir: &Path, library: &str) -> Result<()> {
    let target = workspace_root().join("target");
    let mut build = cargo();
    build
        .arg("build")
        .arg("--locked")
        .arg("--manifest-path")
        .arg(dir.join("Cargo.toml"))
        // Shares the workspace's build directory: the dependencies it has
        // in common are not compiled again.
        .env("CARGO_TARGET_DIR", &target);
    run(build)?;
    conformance(
        &target.join("debug").join(library_file(library)),
        Some(&dir.join("conformance.json")),
        &[],
    )
}

/// Engines built against earlier versions of the ABI must load and pass
/// conformance in this host, on their own and beside today's engines: see
/// `tests/abi/README.md`.
fn frozen_abi_check() -> Result<()> {
    let root = workspace_root();
    let frozen = root.join("tests").join("abi").join("2.0");
    build_and_check_crate(&frozen, "wharf_abi_2_0")
        .and_then(|()| frozen_abi_beside_current("wharf_abi_2_0"))
        .context(
            "an engine built against ABI 2.0 (tests/abi/2.0) no longer passes: this host breaks the ABI 2 promise",
        )
}

/// An operator keeps engines of several ABI versions in one directory: the
/// frozen engine `library` and today's sandbox must both load in one host,
/// whichever of them is loaded first (a directory loads in file-name
/// order). `wharf engines list` loads a directory as the server does and
/// fails when it rejects a library.
fn frozen_abi_beside_current(library: &str) -> Result<()> {
    let debug = workspace_root().join("target").join("debug");
    let frozen = debug.join(library_file(library));
    let current = debug.join(library_file("wharf_sandbox"));
    for (frozen_loads, frozen_name, current_name) in [
        ("first", "a-frozen", "b-current"),
        ("last", "b-frozen", "a-current"),
    ] {
        let dir = workspace_root()
            .join("target")
            .join("tmp")
            .join(format!("{library}-loaded-{frozen_loads}"));
        if dir.exists() {
            fs::remove_dir_all(&dir)?;
        }
        fs::create_dir_all(&dir)?;
        fs::copy(
            &frozen,
            dir.join(format!("{frozen_name}{}", env::consts::DLL_SUFFIX)),
        )?;
        fs::copy(
            &current,
            dir.join(format!("{current_name}{}", env::consts::DLL_SUFFIX)),
        )?;
        let listed = Command::new(wharf_binary())
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

/// The debug `wharf` binary.
fn wharf_binary() -> PathBuf {
    workspace_root()
        .join("target")
        .join("debug")
        .join(format!("wharf{}", env::consts::EXE_SUFFIX))
}

/// Runs `wharf conformance` on `library`, with the session config in
/// `config_file` when it exists (`{}` otherwise). The deadline is short: the shipped
/// engines answer in milliseconds or fail at once, and an engine that
/// cannot reach its service (CI has no network) is waited for this long.
fn conformance(library: &Path, config_file: Option<&Path>, args: &[String]) -> Result<()> {
    let mut check = Command::new(wharf_binary());
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
    let debug = workspace_root().join("target").join("debug");
    for engine in shipped_engines()? {
        conformance(
            &debug.join(library_file(&engine.library)),
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
    let root = workspace_root();
    let dir = root.join("target").join("xtask").join("new-engine-check");
    match fs::remove_dir_all(&dir) {
        Ok(()) => {}
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
        Err(err) => bail!("cannot clear {}: {err}", dir.display()),
    }
    let generated = generate_engine(
        "template-check",
        &dir,
        &EngineApi::Path(
            root.join("engine-api")
                .to_str()
                .context("the checkout's path is not UTF-8")?
                .to_owned(),
        ),
    )?;
    build_and_check_crate(&dir, &generated.library)
        .context("the new-engine template does not pass conformance")
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
        [] => {
            bench_with_sandbox("abi")?;
            bench_with_sandbox("reload")?;
            bench_with_sandbox("http")?;
            bench_with_sandbox("sessions")?;
            bench_sandbox("writes")?;
            bench_sandbox("contacts")
        }
        [name @ ("abi" | "reload" | "http" | "sessions")] => bench_with_sandbox(name),
        ["book"] => bench_sandbox("writes"),
        ["contacts"] => bench_sandbox("contacts"),
        _ => bail!(
            "unknown benchmark {which:?}; available: abi, reload, http, sessions, book, contacts"
        ),
    }
}

/// Runs the host's benchmark `name` against the release sandbox library.
fn bench_with_sandbox(name: &str) -> Result<()> {
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
        .args(["bench", "--package", "wharf", "--bench", name])
        .env("WHARF_BENCH_ENGINE", library);
    run(bench)
}

/// Runs the sandbox's benchmark `name`: `writes`, the cost of one durable
/// write as its book grows; `contacts`, the cost of a page of contacts as
/// the book grows, and of keeping and loading a book.
fn bench_sandbox(name: &str) -> Result<()> {
    let mut bench = cargo();
    bench.args([
        "bench",
        "--package",
        "wharf-engine-sandbox",
        "--bench",
        name,
    ]);
    run(bench)
}

const ENGINES_DOC: &str = "docs/engines.md";

/// Writes (or, with `--check`, verifies) the feature table of the shipped
/// engines, read from their manifests by `wharf engines list`.
fn docs(args: &[OsString]) -> Result<()> {
    let check = match args
        .iter()
        .map(|a| a.to_str())
        .collect::<Vec<_>>()
        .as_slice()
    {
        [] => false,
        [Some("--check")] => true,
        _ => bail!("usage: cargo xtask docs [--check]"),
    };
    let engines = shipped_engines()?;
    build_workspace()?;
    let layout = lay_out("debug", "docs", &engines)?;
    let output = Command::new(layout.join(format!("wharf{}", env::consts::EXE_SUFFIX)))
        .args(["engines", "list", "--format", "markdown", "--engines-dir"])
        .arg(layout.join("engines"))
        .output()
        .context("cannot run wharf engines list")?;
    if !output.status.success() {
        bail!(
            "wharf engines list failed:\n{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let document = format!(
        "# Engines\n\n\
         <!-- Written by `cargo xtask docs` from the engines' manifests; do not edit. -->\n\n\
         What each engine shipped with wharf supports. The host answers `501` for an\n\
         unsupported feature, with the reason below, and never calls the engine.\n\n{}",
        String::from_utf8_lossy(&output.stdout)
    );
    let path = workspace_root().join(ENGINES_DOC);
    if check {
        let current = fs::read_to_string(&path).unwrap_or_default();
        if current != document {
            bail!(
                "{ENGINES_DOC} is not up to date with the engines' manifests: run `cargo xtask docs`"
            );
        }
        println!("{ENGINES_DOC} is up to date");
    } else {
        fs::create_dir_all(path.parent().context("docs/ has a parent")?)?;
        fs::write(&path, document)?;
        println!("wrote {ENGINES_DOC}");
    }
    Ok(())
}
