//! `wharf engines list` and `wharf engines inspect`: what an operator needs
//! to know about engine libraries before starting a server with them.
//!
//! The checks are the server's own ([`crate::engines`]); this module only
//! renders their outcome, as text for people or Markdown for documentation.

use std::{fmt::Write, path::Path};

use anyhow::Context;
use wharf_engine_api::{ABI_VERSION, Manifest};

use crate::{
    config::Format,
    engines::{Feature, LibraryFile, LoadedEngine, Loader, Operation, Registry, RejectedLibrary},
};

fn loader() -> anyhow::Result<Loader> {
    Loader::for_tool().context("cannot prepare to load engine libraries")
}

/// Prints every library of `dir`; returns whether all were accepted.
pub fn list(dir: &Path, format: Format) -> anyhow::Result<bool> {
    let registry = Registry::try_load(dir, loader()?)
        .with_context(|| format!("cannot read the engines directory {}", dir.display()))?;
    let snapshot = registry.snapshot();
    let libraries: Vec<&LibraryFile> = snapshot.libraries().collect();
    print!("{}", render(&libraries, format));
    if libraries.is_empty() && format == Format::Text {
        println!("no engine libraries in {}", dir.display());
    }
    Ok(snapshot.rejected().next().is_none())
}

/// Prints one library file; returns whether it was accepted.
pub fn inspect(file: &Path, format: Format) -> anyhow::Result<bool> {
    let library = match loader()?.load(file) {
        Ok(engine) => LibraryFile::Loaded(engine.into()),
        Err(rejected) => LibraryFile::Rejected(rejected.into()),
    };
    print!("{}", render(&[&library], format));
    Ok(matches!(library, LibraryFile::Loaded(_)))
}

/// Renders libraries in `format`.
pub fn render(libraries: &[&LibraryFile], format: Format) -> String {
    match format {
        Format::Text => libraries.iter().map(|library| text(library)).collect(),
        Format::Markdown => markdown(libraries),
    }
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_else(|| path.display().to_string())
}

fn text(library: &LibraryFile) -> String {
    let mut out = String::new();
    match library {
        LibraryFile::Loaded(engine) => {
            let _ = writeln!(out, "{}: accepted", engine.file().display());
            manifest_lines(&mut out, engine.manifest());
            let _ = writeln!(out, "  features:");
            for (key, feature) in engine.feature_matrix() {
                let _ = match feature {
                    Feature::Supported => writeln!(out, "    {key:<26} supported"),
                    Feature::Unsupported { reason } => {
                        writeln!(out, "    {key:<26} unsupported: {reason}")
                    }
                };
            }
        }
        LibraryFile::Rejected(rejected) => {
            let RejectedLibrary {
                file,
                reason,
                manifest,
            } = rejected.as_ref();
            let _ = writeln!(out, "{}: rejected", file.display());
            let _ = writeln!(out, "  reason:      {reason}");
            if let Some(manifest) = manifest {
                manifest_lines(&mut out, manifest);
            }
        }
    }
    out.push('\n');
    out
}

fn manifest_lines(out: &mut String, manifest: &Manifest) {
    let _ = writeln!(out, "  engine:      {} {}", manifest.name, manifest.version);
    let _ = writeln!(
        out,
        "  abi:         {} (this host speaks {ABI_VERSION})",
        manifest.abi_version
    );
    if !manifest.description.is_empty() {
        let _ = writeln!(out, "  description: {}", manifest.description);
    }
}

/// A table of features (rows) by engine (columns, by name and version),
/// then each engine's description, then any rejected files.
fn markdown(libraries: &[&LibraryFile]) -> String {
    let mut engines: Vec<&LoadedEngine> = libraries
        .iter()
        .filter_map(|library| match library {
            LibraryFile::Loaded(engine) => Some(engine.as_ref()),
            LibraryFile::Rejected(_) => None,
        })
        .collect();
    engines.sort_by(|a, b| (a.name(), a.version()).cmp(&(b.name(), b.version())));
    let mut out = String::new();
    if !engines.is_empty() {
        out.push_str("| feature |");
        for engine in &engines {
            let _ = write!(out, " `{}` {} |", engine.name(), engine.version());
        }
        out.push_str("\n|---|");
        out.push_str(&"---|".repeat(engines.len()));
        out.push('\n');
        for operation in Operation::ALL {
            let _ = write!(out, "| `{operation}` |");
            for engine in &engines {
                let _ = match engine.feature(operation) {
                    Feature::Supported => write!(out, " yes |"),
                    Feature::Unsupported { reason } => {
                        write!(out, " no: {} |", escape_cell(reason))
                    }
                };
            }
            out.push('\n');
        }
        out.push('\n');
        for engine in &engines {
            let _ = writeln!(
                out,
                "- **{}** {} (ABI {}): {}",
                engine.name(),
                engine.version(),
                engine.manifest().abi_version,
                engine.manifest().description
            );
        }
    }
    for library in libraries {
        if let LibraryFile::Rejected(rejected) = library {
            let _ = writeln!(
                out,
                "- `{}` is rejected: {}",
                file_name(&rejected.file),
                rejected.reason
            );
        }
    }
    out
}

fn escape_cell(text: &str) -> String {
    text.replace('|', "\\|").replace('\n', " ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_cells_cannot_break_the_table() {
        assert_eq!(escape_cell("a | b\nc"), "a \\| b c");
    }

    #[test]
    fn a_rejected_file_is_shown_with_its_reason() {
        let library = LibraryFile::Rejected(
            RejectedLibrary {
                file: "/engines/libold.so".into(),
                reason: "incompatible engine ABI (this host speaks 2.3.0): the library was built for ABI 1.0.0".into(),
                manifest: None,
            }
            .into(),
        );
        let shown = render(&[&library], Format::Text);
        assert!(
            shown.starts_with("/engines/libold.so: rejected\n"),
            "{shown}"
        );
        assert!(
            shown.contains("  reason:      incompatible engine ABI"),
            "{shown}"
        );
        let documented = render(&[&library], Format::Markdown);
        assert_eq!(
            documented,
            "- `libold.so` is rejected: incompatible engine ABI (this host speaks 2.3.0): the library was built for ABI 1.0.0\n"
        );
    }
}
