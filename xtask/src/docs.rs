//! `cargo xtask docs [--check]`: `docs/engines.md`, the feature table of the
//! shipped engines, kept in step with their manifests.

use std::{ffi::OsString, fs, process::Command};

use anyhow::{Context, Result, bail};

use crate::{
    command::build_workspace,
    engines::shipped_engines,
    layout::lay_out,
    paths::{Profile, host_binary_file, workspace_root},
};

const ENGINES_DOC: &str = "docs/engines.md";

/// Writes (or, with `--check`, verifies) the feature table of the shipped
/// engines, read from their manifests by `wharf engines list`.
pub(crate) fn docs(args: &[OsString]) -> Result<()> {
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
    let layout = lay_out(Profile::Debug, "docs", &engines)?;
    let output = Command::new(layout.join(host_binary_file()))
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
