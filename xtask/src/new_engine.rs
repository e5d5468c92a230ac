//! `cargo xtask new-engine NAME [--path DIR] [--engine-api SOURCE]`: a new
//! engine crate that builds and passes `wharf conformance` as generated.
//!
//! Under `engines/` the crate is a member of this workspace. Anywhere else
//! it is written for an author who has no wharf checkout around it: a
//! workspace of its own, with `wharf-engine-api` from the path or git
//! source the author names.

use std::{
    env,
    ffi::OsString,
    fmt::Write as _,
    fs,
    path::{Component, Path, PathBuf},
};

use anyhow::{Context, Result, bail};

use crate::{library_file, workspace_root};

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
                       outside this checkout
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
    println!("next:");
    if is_workspace_engine(&dir) {
        println!("  cargo build -p {}", generated.package);
        println!(
            "  target/debug/wharf conformance target/debug/{}",
            library_file(&generated.library)
        );
        println!("  cargo xtask dist   # ships it in target/dist/engines/ with the others");
    } else {
        println!("  cd {} && cargo build", dir.display());
        println!(
            "  wharf conformance target/debug/{}",
            library_file(&generated.library)
        );
    }
    Ok(())
}

/// The one rule `new-engine` holds engine names to.
fn check_engine_name(name: &str) -> Result<()> {
    let name_ok = !name.is_empty()
        && name.len() <= 64
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
    if !name_ok {
        bail!(
            "NAME: '{name}' must start with a-z and be up to 64 characters of a-z, 0-9, '-' or '_' (it becomes the engine's name in URLs and configs)"
        );
    }
    Ok(())
}

/// A directory right under `engines/` is a member of this workspace
/// (`engines/*`); anywhere else, the crate gets a workspace of its own.
fn is_workspace_engine(dir: &Path) -> bool {
    dir.parent() == Some(workspace_root().join("engines").as_path())
}

/// Writes a new engine crate named `name` into `dir` (absolute; new or
/// empty), depending on `engine_api`.
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
    let ident = name.replace('-', "_");
    let package = format!("wharf-engine-{}", name.replace('_', "-"));
    let library = format!("wharf_{ident}");
    let files = render(name, &package, &library, engine_api, inside);
    write_files(dir, &files)?;
    if !inside {
        // Start from the versions this repository is tested with, rather than
        // whatever is newest on crates.io today.
        fs::copy(workspace_root().join("Cargo.lock"), dir.join("Cargo.lock"))?;
    }
    Ok(GeneratedEngine { package, library })
}

/// The crate's files, filled in from the templates.
fn render(
    name: &str,
    package: &str,
    library: &str,
    engine_api: &EngineApi,
    inside: bool,
) -> Vec<(&'static str, String)> {
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
    let artifact = format!("target/debug/{}", library_file(library));
    let values: [(&str, String); 9] = [
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
        ("artifact", artifact),
    ];
    let fill = |template: &str| {
        values
            .iter()
            .fold(template.to_owned(), |text, (key, value)| {
                text.replace(&format!("{{{{{key}}}}}"), value)
            })
    };
    [
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
    .collect()
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
    fn engine_names_keep_to_one_rule() {
        for good in ["a", "my-engine", "x_2"] {
            assert!(check_engine_name(good).is_ok(), "{good}");
        }
        for bad in ["", "2x", "-x", "My", "a.b", &"a".repeat(65)] {
            assert!(check_engine_name(bad).is_err(), "{bad}");
        }
    }
}
