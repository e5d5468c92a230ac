//! A PostgreSQL server of a test's own, from Debian's package: a new
//! cluster in a temporary directory, listening only on a unix socket in
//! it, stopped when dropped (a second or so to start).
//!
//! Where PostgreSQL is not installed the tests that need it skip, saying
//! so, unless `WHARF_REQUIRE_POSTGRES` is set (CI sets it): then they fail.

use std::{
    path::{Path, PathBuf},
    process::{Command, Output},
    sync::atomic::{AtomicUsize, Ordering},
};

use tempfile::TempDir;

/// The running server.
pub struct Postgres {
    /// The cluster's data and its socket.
    dir: TempDir,
    bin: PathBuf,
    /// Whether the server's programs run as the `postgres` user: they
    /// refuse to run as root.
    as_postgres: bool,
}

/// The newest PostgreSQL's programs that Debian installed.
fn installed() -> Option<PathBuf> {
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|entry| {
            let entry = entry.ok()?;
            let version = entry.file_name().to_str()?.parse().ok()?;
            let bin = entry.path().join("bin");
            bin.join("initdb").is_file().then_some((version, bin))
        })
        .collect();
    versions.sort();
    versions.pop().map(|(_, bin)| bin)
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|out| String::from_utf8_lossy(&out.stdout).trim() == "0")
}

impl Postgres {
    /// Starts a server, or says why not and returns `None` when
    /// PostgreSQL is not installed and not required.
    pub fn start() -> Option<Self> {
        let Some(bin) = installed() else {
            assert!(
                std::env::var_os("WHARF_REQUIRE_POSTGRES").is_none(),
                "WHARF_REQUIRE_POSTGRES is set, but PostgreSQL is not installed \
                 (apt-get install postgresql)"
            );
            eprintln!("skipped: PostgreSQL is not installed (apt-get install postgresql)");
            return None;
        };
        let dir = tempfile::Builder::new()
            .prefix("wharf-pg-")
            .tempdir()
            .expect("a temporary directory");
        let server = Self {
            dir,
            bin,
            as_postgres: is_root(),
        };
        if server.as_postgres {
            server.give_to_postgres(server.dir.path());
        }
        let data = server.data();
        server.run(
            "initdb",
            &[
                "-D",
                &data,
                "-U",
                "wharf",
                "--auth=trust",
                "--no-sync",
                "--no-instructions",
                "-E",
                "UTF8",
                "--locale=C.UTF-8",
            ],
        );
        let socket = server.dir.path().display().to_string();
        let options = format!(
            "-k {socket} -c listen_addresses='' -c fsync=off -c synchronous_commit=off \
             -c full_page_writes=off -c max_connections=200"
        );
        let log = server.dir.path().join("server.log").display().to_string();
        server.run(
            "pg_ctl",
            &["-D", &data, "-l", &log, "-o", &options, "-w", "start"],
        );
        Some(server)
    }

    /// The URL of a new, empty database on this server.
    pub fn database(&self) -> String {
        static NEXT: AtomicUsize = AtomicUsize::new(1);
        let name = format!("t{}", NEXT.fetch_add(1, Ordering::SeqCst));
        self.run(
            "psql",
            &[
                "-q",
                "-d",
                "postgres",
                "-c",
                &format!("CREATE DATABASE {name}"),
            ],
        );
        format!(
            "postgres:///{name}?host={}&user=wharf",
            self.dir.path().display()
        )
    }

    fn data(&self) -> String {
        self.dir.path().join("data").display().to_string()
    }

    fn give_to_postgres(&self, path: &Path) {
        let chown = Command::new("chown")
            .arg("postgres:postgres")
            .arg(path)
            .output()
            .expect("chown runs");
        assert!(chown.status.success(), "chown: {}", stderr(&chown));
    }

    /// Runs the server's program `program` (as `postgres` when this is
    /// root), against the server's socket for `psql`; panics with its
    /// output when it fails.
    fn run(&self, program: &str, args: &[&str]) -> Output {
        let path = self.bin.join(program);
        let mut command = if self.as_postgres {
            let mut command = Command::new("setpriv");
            command
                .args(["--reuid=postgres", "--regid=postgres", "--init-groups"])
                .arg(&path);
            command
        } else {
            Command::new(&path)
        };
        if program == "psql" {
            command.args(["-h", &self.dir.path().display().to_string(), "-U", "wharf"]);
        }
        let output = command.args(args).output().unwrap_or_else(|err| {
            panic!("cannot run {}: {err}", path.display());
        });
        assert!(
            output.status.success(),
            "{program} {args:?} failed:\n{}",
            stderr(&output)
        );
        output
    }
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

impl Drop for Postgres {
    fn drop(&mut self) {
        let data = self.data();
        // Immediate: the tests' data is thrown away with the directory.
        let _ = std::panic::catch_unwind(|| {
            self.run("pg_ctl", &["-D", &data, "-m", "immediate", "-w", "stop"])
        });
    }
}
