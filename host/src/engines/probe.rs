//! Proving a library loadable in a short-lived child process before the
//! host maps it.
//!
//! Loading a library runs its code and lets the dynamic loader touch every
//! page it relocates: a damaged file kills the process that loads it
//! (SIGBUS, SIGSEGV) and a library whose initialisers hang hangs it. So the
//! host first runs `wharf probe-engine COPY` (a hidden command of its own
//! binary), which makes exactly the host's load and checks and prints its
//! verdict as one JSON line on standard output. The host waits for it with
//! a deadline, stops it when the deadline passes, and turns a crash into a
//! reason an operator can act on.
//!
//! The child gets no standard input, only the dynamic loader's variables of
//! the environment (not the API keys), and its own process group (so
//! stopping it stops anything it started); on Linux it dies with the host.
//! Only the last [`OUTPUT_LIMIT`] bytes of each of its outputs are kept.

use std::{
    io::{self, Read, Write},
    path::{Path, PathBuf},
    process::{Child, Command, ExitStatus, Stdio},
    sync::mpsc,
    thread,
    time::{Duration, Instant},
};

use serde::{Deserialize, Serialize};
use wharf_engine_api::{FeatureEntry, Manifest, Support};

use super::library::{LoadError, load_library};

/// The hidden command of the `wharf` binary that runs [`run`].
pub const PROBE_COMMAND: &str = "probe-engine";

/// How long a library may take to load and give its manifest.
pub(super) const PROBE_TIMEOUT: Duration = Duration::from_secs(20);

/// Starts the verdict's line, so that whatever a library prints while it
/// loads cannot be taken for it.
const VERDICT_PREFIX: &str = "wharf-probe-verdict: ";

/// How much of each of the child's outputs is kept: its end, where the
/// verdict (or the last words before a crash) is.
const OUTPUT_LIMIT: usize = 64 * 1024;

/// How long to wait for the child's outputs to close once it has exited;
/// a process it started may hold them open.
const OUTPUT_GRACE: Duration = Duration::from_secs(1);

/// How often to look whether the child has exited.
const POLL: Duration = Duration::from_millis(1);

/// The environment the dynamic loader reads; nothing else is passed on.
const LOADER_VARIABLES: [&str; 5] = [
    "LD_LIBRARY_PATH",
    "LD_PRELOAD",
    "DYLD_LIBRARY_PATH",
    "DYLD_FALLBACK_LIBRARY_PATH",
    "DYLD_INSERT_LIBRARIES",
];

/// What the child found.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "verdict", rename_all = "camelCase")]
enum Verdict {
    Loadable,
    Rejected {
        reason: String,
        manifest: Option<ManifestData>,
    },
}

/// A [`Manifest`] on its way from the child to the host.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ManifestData {
    name: String,
    version: String,
    abi_version: String,
    description: String,
    features: Vec<FeatureData>,
}

#[derive(Debug, Serialize, Deserialize)]
struct FeatureData {
    key: String,
    /// Why not, for an unsupported feature.
    unsupported: Option<String>,
}

impl From<&Manifest> for ManifestData {
    fn from(manifest: &Manifest) -> Self {
        Self {
            name: manifest.name.to_string(),
            version: manifest.version.to_string(),
            abi_version: manifest.abi_version.to_string(),
            description: manifest.description.to_string(),
            features: manifest
                .features
                .iter()
                .map(|entry| FeatureData {
                    key: entry.key.to_string(),
                    unsupported: match &entry.support {
                        Support::Supported => None,
                        Support::Unsupported { reason } => Some(reason.to_string()),
                    },
                })
                .collect(),
        }
    }
}

impl From<ManifestData> for Manifest {
    fn from(data: ManifestData) -> Self {
        Self {
            name: data.name.into(),
            version: data.version.into(),
            abi_version: data.abi_version.into(),
            description: data.description.into(),
            features: data
                .features
                .into_iter()
                .map(|feature| FeatureEntry {
                    key: feature.key.into(),
                    support: match feature.unsupported {
                        None => Support::Supported,
                        Some(reason) => Support::Unsupported {
                            reason: reason.into(),
                        },
                    },
                })
                .collect(),
        }
    }
}

