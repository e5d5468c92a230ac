//! `cargo xtask new-engine NAME [--path DIR] [--engine-api SOURCE]`: a new
//! engine crate that builds and passes `wharf conformance` as generated.
//!
//! Under `engines/` the crate is a member of this workspace. Anywhere else
//! it is written for an author who has no wharf checkout around it: a
//! workspace of its own, `wharf-engine-api` from the path or git source the
//! author names, and a `Cargo.lock` that holds only its own dependencies,
//! at the versions this checkout is tested with.

use std::{
    collections::{BTreeMap, BTreeSet},
    env,
    ffi::OsString,
    fmt::Write as _,
    fs,
    path::{Component, Path, PathBuf},
    process,
};

use anyhow::{Context, Result, bail};

use crate::{
    command::cargo,
    paths::{Profile, workspace_root},
};

/// Crates whose types cross the library boundary: an engine locked to
/// other versions of them than the host's may lay out the ABI differently.
const ABI_CRATES: [&str; 2] = ["abi_stable", "async-ffi"];

/// What `new-engine` made.
pub(crate) struct GeneratedEngine {
    pub(crate) package: String,
    pub(crate) library: String,
}

fn usage() -> String {
    let default_api = workspace_root().join("engine-api");
    format!(
        "usage: cargo xtask new-engine NAME [--path DIR] [--engine-api SOURCE]

Writes a new wharf engine crate that builds and passes `wharf conformance`
as generated.

  NAME                 the engine's name, as sessions name it: up to 64
                       characters of a-z, 0-9, '-' or '_', starting with a-z
  --path DIR           where to write the crate, a new or empty directory
                       [default: engines/NAME, a member of this workspace].
                       Anywhere else it is a crate of its own, for an author
                       outside this checkout: its Cargo.lock holds only its
                       own dependencies, at the versions this checkout is
                       tested with (abi_stable and async-ffi at the host's)
  --engine-api SOURCE  where a crate outside this workspace gets
                       wharf-engine-api from:
                         PATH             its directory (a relative PATH is
                                          written relative to DIR)
                         git+URL          a git repository, default branch
                         git+URL#tag=TAG  or #branch=BRANCH, or #rev=COMMIT
                       [default: this checkout's engine-api, {}]
  -h, --help           print this help",
        default_api.display()
    )
}

/// The command line of `new-engine`, read.
#[derive(Debug, PartialEq, Eq)]
enum Request {
    Help,
    Create {
        name: String,
        path: Option<PathBuf>,
        engine_api: Option<SourceArg>,
    },
}

/// `--engine-api` as given, before it is resolved against the current
/// directory and the crate's.
#[derive(Debug, PartialEq, Eq)]
enum SourceArg {
    Path(PathBuf),
    Git { url: String, pin: Option<GitPin> },
}

/// Which commit of a git source Cargo checks out.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum GitPin {
    Rev(String),
    Tag(String),
    Branch(String),
}

/// What the generated Cargo.toml says about `wharf-engine-api`.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum EngineApi {
    /// The workspace's own, for a crate under `engines/`.
    Workspace,
    /// A directory, written as it goes into Cargo.toml (absolute, or
    /// relative to the crate).
    Path(String),
    Git {
        url: String,
        pin: Option<GitPin>,
    },
}

impl EngineApi {
    /// The dependency line of the generated Cargo.toml.
    fn dependency(&self) -> String {
        match self {
            EngineApi::Workspace => "wharf-engine-api.workspace = true".to_owned(),
            EngineApi::Path(path) => {
                format!("wharf-engine-api = {{ path = {} }}", toml_string(path))
            }
            EngineApi::Git { url, pin } => {
                let pin = match pin {
                    None => String::new(),
                    Some(GitPin::Rev(rev)) => format!(", rev = {}", toml_string(rev)),
                    Some(GitPin::Tag(tag)) => format!(", tag = {}", toml_string(tag)),
                    Some(GitPin::Branch(branch)) => {
                        format!(", branch = {}", toml_string(branch))
                    }
                };
                format!("wharf-engine-api = {{ git = {}{pin} }}", toml_string(url))
            }
        }
    }
}

