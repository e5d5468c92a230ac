//! The engines shipped with wharf: the crates under `engines/`, as cargo
//! describes them.

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use serde_json::Value;

use crate::{command::cargo, paths::workspace_root};

/// A shipped engine: a package under `engines/` with a cdylib target.
pub(crate) struct EngineCrate {
    pub(crate) package: String,
    /// The cdylib's name, which its file name is made from.
    pub(crate) library: String,
    pub(crate) dir: PathBuf,
    /// Extra `wharf conformance` arguments, from the crate's
    /// `[package.metadata.wharf] conformance-args`.
    pub(crate) conformance_args: Vec<String>,
}

/// Every shipped engine. Finding none is an error: each caller ships,
/// serves or checks them, and would otherwise quietly do nothing.
pub(crate) fn shipped_engines() -> Result<Vec<EngineCrate>> {
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