/// The child's side, `wharf probe-engine FILE`: loads `file` with every
/// check and prints the verdict; returns whether it could.
pub fn run(file: &Path) -> bool {
    // A library that hangs must not outlive a host that died meanwhile.
    #[cfg(target_os = "linux")]
    // SAFETY: prctl(PR_SET_PDEATHSIG) only sets an attribute of this process.
    unsafe {
        libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
    }
    let verdict = match load_library(file, file) {
        Ok(_) => Verdict::Loadable,
        Err((reason, manifest)) => Verdict::Rejected {
            reason,
            manifest: manifest.as_deref().map(ManifestData::from),
        },
    };
    let Ok(line) = serde_json::to_string(&verdict) else {
        return false;
    };
    let mut stdout = io::stdout().lock();
    // On a line of its own, whatever the library printed before.
    writeln!(stdout, "\n{VERDICT_PREFIX}{line}")
        .and_then(|()| stdout.flush())
        .is_ok()
}

/// The host's side: which binary to run as the child, and for how long.
#[derive(Debug, Clone)]
pub struct Probe {
    exe: PathBuf,
    timeout: Duration,
}

impl Probe {
    /// Runs `exe probe-engine FILE`; `exe` must be this host's `wharf`
    /// binary (benchmarks pass the one cargo built).
    pub fn new(exe: impl Into<PathBuf>) -> Self {
        Self {
            exe: exe.into(),
            timeout: PROBE_TIMEOUT,
        }
    }

    /// The binary of this process. On Linux, `/proc/self/exe`: it stays
    /// this binary even when an upgrade has replaced the file on disk, and
    /// a newer binary might judge libraries by another ABI.
    pub fn this_binary() -> io::Result<Self> {
        let running = Path::new("/proc/self/exe");
        if cfg!(target_os = "linux") && running.exists() {
            return Ok(Self::new(running));
        }
        std::env::current_exe().map(Self::new)
    }

    /// Loads `library` in a child process; `Ok` when it passed every check.
    pub(super) fn check(&self, library: &Path) -> Result<(), LoadError> {
        let mut command = Command::new(&self.exe);
        command
            .arg(PROBE_COMMAND)
            .arg(library)
            .env_clear()
            .envs(
                LOADER_VARIABLES
                    .iter()
                    .filter_map(|name| std::env::var_os(name).map(|value| (name, value))),
            )
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        #[cfg(unix)]
        std::os::unix::process::CommandExt::process_group(&mut command, 0);
        let mut child = command.spawn().map_err(|err| {
            (
                format!("cannot start the loader {}: {err}", self.exe.display()),
                None,
            )
        })?;
        let stdout = keep_tail(child.stdout.take());
        let stderr = keep_tail(child.stderr.take());
        let status = match wait(&mut child, self.timeout) {
            Ok(Some(status)) => status,
            Ok(None) => {
                stop(&mut child);
                return Err((
                    format!(
                        "the library did not finish loading within {:?} (do its initialisers hang?); \
                         the loader was stopped",
                        self.timeout
                    ),
                    None,
                ));
            }
            Err(err) => {
                stop(&mut child);
                return Err((format!("cannot wait for the loader: {err}"), None));
            }
        };
        let stdout = stdout.recv_timeout(OUTPUT_GRACE).unwrap_or_default();
        match verdict_in(&stdout) {
            Some(Verdict::Rejected { reason, manifest }) => {
                Err((reason, manifest.map(|data| Box::new(data.into()))))
            }
            Some(Verdict::Loadable) if status.success() => Ok(()),
            _ => {
                let stderr = stderr.recv_timeout(OUTPUT_GRACE).unwrap_or_default();
                Err((failure(status, &stderr), None))
            }
        }
    }
}

/// Reads `pipe` to its end on a thread of its own, keeping the last
/// [`OUTPUT_LIMIT`] bytes, and sends them when the pipe closes.
fn keep_tail(pipe: Option<impl Read + Send + 'static>) -> mpsc::Receiver<Vec<u8>> {
    let (sender, receiver) = mpsc::channel();
    if let Some(mut pipe) = pipe {
        // Without the thread the output is lost; the verdict says so.
        let _ = thread::Builder::new()
            .name("engine-probe-output".into())
            .spawn(move || {
                let mut tail = Vec::new();
                let mut chunk = [0u8; 8192];
                loop {
                    match pipe.read(&mut chunk) {
                        Ok(0) => break,
                        Ok(read) => {
                            tail.extend_from_slice(&chunk[..read]);
                            if tail.len() > 2 * OUTPUT_LIMIT {
                                tail.drain(..tail.len() - OUTPUT_LIMIT);
                            }
                        }
                        Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
                        Err(_) => break,
                    }
                }
                tail.drain(..tail.len().saturating_sub(OUTPUT_LIMIT));
                let _ = sender.send(tail);
            });
    }
    receiver
}