/// Reads the arguments after `new-engine`. An error is what was wrong, to
/// be shown above the usage.
fn parse_args(args: &[OsString]) -> Result<Request> {
    let mut name = None;
    let mut path = None;
    let mut engine_api = None;
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        let Some(arg) = arg.to_str() else {
            bail!("{} is not UTF-8", arg.to_string_lossy());
        };
        // `--option=value` as well as `--option value`.
        let (option, inline) = match arg.split_once('=') {
            Some((option, value)) if option.starts_with("--") => (option, Some(value)),
            _ => (arg, None),
        };
        let mut value = |option: &str| -> Result<OsString> {
            match inline {
                Some(value) => Ok(value.into()),
                None => args
                    .next()
                    .cloned()
                    .with_context(|| format!("{option} needs a value")),
            }
        };
        match option {
            "-h" | "--help" => return Ok(Request::Help),
            "--path" => {
                if path.replace(PathBuf::from(value(option)?)).is_some() {
                    bail!("--path is given twice");
                }
            }
            "--engine-api" => {
                let given = value(option)?;
                let Some(given) = given.to_str() else {
                    bail!("--engine-api {} is not UTF-8", given.to_string_lossy());
                };
                if engine_api.replace(parse_source(given)?).is_some() {
                    bail!("--engine-api is given twice");
                }
            }
            _ if option.starts_with('-') => bail!("unknown option {option}"),
            _ if name.is_some() => bail!("one NAME only, not also {arg}"),
            _ => name = Some(arg.to_owned()),
        }
    }
    let name = name.context("NAME is missing")?;
    Ok(Request::Create {
        name,
        path,
        engine_api,
    })
}

/// Reads `--engine-api`: `git+URL[#rev=…|#tag=…|#branch=…]`, or a directory.
fn parse_source(given: &str) -> Result<SourceArg> {
    if given.is_empty() {
        bail!("--engine-api is empty");
    }
    let Some(git) = given.strip_prefix("git+") else {
        if given.contains("://") {
            bail!("--engine-api {given}: a git source starts with git+ (git+{given})");
        }
        return Ok(SourceArg::Path(PathBuf::from(given)));
    };
    let (url, fragment) = match git.split_once('#') {
        Some((url, fragment)) => (url, Some(fragment)),
        None => (git, None),
    };
    // Cargo takes URLs only (https://, ssh://, file://…), not scp-like
    // `git@host:path`.
    if !url.contains("://") || url.ends_with("://") {
        bail!("--engine-api {given}: git+ needs a URL, such as git+https://github.com/OWNER/wharf");
    }
    let pin = match fragment {
        None => None,
        Some(fragment) => {
            let (key, value) = fragment.split_once('=').unwrap_or((fragment, ""));
            if value.is_empty() {
                bail!(
                    "--engine-api {given}: say which commit as #tag=TAG, #branch=BRANCH or #rev=COMMIT"
                );
            }
            Some(match key {
                "rev" => GitPin::Rev(value.to_owned()),
                "tag" => GitPin::Tag(value.to_owned()),
                "branch" => GitPin::Branch(value.to_owned()),
                _ => bail!("--engine-api {given}: #{key}= is not one of #tag=, #branch=, #rev="),
            })
        }
    };
    Ok(SourceArg::Git {
        url: url.to_owned(),
        pin,
    })
}

