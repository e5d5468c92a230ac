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
//!   `engines/`, on a freshly generated one, and on the engines frozen at
//!   earlier ABIs in `tests/abi/` (part of `test`).
//! - `cargo xtask attack [ARGS…]`: the end-to-end tests that attack the
//!   host from outside (part of `test`), on their own.
//! - `cargo xtask docs [--check]`: write `docs/engines.md` from the shipped
//!   engines' manifests; with `--check`, fail if it is not up to date.
//!
//! Each command is a module of its own; `paths` knows where the workspace
//! and its built files are, and `command` runs cargo and the rest.

use std::{env, ffi::OsString, process::ExitCode};

use anyhow::{Result, bail};

mod attack;
mod bench;
mod clients;
mod command;
mod conformance;
mod dist;
mod docs;
mod engines;
mod layout;
mod new_engine;
mod paths;
mod serve;
mod test;

use command::build_workspace;

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
        "dist" => dist::dist(),
        "serve" => serve::serve(&rest),
        "test" => test::test(&rest),
        "bench" => bench::bench(&rest),
        "new-engine" => new_engine::new_engine(&rest),
        "conformance" => {
            build_workspace()?;
            conformance::conformance_of_engines()
        }
        "docs" => docs::docs(&rest),
        "attack" => {
            build_workspace()?;
            attack::attack(&rest)
        }
        "help" | "--help" | "-h" => {
            println!("{USAGE}\n\nThe module docs of xtask/src/main.rs say what each does.");
            Ok(())
        }
        _ => bail!("{USAGE}"),
    }
}