/// Waits for `child` to exit, at most `timeout`; `None` when it has not.
fn wait(child: &mut Child, timeout: Duration) -> io::Result<Option<ExitStatus>> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(status) = child.try_wait()? {
            return Ok(Some(status));
        }
        let now = Instant::now();
        if now >= deadline {
            return Ok(None);
        }
        thread::sleep(POLL.min(deadline - now));
    }
}

/// Kills the child and whatever it started, and reaps it.
fn stop(child: &mut Child) {
    #[cfg(unix)]
    if let Ok(group) = libc::pid_t::try_from(child.id()) {
        // SAFETY: kill(2) only sends a signal. The group is the child's own
        // (process_group(0)), and the child is not reaped yet, so its id
        // cannot have been reused.
        unsafe {
            libc::kill(-group, libc::SIGKILL);
        }
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// The verdict in the child's standard output: the last line that has one.
fn verdict_in(stdout: &[u8]) -> Option<Verdict> {
    String::from_utf8_lossy(stdout)
        .lines()
        .rev()
        .find_map(|line| line.strip_prefix(VERDICT_PREFIX))
        .and_then(|json| serde_json::from_str(json).ok())
}

/// Why a child that gave no verdict failed, with the last line it wrote to
/// standard error, if any.
fn failure(status: ExitStatus, stderr: &[u8]) -> String {
    let mut reason = match (status.code(), signal_of(status)) {
        (_, Some(signal)) => format!(
            "the library crashed the loader ({signal}): the file is incomplete or damaged, \
             or its initialisers crash"
        ),
        (Some(code), None) => format!("the loader exited with status {code} without a verdict"),
        (None, None) => format!("the loader ended without a verdict ({status})"),
    };
    let last_words = String::from_utf8_lossy(stderr)
        .lines()
        .map(|line| line.chars().filter(|c| !c.is_control()).collect::<String>())
        .rfind(|line| !line.trim().is_empty());
    if let Some(last) = last_words {
        let last: String = last.trim().chars().take(300).collect();
        reason.push_str(&format!("; it said: {last}"));
    }
    reason
}

/// The signal that ended the child, by name.
#[cfg(unix)]
fn signal_of(status: ExitStatus) -> Option<String> {
    let signal = std::os::unix::process::ExitStatusExt::signal(&status)?;
    let name = match signal {
        libc::SIGBUS => "SIGBUS",
        libc::SIGSEGV => "SIGSEGV",
        libc::SIGABRT => "SIGABRT",
        libc::SIGILL => "SIGILL",
        libc::SIGFPE => "SIGFPE",
        libc::SIGTRAP => "SIGTRAP",
        libc::SIGSYS => "SIGSYS",
        libc::SIGKILL => "SIGKILL",
        libc::SIGTERM => "SIGTERM",
        other => return Some(format!("signal {other}")),
    };
    Some(name.to_owned())
}

#[cfg(not(unix))]
fn signal_of(_: ExitStatus) -> Option<String> {
    None
}

/// A stand-in for the child in unit tests, which have no `wharf` binary to
/// run: it runs the "library" as a shell script, so each test writes the
/// child's behaviour as the library file.
#[cfg(test)]
pub(crate) mod testing {
    use std::{os::unix::fs::PermissionsExt, sync::LazyLock};

    use super::*;

    /// A library file whose child says it is loadable, leaving the rest to
    /// the host's own checks.
    pub(crate) const LOADABLE: &str =
        "echo\necho 'wharf-probe-verdict: {\"verdict\":\"loadable\"}'\n";

    pub(crate) fn stand_in() -> Probe {
        // Written once, before any test can start a process: a process
        // forked while the script is open for writing could not run it.
        static SCRIPT: LazyLock<(tempfile::TempDir, PathBuf)> = LazyLock::new(|| {
            let dir = tempfile::tempdir().expect("a temporary directory");
            let script = dir.path().join("wharf");
            std::fs::write(&script, "#!/bin/sh\nexec /bin/sh \"$2\"\n").expect("the stand-in");
            std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755))
                .expect("an executable stand-in");
            (dir, script)
        });
        Probe::new(&SCRIPT.1)
    }
}

#[cfg(test)]
mod tests {
    use super::{testing::stand_in, *};

    /// Probes a library file with `script` as its contents.
    fn probe(script: &str, probe: Probe) -> Result<(), LoadError> {
        let dir = tempfile::tempdir().unwrap();
        let library = dir.path().join("engine.so");
        std::fs::write(&library, script).unwrap();
        probe.check(&library)
    }

    fn reason(script: &str) -> String {
        probe(script, stand_in()).unwrap_err().0
    }