/// Decides what the generated Cargo.toml depends on, for a crate in `dir`
/// (absolute); `cwd` is what relative arguments are relative to.
fn resolve_source(given: Option<SourceArg>, dir: &Path, cwd: &Path) -> Result<EngineApi> {
    if is_workspace_engine(dir) {
        if given.is_some() {
            bail!(
                "--engine-api is for a crate outside this workspace; {} is a member and uses the workspace's engine-api",
                dir.display()
            );
        }
        return Ok(EngineApi::Workspace);
    }
    let (path, relative) = match given {
        Some(SourceArg::Git { url, pin }) => return Ok(EngineApi::Git { url, pin }),
        Some(SourceArg::Path(path)) => {
            let relative = path.is_relative();
            (normalize(&cwd.join(path)), relative)
        }
        None => (workspace_root().join("engine-api"), false),
    };
    if !path.join("Cargo.toml").is_file() {
        bail!(
            "--engine-api {}: no Cargo.toml there; name the engine-api directory of a wharf checkout",
            path.display()
        );
    }
    if path.join("engine-api").join("Cargo.toml").is_file() {
        bail!(
            "--engine-api {}: that is a wharf checkout; name its engine-api directory, {}",
            path.display(),
            path.join("engine-api").display()
        );
    }
    // A relative path stays relative, as `cargo add --path` writes it, so
    // the crate and the checkout beside it can move together.
    let written = if relative {
        relative_path(&path, dir).unwrap_or(path)
    } else {
        path
    };
    let written = written
        .to_str()
        .with_context(|| format!("--engine-api {}: not UTF-8", written.display()))?;
    Ok(EngineApi::Path(written.to_owned()))
}

/// `cargo xtask new-engine …`.
pub(crate) fn new_engine(args: &[OsString]) -> Result<()> {
    let (name, path, engine_api) = match parse_args(args) {
        Ok(Request::Help) => {
            println!("{}", usage());
            return Ok(());
        }
        Ok(Request::Create {
            name,
            path,
            engine_api,
        }) => (name, path, engine_api),
        Err(err) => bail!("{err:#}\n\n{}", usage()),
    };
    check_engine_name(&name)?;
    let cwd = env::current_dir().context("cannot read the current directory")?;
    let dir = normalize(&match path {
        Some(path) => cwd.join(path),
        None => workspace_root().join("engines").join(&name),
    });
    let engine_api = resolve_source(engine_api, &dir, &cwd)?;
    let generated = generate_engine(&name, &dir, &engine_api)?;
    println!("created {} (crate {})", dir.display(), generated.package);
    let artifact = Profile::Debug.shown_library(&generated.library);
    if is_workspace_engine(&dir) {
        println!("next, from {}:", workspace_root().display());
        println!("  cargo build -p wharf -p {}", generated.package);
        println!("  target/debug/wharf engines inspect {artifact}");
        println!(
            "  target/debug/wharf conformance {artifact} --config-file engines/{name}/conformance.json"
        );
        println!("  cargo xtask dist   # ships it in target/dist/engines/ with the others");
    } else {
        println!("next (its README.md says more):");
        println!("  cd {} && cargo build", dir.display());
        println!("  wharf engines inspect {artifact}");
        println!("  wharf conformance {artifact} --config-file conformance.json");
    }
    Ok(())
}

/// The one rule for engine names, from engine-api: the name becomes the
/// engine's name in URLs and configs, a crate name and a Rust type name.
fn check_engine_name(name: &str) -> Result<()> {
    wharf_engine_api::check_engine_name(name).map_err(|problem| anyhow::anyhow!("NAME: {problem}"))
}

/// A directory right under `engines/` is a member of this workspace
/// (`engines/*`); anywhere else, the crate gets a workspace of its own.
fn is_workspace_engine(dir: &Path) -> bool {
    dir.parent() == Some(workspace_root().join("engines").as_path())
}

