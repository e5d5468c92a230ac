use std::{io::IsTerminal, process::ExitCode};

use clap::Parser;
use tracing_subscriber::EnvFilter;
use wharf::config::{Cli, Command, EnginesCommand};

#[tokio::main]
async fn main() -> ExitCode {
    // Every file and directory this process creates is private to the user
    // that runs the host (0600 and 0700 at most), whatever umask it was
    // started with: the database, the sessions' data, and whatever engines
    // write, as they run in this process. Set first, before anything is
    // created; the umask is the process's, so it holds on every thread.
    #[cfg(unix)]
    rustix::process::umask(rustix::fs::Mode::from_raw_mode(0o077));
    let cli = Cli::parse();
    // A server logs what it does; the one-shot tools only what goes wrong,
    // so their report is not buried.
    let default_level = match cli.command {
        Command::Serve(_) => "info",
        _ => "error",
    };
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_level)),
        )
        .with_writer(std::io::stderr)
        // Colour codes only for a person at a terminal, not in log files.
        .with_ansi(std::io::stderr().is_terminal())
        .init();
    let outcome = match cli.command {
        Command::Serve(args) => wharf::serve(args).await.map(|()| true),
        Command::Engines(EnginesCommand::List {
            engines_dir,
            format,
        }) => match engines_dir {
            Some(dir) => Ok(dir),
            None => wharf::config::default_engines_dir(),
        }
        .and_then(|dir| wharf::tools::inspect::list(&dir, format)),
        Command::Engines(EnginesCommand::Inspect { file, format }) => {
            wharf::tools::inspect::inspect(&file, format)
        }
        Command::Conformance(args) => wharf::tools::conformance::run(args).await,
        Command::ProbeEngine { file } => Ok(wharf::engines::probe_engine(&file)),
    };
    match outcome {
        Ok(true) => ExitCode::SUCCESS,
        // A rejected library or a failed check: the output said which.
        Ok(false) => ExitCode::from(1),
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::from(2)
        }
    }
}
