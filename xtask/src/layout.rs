//! The directory layout the host runs from: its binary with the engine
//! libraries in `engines/` beside it, its default engines directory.

use std::{
    fs,
    path::{Path, PathBuf},
};

use anyhow::{Context, Result};

use crate::{
    engines::EngineCrate,
    paths::{Profile, host_binary_file, library_file, target_dir},
};

/// Copies the host binary and the libraries of `engines` built in
/// `profile` into `target/{into}/` (`wharf` and `engines/`), the layout the
/// host expects; returns that directory.
pub(crate) fn lay_out(profile: Profile, into: &str, engines: &[EngineCrate]) -> Result<PathBuf> {
    let built = profile.dir();
    let out = target_dir().join(into);
    let out_engines = out.join("engines");
    fs::create_dir_all(&out_engines)?;
    let binary = host_binary_file();
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