/// Writes a new engine crate named `name` into `dir` (absolute; new or
/// empty), depending on `engine_api`. Outside this workspace the crate
/// appears whole, with its pruned and checked Cargo.lock, or not at all.
pub(crate) fn generate_engine(
    name: &str,
    dir: &Path,
    engine_api: &EngineApi,
) -> Result<GeneratedEngine> {
    check_engine_name(name)?;
    if fs::read_dir(dir).is_ok_and(|mut entries| entries.next().is_some()) {
        bail!("{} already exists and is not empty", dir.display());
    }
    let inside = is_workspace_engine(dir);
    if inside != (*engine_api == EngineApi::Workspace) {
        bail!(
            "{} takes {}",
            dir.display(),
            if inside {
                "the workspace's engine-api"
            } else {
                "an engine-api path or git source"
            }
        );
    }
    let root_lock = read_lock(&workspace_root().join("Cargo.lock"))?;
    let ident = name.replace('-', "_");
    let package = format!("wharf-engine-{}", name.replace('_', "-"));
    let library = format!("wharf_{ident}");
    let files = render(name, &package, &library, engine_api, &root_lock, inside)?;
    if inside {
        write_files(dir, &files)?;
        return Ok(GeneratedEngine { package, library });
    }
    // Staged beside `dir`, so a relative engine-api path means the same
    // from both, then moved into place once the lock checks out.
    let parent = dir
        .parent()
        .with_context(|| format!("{} has no parent directory", dir.display()))?;
    let file_name = dir
        .file_name()
        .with_context(|| format!("{} names no directory", dir.display()))?;
    fs::create_dir_all(parent).with_context(|| format!("cannot create {}", parent.display()))?;
    let mut staged_name = OsString::from(".");
    staged_name.push(file_name);
    staged_name.push(format!(".new-engine-{}", process::id()));
    let staged = parent.join(staged_name);
    fs::create_dir(&staged).with_context(|| format!("cannot create {}", staged.display()))?;
    let finished = write_files(&staged, &files)
        .and_then(|()| lock_to_tested_versions(&staged, &root_lock))
        .and_then(|()| move_into_place(&staged, dir));
    if let Err(err) = finished {
        // Only ever a directory this run created, under a name of its own.
        let _ = fs::remove_dir_all(&staged);
        return Err(err);
    }
    Ok(GeneratedEngine { package, library })
}

/// The crate's files, filled in from the templates.
fn render(
    name: &str,
    package: &str,
    library: &str,
    engine_api: &EngineApi,
    root_lock: &[LockedPackage],
    inside: bool,
) -> Result<Vec<(&'static str, String)>> {
    let type_name: String = name
        .replace('-', "_")
        .split('_')
        .filter(|part| !part.is_empty())
        .map(|part| {
            let mut chars = part.chars();
            chars
                .next()
                .map(|first| first.to_ascii_uppercase().to_string() + chars.as_str())
                .unwrap_or_default()
        })
        .collect();
    let abi_pins = ABI_CRATES
        .iter()
        .map(|krate| {
            let versions = versions_of(root_lock, krate);
            match versions.as_slice() {
                [version] => Ok(format!("#   {krate} = \"={version}\"")),
                _ => bail!(
                    "{}: expected one version of {krate}, found {versions:?}",
                    workspace_root().join("Cargo.lock").display()
                ),
            }
        })
        .collect::<Result<Vec<_>>>()?
        .join("\n");
    let artifact = Profile::Debug.shown_library(library);
    let release_artifact = Profile::Release.shown_library(library);
    let values: [(&str, String); 15] = [
        ("name", name.to_owned()),
        ("type", type_name),
        ("crate", package.to_owned()),
        ("library", library.to_owned()),
        (
            "package_settings",
            if inside {
                "edition.workspace = true\nrust-version.workspace = true\nlicense.workspace = true\npublish.workspace = true".to_owned()
            } else {
                "edition = \"2024\"\npublish = false".to_owned()
            },
        ),
        ("api_dependency", engine_api.dependency()),
        ("abi_pins", abi_pins),
        (
            "workspace",
            if inside {
                String::new()
            } else {
                "\n# A workspace of its own, apart from any around it.\n[workspace]\n".to_owned()
            },
        ),
        (
            "build",
            if inside {
                format!("cargo build -p {package}")
            } else {
                "cargo build".to_owned()
            },
        ),
        (
            "where",
            if inside {
                "from the root of the wharf checkout".to_owned()
            } else {
                "in this directory".to_owned()
            },
        ),
        (
            "wharf",
            if inside {
                "target/debug/wharf".to_owned()
            } else {
                "wharf".to_owned()
            },
        ),
        (
            "get_wharf",
            if inside {
                "`cargo build -p wharf` builds it".to_owned()
            } else {
                format!(
                    "use the one of the host you will load it into, or build one with `cargo build -p wharf` in a wharf checkout (in the one this crate was generated from, that makes `{}`)",
                    Profile::Debug.dir().join("wharf").display()
                )
            },
        ),
        (
            "conformance_json",
            if inside {
                format!("engines/{name}/conformance.json")
            } else {
                "conformance.json".to_owned()
            },
        ),
        ("artifact", artifact),
        ("release_artifact", release_artifact),
    ];
    let fill = |template: &str| {
        values
            .iter()
            .fold(template.to_owned(), |text, (key, value)| {
                text.replace(&format!("{{{{{key}}}}}"), value)
            })
    };
    Ok([
        ("Cargo.toml", include_str!("../templates/engine/Cargo.toml")),
        ("src/lib.rs", include_str!("../templates/engine/lib.rs")),
        ("README.md", include_str!("../templates/engine/README.md")),
        (
            "conformance.json",
            include_str!("../templates/engine/conformance.json"),
        ),
    ]
    .into_iter()
    .map(|(file, template)| (file, fill(template)))
    .collect())
}

