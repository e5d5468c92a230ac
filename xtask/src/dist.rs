//! `cargo xtask dist`: what a release ships, in one directory.

use anyhow::Result;

use crate::{
    command::{cargo, run},
    engines::shipped_engines,
    layout::lay_out,
    paths::Profile,
};

/// Builds the release host and every engine into `target/dist/`.
pub(crate) fn dist() -> Result<()> {
    let engines = shipped_engines()?;
    let mut build = cargo();
    build.args(["build", "--release", "--package", "wharf"]);
    for engine in &engines {
        build.args(["--package", &engine.package]);
    }
    run(build)?;
    let dist = lay_out(Profile::Release, "dist", &engines)?;
    println!("dist ready in {}", dist.display());
    Ok(())
}
