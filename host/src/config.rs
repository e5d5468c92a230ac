//! The command line and its environment variables.

use std::{net::SocketAddr, path::PathBuf, time::Duration};

use anyhow::Context;
use clap::{Args, Parser, Subcommand};

use crate::{engines::EngineRef, http::auth::ApiKeys, sessions::config_files::ConfigFiles};

/// wharf: a WhatsApp HTTP API server (WAHA-compatible) with plug-in engines.
#[derive(Debug, Parser)]
#[command(version, about)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the HTTP server.
    Serve(ServeArgs),
    /// Inspect engine libraries without starting a server.
    #[command(subcommand)]
    Engines(EnginesCommand),
    /// Check an engine library the way the host will use it, and report.
    Conformance(ConformanceArgs),
    /// Load one engine library with every check and print the verdict as
    /// JSON: the host runs this in a child process before it maps a library
    /// itself, so that a damaged one cannot crash it.
    #[command(name = crate::engines::PROBE_COMMAND, hide = true)]
    ProbeEngine {
        /// The library file (a private copy the host made).
        file: PathBuf,
    },
}

#[derive(Debug, Subcommand)]
pub enum EnginesCommand {
    /// Every library in the engines directory: manifest, whether this host
    /// accepts it (and why not), and its features. Exits 1 if any is rejected.
    List {
        /// Directory of engine libraries [default: `engines/` beside the binary].
        #[arg(long, env = "WHARF_ENGINES_DIR")]
        engines_dir: Option<PathBuf>,
        /// `text`, or `markdown` for documentation.
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
    /// One library file, as `list` shows it. Exits 1 if it is rejected.
    Inspect {
        /// The library file.
        file: PathBuf,
        /// `text`, or `markdown` for documentation.
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
}

/// How `wharf engines` prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Text,
    Markdown,
}

#[derive(Debug, Clone, Args)]
pub struct ConformanceArgs {
    /// The engine library to check.
    pub file: PathBuf,

    /// The session config (JSON object) the engine's sessions are opened with.
    #[arg(long, default_value = "{}", conflicts_with = "config_file")]
    pub config: String,

    /// A file holding the session config (a JSON object), in place of
    /// `--config`: a config with tokens stays off the command line. Errors
    /// name the file and never quote what it holds.
    #[arg(long, value_name = "PATH")]
    pub config_file: Option<PathBuf>,

    /// Seconds one operation may take, as `wharf serve --engine-timeout`.
    #[arg(long, default_value = "30", value_parser = parse_seconds)]
    pub engine_timeout: Duration,

    /// Directory of files the session config may name, as `wharf serve
    /// --config-files-dir`.
    #[arg(long)]
    pub config_files_dir: Option<PathBuf>,

    /// Make no writes: leave contacts.upsert, contacts.block and
    /// contacts.unblock unchecked. (Without it, conformance writes only to a
    /// contact it creates itself, on a number no one can have.)
    #[arg(long)]
    pub read_only: bool,

    /// Pass even if no session reaches WORKING, so that no contacts
    /// feature is checked: for an engine that needs an account or a
    /// network the check cannot have (only loading, the manifest, opening
    /// with a reason, pairing and closing are checked). Without it such a
    /// run fails.
    #[arg(long)]
    pub allow_not_working: bool,

    /// How many calls the concurrency check makes at once.
    #[arg(long, default_value = "200", value_parser = clap::value_parser!(u16).range(1..=10_000))]
    pub concurrent_calls: u16,
}

/// The engines directory when none is given: `engines/` beside the binary,
/// the layout of `cargo xtask dist`.
pub fn default_engines_dir() -> anyhow::Result<PathBuf> {
    let exe = std::env::current_exe().context("cannot find the wharf binary's path")?;
    let beside = exe
        .parent()
        .context("the wharf binary has no parent directory")?;
    Ok(beside.join("engines"))
}

#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "WHARF_LISTEN", default_value = "127.0.0.1:3000")]
    pub listen: SocketAddr,

    /// Directory of engine libraries [default: `engines/` beside the binary].
    #[arg(long, env = "WHARF_ENGINES_DIR")]
    pub engines_dir: Option<PathBuf>,