fn write_files(dir: &Path, files: &[(&str, String)]) -> Result<()> {
    fs::create_dir_all(dir.join("src"))
        .with_context(|| format!("cannot create {}", dir.display()))?;
    for (file, text) in files {
        fs::write(dir.join(file), text)
            .with_context(|| format!("cannot write {}", dir.join(file).display()))?;
    }
    Ok(())
}

/// Gives the crate in `dir` a Cargo.lock of its own dependencies only, at
/// the versions of this checkout's lock, and fails if the crates of the ABI
/// are not at the host's versions.
fn lock_to_tested_versions(dir: &Path, root_lock: &[LockedPackage]) -> Result<()> {
    // Starting from the workspace's lock, `cargo update --workspace`
    // re-resolves only the new crate: every package it still needs keeps
    // its locked version, and the rest of the workspace's graph is dropped.
    // (`cargo generate-lockfile` would take the newest of everything.)
    fs::copy(workspace_root().join("Cargo.lock"), dir.join("Cargo.lock"))
        .context("cannot copy this checkout's Cargo.lock")?;
    let output = cargo()
        .current_dir(dir)
        .args(["update", "--workspace", "--quiet"])
        .output()
        .context("cannot run cargo update")?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        // Locked packages stay locked, so an engine-api that wants other
        // versions of the ABI's crates than the host's fails here, in
        // cargo's words, before the check below could.
        let hint = if ABI_CRATES.iter().any(|krate| stderr.contains(krate)) {
            format!("\n{}", abi_mismatch_hint())
        } else {
            String::new()
        };
        bail!(
            "cargo update --workspace could not lock the new crate's dependencies at this checkout's versions:\n{}{hint}",
            stderr.trim_end()
        );
    }
    let lock = read_lock(&dir.join("Cargo.lock"))?;
    let untested = compare_locks(root_lock, &lock)?;
    if !untested.is_empty() {
        eprintln!(
            "note: the engine-api source needs versions this checkout is not tested with: {}",
            untested.join(", ")
        );
    }
    Ok(())
}