    #[test]
    fn a_loadable_verdict_after_a_clean_exit_passes() {
        assert!(probe(testing::LOADABLE, stand_in()).is_ok());
        // Whatever the library printed first is not taken for the verdict.
        let noisy = format!(
            "printf 'wharf-probe-verdict: nonsense'\n{}",
            testing::LOADABLE
        );
        assert!(probe(&noisy, stand_in()).is_ok());
    }

    #[test]
    fn a_crash_is_named_by_its_signal() {
        assert_eq!(
            reason("kill -BUS $$\n"),
            "the library crashed the loader (SIGBUS): the file is incomplete or damaged, or its initialisers crash"
        );
        let crashed_after = format!("{}kill -SEGV $$\n", testing::LOADABLE);
        assert!(
            reason(&crashed_after).starts_with("the library crashed the loader (SIGSEGV)"),
            "a loadable verdict does not count when the loader then crashes"
        );
    }

    #[test]
    fn a_loader_that_hangs_is_stopped_at_the_deadline() {
        let impatient = Probe {
            timeout: Duration::from_millis(300),
            ..stand_in()
        };
        let (reason, manifest) = probe("exec sleep 60\n", impatient).unwrap_err();
        assert_eq!(
            reason,
            "the library did not finish loading within 300ms (do its initialisers hang?); the loader was stopped"
        );
        assert!(manifest.is_none());
    }

    #[test]
    fn an_exit_without_a_verdict_gives_the_status_and_the_last_words() {
        assert_eq!(
            reason("echo noise\necho 'first' >&2\necho 'it broke' >&2\nexit 3\n"),
            "the loader exited with status 3 without a verdict; it said: it broke"
        );
        assert_eq!(
            reason("exit 0\n"),
            "the loader exited with status 0 without a verdict"
        );
    }

    #[test]
    fn a_rejection_comes_back_with_its_reason_and_manifest() {
        let manifest = Manifest::new("x", "not-a-version", "an engine")
            .supports("contacts.list")
            .unsupported("contacts.upsert", "read-only");
        let verdict = Verdict::Rejected {
            reason: "invalid manifest: version".into(),
            manifest: Some(ManifestData::from(&manifest)),
        };
        let line = serde_json::to_string(&verdict).unwrap();
        let script = format!("printf '%s\\n' '{VERDICT_PREFIX}{line}'\n");
        let (reason, returned) = probe(&script, stand_in()).unwrap_err();
        assert_eq!(reason, "invalid manifest: version");
        assert_eq!(returned.as_deref(), Some(&manifest));
    }

    #[test]
    fn floods_of_output_are_bounded_and_the_verdict_still_found() {
        let flood = "head -c 3000000 /dev/zero | tr '\\0' x\nhead -c 3000000 /dev/zero >&2\n";
        assert!(probe(&format!("{flood}{}", testing::LOADABLE), stand_in()).is_ok());
        let reason = reason(&format!("{flood}exit 4\n"));
        assert!(
            reason.len() < 500,
            "at most a line of the output: {}",
            reason.len()
        );
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn the_child_gets_no_input_and_only_the_loader_environment() {
        let dir = tempfile::tempdir().unwrap();
        let library = dir.path().join("engine.so");
        let seen = dir.path().join("seen");
        std::fs::write(
            &library,
            format!(
                "readlink /proc/self/fd/0 > {seen}.stdin\nenv > {seen}.env\n{}",
                testing::LOADABLE,
                seen = seen.display()
            ),
        )
        .unwrap();
        stand_in().check(&library).unwrap();
        let stdin = std::fs::read_to_string(seen.with_extension("stdin")).unwrap();
        assert_eq!(stdin.trim(), "/dev/null");
        // What the shell sets itself, and what the loader may need.
        let own = ["PWD", "OLDPWD", "SHLVL", "_", "PATH"];
        let ours: Vec<String> = std::env::vars()
            .map(|(name, _)| name)
            .filter(|name| !own.contains(&name.as_str()))
            .filter(|name| !LOADER_VARIABLES.contains(&name.as_str()))
            .collect();
        assert!(!ours.is_empty(), "cargo sets variables for tests");
        let env = std::fs::read_to_string(seen.with_extension("env")).unwrap();
        for line in env.lines() {
            let name = line.split('=').next().unwrap_or_default();
            assert!(
                !ours.iter().any(|ours| ours == name),
                "{name} was passed on"
            );
        }
    }

    #[test]
    fn a_loader_that_cannot_start_says_so() {
        let reason = probe(testing::LOADABLE, Probe::new("/nonexistent/wharf"))
            .unwrap_err()
            .0;
        assert!(
            reason.starts_with("cannot start the loader /nonexistent/wharf"),
            "{reason}"
        );
    }
}
