//! `cargo xtask new-engine NAME [--path DIR]`: a new engine crate that
//! builds and passes `wharf conformance` as generated, in `engines/NAME` or
//! anywhere else.

use std::{
    env,
    ffi::OsString,
    fs,
    path::{Path, PathBuf},
};

use anyhow::{Context, Result, bail};

use crate::{library_file, workspace_root};

/// What `new-engine` made.
pub(crate) struct GeneratedEngine {
    pub(crate) package: String,
    pub(crate) library: String,
}

fn usage() -> String {
    "usage: cargo xtask new-engine NAME [--path DIR]

Writes a new wharf engine crate that builds and passes `wharf conformance`
as generated.

  NAME                 the engine's name, as sessions name it: up to 64
                       characters of a-z, 0-9, '-' or '_', starting with a-z
  --path DIR           where to write the crate, a new or empty directory
                       [default: engines/NAME, a member of this workspace];
                       anywhere else it is a crate of its own
  -h, --help           print this help"
        .to_owned()
}

/// The command line of `new-engine`, read.
#[derive(Debug, PartialEq, Eq)]
enum Request {
    Help,
    Create { name: String, path: Option<PathBuf> },
}

/// Reads the arguments after `new-engine`. An error is what was wrong, to
/// be shown above the usage.
fn parse_args(args: &[OsString]) -> Result<Request> {
    let mut name = None;
    let mut path = None;
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
            _ if option.starts_with('-') => bail!("unknown option {option}"),
            _ if name.is_some() => bail!("one NAME only, not also {arg}"),
            _ => name = Some(arg.to_owned()),
        }
    }
    let name = name.context("NAME is missing")?;
    Ok(Request::Create { name, path })
}

/// `cargo xtask new-engine …`.
pub(crate) fn new_engine(args: &[OsString]) -> Result<()> {
    let (name, path) = match parse_args(args) {
        Ok(Request::Help) => {
            println!("{}", usage());
            return Ok(());
        }
        Ok(Request::Create { name, path }) => (name, path),
        Err(err) => bail!("{err:#}\n\n{}", usage()),
    };
    check_engine_name(&name)?;
    let root = workspace_root();
    let dir = match path {
        Some(path) => env::current_dir()?.join(path),
        None => root.join("engines").join(&name),
    };
    let generated = generate_engine(&name, &dir)?;
    let inside = is_workspace_engine(&dir);
    println!("created {} (crate {})", dir.display(), generated.package);
    println!("next:");
    if inside {
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

/// Writes a new engine crate named `name` into `dir` (which must be new or
/// empty).
pub(crate) fn generate_engine(name: &str, dir: &Path) -> Result<GeneratedEngine> {
    check_engine_name(name)?;
    if fs::read_dir(dir).is_ok_and(|mut entries| entries.next().is_some()) {
        bail!("{} already exists and is not empty", dir.display());
    }
    let root = workspace_root();
    let ident = name.replace('-', "_");
    let package = format!("wharf-engine-{}", name.replace('_', "-"));
    let library = format!("wharf_{ident}");
    let type_name: String = ident
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
    let inside = is_workspace_engine(dir);
    let artifact = format!("target/debug/{}", library_file(&library));
    let values: [(&str, String); 9] = [
        ("name", name.to_owned()),
        ("type", type_name),
        ("crate", package.clone()),
        ("library", library.clone()),
        (
            "package_settings",
            if inside {
                "edition.workspace = true\nrust-version.workspace = true\nlicense.workspace = true\npublish.workspace = true".to_owned()
            } else {
                "edition = \"2024\"\npublish = false".to_owned()
            },
        ),
        (
            "api_dependency",
            if inside {
                "wharf-engine-api.workspace = true".to_owned()
            } else {
                format!(
                    "wharf-engine-api = {{ path = {:?} }}",
                    root.join("engine-api").display().to_string()
                )
            },
        ),
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
    fs::create_dir_all(dir.join("src"))
        .with_context(|| format!("cannot create {}", dir.display()))?;
    let files = [
        ("Cargo.toml", include_str!("../templates/engine/Cargo.toml")),
        ("src/lib.rs", include_str!("../templates/engine/lib.rs")),
        ("README.md", include_str!("../templates/engine/README.md")),
        (
            "conformance.json",
            include_str!("../templates/engine/conformance.json"),
        ),
    ];
    for (file, template) in files {
        fs::write(dir.join(file), fill(template))
            .with_context(|| format!("cannot write {}", dir.join(file).display()))?;
    }
    if !inside {
        // Start from the versions this repository is tested with, rather than
        // whatever is newest on crates.io today.
        fs::copy(root.join("Cargo.lock"), dir.join("Cargo.lock"))?;
    }
    Ok(GeneratedEngine { package, library })
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
            parse_args(&args(&["x", "--path=d"])).ok(),
            Some(Request::Create {
                name: "x".into(),
                path: Some("d".into()),
            })
        );
        for bad in [
            &[][..],
            &["x", "y"],
            &["x", "--path"],
            &["x", "--pth", "d"],
            &["x", "--path", "a", "--path", "b"],
        ] {
            assert!(parse_args(&args(bad)).is_err(), "{bad:?}");
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