/// Fails unless `lock` has the ABI's crates at exactly the versions of
/// `root_lock`; answers the other packages whose version `root_lock` does
/// not have, though it has the crate.
fn compare_locks(root_lock: &[LockedPackage], lock: &[LockedPackage]) -> Result<Vec<String>> {
    for krate in ABI_CRATES {
        let host = versions_of(root_lock, krate);
        let engine = versions_of(lock, krate);
        if engine != host {
            bail!(
                "the new crate would lock {krate} {} but this checkout's host is built with {krate} {}.\n{}",
                shown(&engine),
                shown(&host),
                abi_mismatch_hint()
            );
        }
    }
    let tested: BTreeMap<&str, BTreeSet<&str>> =
        root_lock.iter().fold(BTreeMap::new(), |mut map, package| {
            map.entry(package.name.as_str())
                .or_default()
                .insert(package.version.as_str());
            map
        });
    Ok(lock
        .iter()
        .filter(|package| {
            tested
                .get(package.name.as_str())
                .is_some_and(|versions| !versions.contains(package.version.as_str()))
        })
        .map(|package| format!("{} {}", package.name, package.version))
        .collect())
}

fn abi_mismatch_hint() -> String {
    format!(
        "The layouts of {} are part of the ABI, so the engine must build with the versions \
         the host is built with. Name the engine-api of the wharf version this checkout is \
         (--engine-api), or run new-engine from a checkout of the version your host runs.",
        ABI_CRATES.join(" and ")
    )
}

fn shown(versions: &[String]) -> String {
    if versions.is_empty() {
        "(none)".to_owned()
    } else {
        versions.join(" and ")
    }
}

/// Moves the finished crate from `staged` to `dir`, which is missing or an
/// empty directory.
fn move_into_place(staged: &Path, dir: &Path) -> Result<()> {
    match fs::remove_dir(dir) {
        Ok(()) => {}
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
        Err(err) => bail!("cannot replace {}: {err}", dir.display()),
    }
    fs::rename(staged, dir)
        .with_context(|| format!("cannot move {} to {}", staged.display(), dir.display()))
}

/// One `[[package]]` of a Cargo.lock.
#[derive(Debug, PartialEq, Eq)]
struct LockedPackage {
    name: String,
    version: String,
}

fn read_lock(path: &Path) -> Result<Vec<LockedPackage>> {
    let text =
        fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let packages = parse_lock(&text);
    if packages.is_empty() {
        bail!("{} lists no packages", path.display());
    }
    Ok(packages)
}

/// The packages of a Cargo.lock. Cargo writes the file in one fixed layout
/// (`[[package]]`, then `name = "…"` and `version = "…"` lines), which is
/// all this reads.
fn parse_lock(text: &str) -> Vec<LockedPackage> {
    let quoted = |line: &str, key: &str| -> Option<String> {
        line.strip_prefix(key)?
            .trim_start()
            .strip_prefix('=')?
            .trim()
            .strip_prefix('"')?
            .strip_suffix('"')
            .map(str::to_owned)
    };
    let mut packages = Vec::new();
    let mut current: Option<(Option<String>, Option<String>)> = None;
    let mut finish = |current: &mut Option<(Option<String>, Option<String>)>| {
        if let Some((Some(name), Some(version))) = current.take() {
            packages.push(LockedPackage { name, version });
        }
    };
    for line in text.lines().map(str::trim) {
        if line.starts_with('[') {
            finish(&mut current);
            if line == "[[package]]" {
                current = Some((None, None));
            }
        } else if let Some((name, version)) = current.as_mut() {
            if let Some(value) = quoted(line, "name") {
                *name = Some(value);
            } else if let Some(value) = quoted(line, "version") {
                *version = Some(value);
            }
        }
    }
    finish(&mut current);
    packages
}

fn versions_of(lock: &[LockedPackage], name: &str) -> Vec<String> {
    let mut versions: Vec<String> = lock
        .iter()
        .filter(|package| package.name == name)
        .map(|package| package.version.clone())
        .collect();
    versions.sort();
    versions
}