    /// Rescan the engines directory whenever its libraries change (SIGHUP
    /// and `POST /api/server/engines/reload` always do). The variable takes
    /// 1/0, true/false, yes/no or on/off.
    #[arg(long, env = "WHARF_WATCH_ENGINES", action = clap::ArgAction::SetTrue,
        value_parser = clap::builder::BoolishValueParser::new())]
    pub watch: bool,

    /// Serve `/metrics` without the API key (WAHA's style of switch: 1/0,
    /// true/false, yes/no or on/off). Off: `/metrics` needs the key, when
    /// one is set.
    #[arg(long, env = "WHARF_METRICS_PUBLIC", action = clap::ArgAction::SetTrue,
        value_parser = clap::builder::BoolishValueParser::new())]
    pub metrics_public: bool,

    /// Directory for the host's and the sessions' data.
    #[arg(long, env = "WHARF_DATA_DIR", default_value = "./.wharf")]
    pub data_dir: PathBuf,

    /// Keep sessions, their stores and the webhook outbox in this
    /// PostgreSQL database (`postgres://user:password@host/database`)
    /// instead of SQLite in the data directory [default: SQLite].
    #[arg(long, env = "WHARF_DATABASE_URL", hide_env_values = true)]
    pub database: Option<String>,

    /// Engine of a session that names none; WAHA's `WHATSAPP_DEFAULT_ENGINE`
    /// is read too [default: sandbox].
    #[arg(long, env = "WHARF_DEFAULT_ENGINE")]
    pub default_engine: Option<String>,

    /// Sessions to create and start at start-up on the default engine,
    /// comma-separated (WAHA's `WHATSAPP_START_SESSION`).
    #[arg(long, env = "WHATSAPP_START_SESSION", value_delimiter = ',')]
    pub start_session: Vec<String>,

    /// Seconds an engine may take for one operation before the client gets 504.
    #[arg(long, env = "WHARF_ENGINE_TIMEOUT", default_value = "30", value_parser = parse_seconds)]
    pub engine_timeout: Duration,

    /// Directory of files that session configs may name (a sandbox
    /// `fixture`, say). Without it, a config that names a file is refused.
    #[arg(long, env = "WHARF_CONFIG_FILES_DIR")]
    pub config_files_dir: Option<PathBuf>,

    /// Seconds a client may take to send a request's headers, from their
    /// first byte; then the connection is closed.
    #[arg(long, env = "WHARF_HEADER_TIMEOUT", default_value = "10", value_parser = parse_seconds)]
    pub header_timeout: Duration,

    /// Seconds a client may take to send a request's body, from the end of
    /// its headers; then it gets 408 and the connection is closed.
    #[arg(long, env = "WHARF_BODY_TIMEOUT", default_value = "30", value_parser = parse_seconds)]
    pub body_timeout: Duration,

    /// Seconds a connection may stay open with no request under way.
    #[arg(long, env = "WHARF_IDLE_TIMEOUT", default_value = "60", value_parser = parse_seconds)]
    pub idle_timeout: Duration,

    /// Most client connections open at once [default: from the open files
    /// limit, at most 10000].
    #[arg(long, env = "WHARF_MAX_CONNECTIONS",
        value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub max_connections: Option<u32>,
}

impl ServeArgs {
    pub fn engines_dir(&self) -> anyhow::Result<PathBuf> {
        match &self.engines_dir {
            Some(dir) => Ok(dir.clone()),
            None => default_engines_dir(),
        }
    }

    /// The API keys from `WHARF_API_KEY` and `WAHA_API_KEY`. Read from the
    /// environment only, never the command line, where other users of the
    /// machine could see them.
    pub fn api_keys(&self) -> anyhow::Result<ApiKeys> {
        let configured = ["WHARF_API_KEY", "WAHA_API_KEY"]
            .into_iter()
            .filter_map(|variable| std::env::var(variable).ok().map(|value| (variable, value)));
        ApiKeys::parse(configured).map_err(anyhow::Error::msg)
    }

    /// The files session configs may name, from `--config-files-dir`.
    pub fn config_files(&self) -> anyhow::Result<ConfigFiles> {
        match &self.config_files_dir {
            None => Ok(ConfigFiles::none()),
            Some(dir) => ConfigFiles::in_dir(dir)
                .with_context(|| format!("--config-files-dir {}: cannot use it", dir.display())),
        }
    }