/// `path` without `.` and `..`, the way Cargo reads a path dependency
/// (lexically, without following links).
fn normalize(path: &Path) -> PathBuf {
    let mut normal = PathBuf::new();
    for component in path.components() {
        match component {
            Component::CurDir => {}
            Component::ParentDir => {
                if !normal.pop() {
                    normal.push(component);
                }
            }
            _ => normal.push(component),
        }
    }
    normal
}

/// `target` as a path relative to `base` (both absolute and normalized);
/// `None` when they share no root (two drives).
fn relative_path(target: &Path, base: &Path) -> Option<PathBuf> {
    let target: Vec<Component> = target.components().collect();
    let base: Vec<Component> = base.components().collect();
    if target.first() != base.first() {
        return None;
    }
    let common = target.iter().zip(&base).take_while(|(a, b)| a == b).count();
    let mut relative = PathBuf::new();
    for _ in common..base.len() {
        relative.push("..");
    }
    for component in &target[common..] {
        relative.push(component);
    }
    if relative.as_os_str().is_empty() {
        relative.push(".");
    }
    Some(relative)
}

/// `text` as a TOML basic string.
fn toml_string(text: &str) -> String {
    let mut quoted = String::with_capacity(text.len() + 2);
    quoted.push('"');
    for c in text.chars() {
        match c {
            '"' => quoted.push_str("\\\""),
            '\\' => quoted.push_str("\\\\"),
            // Every control character is below U+10000.
            c if c.is_control() => {
                let _ = write!(quoted, "\\u{:04X}", u32::from(c));
            }
            c => quoted.push(c),
        }
    }
    quoted.push('"');
    quoted
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<OsString> {
        list.iter().map(OsString::from).collect()
    }

    #[test]
    fn reads_the_command_line() {
        assert_eq!(parse_args(&args(&["-h"])).ok(), Some(Request::Help));
        assert_eq!(
            parse_args(&args(&["x", "--help"])).ok(),
            Some(Request::Help)
        );
        assert_eq!(
            parse_args(&args(&["x", "--path=d", "--engine-api", "../w/engine-api"])).ok(),
            Some(Request::Create {
                name: "x".into(),
                path: Some("d".into()),
                engine_api: Some(SourceArg::Path("../w/engine-api".into())),
            })
        );
        for bad in [
            &[][..],
            &["x", "y"],
            &["x", "--path"],
            &["x", "--pth", "d"],
            &["x", "--path", "a", "--path", "b"],
            &["x", "--engine-api", ""],
        ] {
            assert!(parse_args(&args(bad)).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn reads_git_sources() {
        let git = |url: &str, pin| SourceArg::Git {
            url: url.into(),
            pin,
        };
        assert_eq!(
            parse_source("git+https://github.com/o/wharf").ok(),
            Some(git("https://github.com/o/wharf", None))
        );
        assert_eq!(
            parse_source("git+https://github.com/o/wharf#tag=v0.2.0").ok(),
            Some(git(
                "https://github.com/o/wharf",
                Some(GitPin::Tag("v0.2.0".into()))
            ))
        );
        assert_eq!(
            parse_source("git+ssh://git@host/wharf.git#branch=abi2").ok(),
            Some(git(
                "ssh://git@host/wharf.git",
                Some(GitPin::Branch("abi2".into()))
            ))
        );
        assert_eq!(
            parse_source("git+file:///src/wharf#rev=bc56b94").ok(),
            Some(git(
                "file:///src/wharf",
                Some(GitPin::Rev("bc56b94".into()))
            ))
        );
        for bad in [
            "https://github.com/o/wharf",
            "git+",
            "git+git@github.com:o/wharf",
            "git+https://h/w#",
            "git+https://h/w#tag=",
            "git+https://h/w#v1",
            "git+https://h/w#commit=abc",
        ] {
            assert!(parse_source(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn writes_the_dependency_cargo_reads() {
        assert_eq!(
            EngineApi::Path("../wharf/engine-api".into()).dependency(),
            r#"wharf-engine-api = { path = "../wharf/engine-api" }"#
        );
        assert_eq!(
            EngineApi::Git {
                url: "https://github.com/o/wharf".into(),
                pin: Some(GitPin::Rev("0123abc".into()))
            }
            .dependency(),
            r#"wharf-engine-api = { git = "https://github.com/o/wharf", rev = "0123abc" }"#
        );
        assert_eq!(toml_string("C:\\a \"b\"\u{1}"), r#""C:\\a \"b\"\u0001""#);
    }

    #[test]
    fn relative_paths_are_taken_from_the_crate() {
        assert_eq!(
            normalize(Path::new("/a/./b/../c/d/..")),
            PathBuf::from("/a/c")
        );
        assert_eq!(
            relative_path(Path::new("/src/wharf/engine-api"), Path::new("/src/mine")),
            Some(PathBuf::from("../wharf/engine-api"))
        );
        assert_eq!(
            relative_path(Path::new("/src/api"), Path::new("/src/a/b")),
            Some(PathBuf::from("../../api"))
        );
        assert_eq!(
            relative_path(Path::new("/src/mine/api"), Path::new("/src/mine")),
            Some(PathBuf::from("api"))
        );
    }

    #[test]
    fn reads_a_cargo_lock() {
        let lock = "# comment\nversion = 4\n\n[[package]]\nname = \"abi_stable\"\nversion = \"0.11.3\"\nsource = \"registry+https://github.com/rust-lang/crates.io-index\"\ndependencies = [\n \"x\",\n]\n\n[[package]]\nname = \"me\"\nversion = \"0.1.0\"\n\n[metadata]\nname = \"not a package\"\nversion = \"9\"\n";
        assert_eq!(
            parse_lock(lock),
            vec![
                LockedPackage {
                    name: "abi_stable".into(),
                    version: "0.11.3".into()
                },
                LockedPackage {
                    name: "me".into(),
                    version: "0.1.0".into()
                },
            ]
        );
    }

    #[test]
    fn the_abi_crates_must_be_at_the_hosts_versions() {
        let lock = |packages: &[(&str, &str)]| -> Vec<LockedPackage> {
            packages
                .iter()
                .map(|(name, version)| LockedPackage {
                    name: (*name).into(),
                    version: (*version).into(),
                })
                .collect()
        };
        let root = lock(&[
            ("abi_stable", "0.11.3"),
            ("async-ffi", "0.5.1"),
            ("tokio", "1.54.1"),
            ("axum", "0.8.9"),
        ]);
        assert_eq!(
            compare_locks(
                &root,
                &lock(&[("abi_stable", "0.11.3"), ("async-ffi", "0.5.1")])
            )
            .ok(),
            Some(vec![])
        );
        assert_eq!(
            compare_locks(
                &root,
                &lock(&[
                    ("abi_stable", "0.11.3"),
                    ("async-ffi", "0.5.1"),
                    ("tokio", "1.60.0"),
                    ("new-crate", "1.0.0"),
                ])
            )
            .ok(),
            Some(vec!["tokio 1.60.0".to_owned()])
        );
        for wrong in [
            lock(&[("abi_stable", "0.11.2"), ("async-ffi", "0.5.1")]),
            lock(&[
                ("abi_stable", "0.11.3"),
                ("abi_stable", "0.12.0"),
                ("async-ffi", "0.5.1"),
            ]),
            lock(&[("abi_stable", "0.11.3")]),
        ] {
            assert!(compare_locks(&root, &wrong).is_err(), "{wrong:?}");
        }
    }

    #[test]
    fn engine_names_keep_to_one_rule() {
        for good in ["a", "my-engine", "x_2"] {
            assert!(check_engine_name(good).is_ok(), "{good}");
        }
        for bad in ["", "2x", "-x", "My", "a.b", &"a".repeat(65)] {
            assert!(check_engine_name(bad).is_err(), "{bad}");
        }
    }
}