    /// The engine of a session that names none: `--default-engine`, else
    /// WAHA's `WHATSAPP_DEFAULT_ENGINE`, else `sandbox`. One that does not
    /// parse stops the host at start, naming where it came from.
    pub fn default_engine(&self) -> anyhow::Result<EngineRef> {
        let given = match &self.default_engine {
            Some(text) => Some(("--default-engine (WHARF_DEFAULT_ENGINE)", text.clone())),
            None => std::env::var("WHATSAPP_DEFAULT_ENGINE")
                .ok()
                .map(|text| ("WHATSAPP_DEFAULT_ENGINE", text)),
        };
        let (source, text) = given
            .filter(|(_, text)| !text.trim().is_empty())
            .unwrap_or(("the default engine", "sandbox".to_owned()));
        EngineRef::parse(&text).map_err(|problem| anyhow::anyhow!("{source}: {problem}"))
    }

    /// The bounds on client connections, given the open files limit in
    /// force (`None`: unlimited). A connection limit the open files cannot
    /// hold is kept, with a warning: past the files, connections wait in
    /// the kernel's queue instead of being answered 503.
    pub fn limits(&self, open_files: Option<u64>) -> crate::http::connections::Limits {
        let fitting = crate::http::connections::default_max_connections(open_files);
        let max_connections = match self.max_connections {
            None => fitting,
            Some(configured) => {
                let configured = usize::try_from(configured).unwrap_or(usize::MAX);
                if configured > fitting {
                    tracing::warn!(
                        "--max-connections {configured} is more than the open files limit ({}) leaves room for ({fitting})",
                        open_files.map_or_else(|| "unlimited".to_owned(), |n| n.to_string())
                    );
                }
                configured
            }
        };
        tracing::info!(
            max_connections,
            header_timeout = ?self.header_timeout,
            body_timeout = ?self.body_timeout,
            idle_timeout = ?self.idle_timeout,
            "client connection limits"
        );
        crate::http::connections::Limits {
            header_timeout: self.header_timeout,
            body_timeout: self.body_timeout,
            idle_timeout: self.idle_timeout,
            max_connections,
        }
    }

    pub fn start_sessions(&self) -> Vec<String> {
        self.start_session
            .iter()
            .map(|name| name.trim().to_owned())
            .filter(|name| !name.is_empty())
            .collect()
    }
}

fn parse_seconds(raw: &str) -> Result<Duration, String> {
    let seconds: f64 = raw
        .trim()
        .parse()
        .map_err(|_| format!("'{raw}' is not a number of seconds"))?;
    if !(seconds.is_finite() && seconds > 0.0 && seconds <= 86_400.0) {
        return Err(format!(
            "'{raw}' must be more than 0 and at most 86400 seconds"
        ));
    }
    Ok(Duration::from_secs_f64(seconds))
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    #[test]
    fn the_probe_command_is_there_for_the_host_but_not_in_the_help() {
        use clap::CommandFactory;
        let cli = Cli::try_parse_from(["wharf", crate::engines::PROBE_COMMAND, "lib.so"]).unwrap();
        assert!(
            matches!(cli.command, Command::ProbeEngine { file } if file == Path::new("lib.so"))
        );
        let help = Cli::command().render_help().to_string();
        assert!(!help.contains(crate::engines::PROBE_COMMAND), "{help}");
        assert!(help.contains("conformance"), "{help}");
    }

    #[test]
    fn engine_timeout_must_be_a_sane_number_of_seconds() {
        assert_eq!(parse_seconds("1.5"), Ok(Duration::from_millis(1500)));
        for bad in ["0", "-1", "NaN", "inf", "soon", "100000"] {
            assert!(parse_seconds(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn connection_settings_refuse_zero_and_absurd_values_naming_the_flag() {
        for (flag, value) in [
            ("--header-timeout", "0"),
            ("--body-timeout", "-1"),
            ("--idle-timeout", "100000"),
            ("--max-connections", "0"),
            ("--max-connections", "2000000"),
            ("--max-connections", "many"),
        ] {
            let err = Cli::try_parse_from(["wharf", "serve", &format!("{flag}={value}")])
                .expect_err(flag)
                .to_string();
            assert!(err.contains(flag), "{flag}={value}: {err}");
        }
        let Command::Serve(args) = Cli::try_parse_from(["wharf", "serve"]).unwrap().command else {
            panic!("not serve");
        };
        let limits = args.limits(Some(1024));
        assert_eq!(limits.max_connections, 768);
        assert_eq!(limits.header_timeout, Duration::from_secs(10));
        assert_eq!(limits.body_timeout, Duration::from_secs(30));
        assert_eq!(limits.idle_timeout, Duration::from_secs(60));
    }
}
