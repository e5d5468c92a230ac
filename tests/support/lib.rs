//! Test support: starts the real `wharf` binary on a loopback port with a
//! chosen set of engine libraries, and speaks HTTP to it.
//!
//! The binary and the engine libraries must be built first; `cargo xtask
//! test` does that and then runs these tests.

use std::{
    fs,
    net::{Ipv4Addr, SocketAddr},
    path::{Path, PathBuf},
    process::{Child, Command, ExitStatus, Stdio},
    thread,
    time::{Duration, Instant},
};

use reqwest::{
    Method, StatusCode,
    blocking::{Client, RequestBuilder},
};
use serde_json::Value;
use tempfile::TempDir;

pub mod postgres;

/// Engine libraries the tests can put in a host's engines directory.
pub mod engines {
    pub const SANDBOX: &str = "wharf_sandbox";
    pub const CLOUDAPI: &str = "wharf_cloudapi";
    pub const WEBMD: &str = "wharf_webmd";
    pub const COUNTING: &str = "wharf_test_counting";
    pub const PANICKY: &str = "wharf_test_panicky";
    pub const INCOMPATIBLE: &str = "wharf_test_incompatible";
    /// The evolving engine, version 1.0.0 (lists and gets contacts).
    pub const EVOLVING_V1: &str = "wharf_test_evolving_v1";
    /// The evolving engine, version 2.0.0 (also about texts).
    pub const EVOLVING_V2: &str = "wharf_test_evolving_v2";
    /// The wrong engines: each makes one mistake (`tests/engines/wrong`).
    pub const WRONG_UPSERT: &str = "wharf_test_wrong_upsert";
    pub const WRONG_EXISTS: &str = "wharf_test_wrong_exists";
    pub const WRONG_CHAT_ID: &str = "wharf_test_wrong_chat_id";
    pub const WRONG_GET_UNKNOWN: &str = "wharf_test_wrong_get_unknown";
    pub const WRONG_GET_KNOWN: &str = "wharf_test_wrong_get_known";
    pub const WRONG_BLOCK: &str = "wharf_test_wrong_block";
    pub const WRONG_UNBLOCK: &str = "wharf_test_wrong_unblock";
    pub const WRONG_LIST: &str = "wharf_test_wrong_list";
    pub const WRONG_UPSERT_UNBLOCKS: &str = "wharf_test_wrong_upsert_unblocks";
    pub const WRONG_LID_TWICE: &str = "wharf_test_wrong_lid_twice";
    pub const WRONG_TOLD_RENAMED: &str = "wharf_test_wrong_told_renamed";
}

/// How long a host may take to start, or a session to reach a status.
const PATIENCE: Duration = Duration::from_secs(30);

/// The directory with the build's binaries: the parent of `deps/`, where
/// this test executable lives.
fn build_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("the test executable has a path");
    let deps = exe.parent().expect("the test executable is in deps/");
    deps.parent()
        .expect("deps/ is in the build directory")
        .to_owned()
}

/// A file the build made: the host binary or an engine library.
pub fn artifact(file_name: &str) -> PathBuf {
    let path = build_dir().join(file_name);
    assert!(
        path.exists(),
        "{} is missing: run the tests with `cargo xtask test`, which builds the host and the engines first",
        path.display()
    );
    path
}

/// The `wharf` binary, for its command-line tools.
pub fn wharf() -> Command {
    wharf_under_ulimit(None)
}

/// The `wharf` binary; with `ulimit`, started through `sh`, which sets
/// those limits (`ulimit`'s own options: `-n 128`) on itself and then
/// becomes wharf, which inherits them.
fn wharf_under_ulimit(ulimit: Option<&str>) -> Command {
    let binary = artifact(&format!("wharf{}", std::env::consts::EXE_SUFFIX));
    let mut command = match ulimit {
        Some(limits) => {
            let mut sh = Command::new("sh");
            sh.arg("-c")
                .arg(format!("ulimit {limits} && exec \"$0\" \"$@\""))
                .arg(binary);
            sh
        }
        None => Command::new(binary),
    };
    command.stdin(Stdio::null()).env("NO_COLOR", "1");
    command
}

/// What a run of `wharf` to its end gave: of its command-line tools, or of
/// a host that refuses to start ([`HostBuilder::run_to_end`]).
pub struct Ran {
    /// The exit code; `None` when a signal ended it.
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Ran {
    /// Asserts that the standard output has `text`.
    pub fn shows(&self, text: &str) {
        assert!(
            self.stdout.contains(text),
            "missing {text:?} in\n{}{}",
            self.stdout,
            self.stderr
        );
    }
}

/// Runs `wharf` with `args` to its end.
pub fn run(args: &[&str]) -> Ran {
    let output = wharf().args(args).output().expect("run wharf");
    Ran {
        code: output.status.code(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// The file name of an engine library on this platform.
pub fn library_file(name: &str) -> String {
    format!(
        "{}{name}{}",
        std::env::consts::DLL_PREFIX,
        std::env::consts::DLL_SUFFIX
    )
}

/// What a host prints once its listener is bound, before the address.
const LISTENING: &str = "wharf listening on http://";

/// The address a host started with `--listen 127.0.0.1:0` bound, read from
/// its log once it says so.
///
/// The host picks its own port: a port found free by the test and handed
/// to the host can be taken by another test's host or client in between,
/// and the test then talks to a host that is not its own.
fn listening_address(log: &Path, child: &mut Child) -> SocketAddr {
    until("wharf to say where it listens", POLL, || {
        let text = fs::read_to_string(log).unwrap_or_default();
        if let Some(address) = text.lines().find_map(|line| {
            let (_, rest) = line.split_once(LISTENING)?;
            rest.split_whitespace().next()?.parse().ok()
        }) {
            return Ok(address);
        }
        if let Ok(Some(status)) = child.try_wait() {
            panic!("wharf exited with {status} while starting:\n{text}");
        }
        Err(text)
    })
}

/// How often [`until`] looks again, unless told otherwise.
const POLL: Duration = Duration::from_millis(20);

/// Calls `probe` every `every` until it gives `Ok`, for as long as a host
/// may take to settle ([`PATIENCE`]); `Err` carries what it saw, for the
/// failure message.
pub fn until<T, Seen: std::fmt::Display>(
    waiting_for: &str,
    every: Duration,
    mut probe: impl FnMut() -> Result<T, Seen>,
) -> T {
    let started = Instant::now();
    loop {
        match probe() {
            Ok(value) => return value,
            Err(seen) => assert!(
                started.elapsed() < PATIENCE,
                "waited {PATIENCE:?} for {waiting_for}; last saw {seen}"
            ),
        }
        thread::sleep(every);
    }
}

/// Sends `signal` (a name as `kill` takes it: `TERM`, `HUP`) to a process.
fn send_signal(pid: u32, signal: &str) {
    let status = Command::new("kill")
        .arg(format!("-{signal}"))
        .arg(pid.to_string())
        .status()
        .expect("run kill");
    assert!(status.success(), "kill -{signal} {pid} failed");
}

/// Waits for `child` to end, for at most [`PATIENCE`].
fn wait_for_exit(child: &mut Child) -> ExitStatus {
    until("the process to exit", POLL, || {
        child
            .try_wait()
            .expect("the process's status")
            .ok_or("it still runs")
    })
}

/// How to start a [`Host`]: the engines in its engines directory, and
/// whatever else a test needs beyond the command line every host gets.
/// Made by [`Host::builder`].
#[derive(Default)]
pub struct HostBuilder {
    engines: Vec<String>,
    args: Vec<String>,
    env: Vec<(String, String)>,
    data_dir: Option<PathBuf>,
    ulimit: Option<String>,
}

impl HostBuilder {
    /// Puts the named engine libraries in the host's engines directory.
    pub fn engines(mut self, libraries: &[&str]) -> Self {
        self.engines.extend(libraries.iter().map(|l| l.to_string()));
        self
    }

    /// Adds command-line arguments after those every host gets.
    pub fn args(mut self, args: &[&str]) -> Self {
        self.args.extend(args.iter().map(|a| a.to_string()));
        self
    }

    /// Sets an environment variable for the host. With `WHARF_API_KEY`,
    /// the request helpers send that key.
    pub fn env(mut self, key: &str, value: &str) -> Self {
        self.env.push((key.to_owned(), value.to_owned()));
        self
    }

    /// Serves from `dir` rather than from a data directory of the host's
    /// own: for a second host on another host's data.
    pub fn data_dir(mut self, dir: &Path) -> Self {
        self.data_dir = Some(dir.to_owned());
        self
    }

    /// Starts the host under `ulimit limits` (`-n 128`, `-S -n 256`): for
    /// how it lives with the limits it inherits.
    pub fn ulimit(mut self, limits: &str) -> Self {
        self.ulimit = Some(limits.to_owned());
        self
    }

    /// Starts the host and waits until it serves.
    pub fn start(self) -> Host {
        let mut host = self.build();
        host.launch();
        host
    }

    /// Starts the host and returns as soon as it has begun loading its
    /// engines, before it listens: for what happens to a host still
    /// starting up. [`Host::wait_until_serving`] waits for the rest.
    pub fn start_loading(self) -> Host {
        let mut host = self.build();
        host.spawn();
        // Loading takes tens of milliseconds: look often, to catch it.
        until(
            "wharf to begin loading its engines",
            Duration::from_millis(5),
            || {
                let log = host.log();
                if log.contains("loading engines") {
                    Ok(())
                } else {
                    Err(log)
                }
            },
        );
        host
    }

    /// Runs the host until it ends by itself, for a host that must refuse
    /// to start; its standard output and error are kept apart, unlike in
    /// [`Host::log`]. Fails after as long as a host may take to start.
    pub fn run_to_end(self) -> Ran {
        let mut host = self.build();
        let stdout = host.root.path().join("stdout");
        let stderr = host.root.path().join("stderr");
        host.spawn_into(
            fs::File::create(&stdout).expect("a file for the standard output"),
            fs::File::create(&stderr).expect("a file for the standard error"),
        );
        let status = host.wait_for_exit();
        Ran {
            code: status.code(),
            stdout: fs::read_to_string(stdout).expect("the standard output"),
            stderr: fs::read_to_string(stderr).expect("the standard error"),
        }
    }

    /// The host's directories and its command line, not started yet.
    fn build(self) -> Host {
        let root = tempfile::tempdir().expect("a temporary directory");
        let engines_dir = root.path().join("engines");
        fs::create_dir_all(&engines_dir).expect("the engines directory");
        for library in &self.engines {
            let file = library_file(library);
            fs::copy(artifact(&file), engines_dir.join(&file)).expect("copy the engine library");
        }
        let data_dir = self.data_dir.unwrap_or_else(|| root.path().join("data"));
        let mut command = wharf_under_ulimit(self.ulimit.as_deref());
        command
            .arg("serve")
            .arg("--listen")
            .arg("127.0.0.1:0")
            .arg("--engines-dir")
            .arg(&engines_dir)
            .arg("--data-dir")
            .arg(&data_dir)
            .args(&self.args)
            .env("RUST_LOG", "info")
            .env_remove("WHARF_API_KEY")
            .env_remove("WAHA_API_KEY")
            .envs(self.env.iter().map(|(k, v)| (k, v)));
        Host {
            command,
            child: None,
            address: SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
            root,
            data_dir,
            client: Client::builder()
                .timeout(PATIENCE)
                .build()
                .expect("an HTTP client"),
            api_key: self
                .env
                .into_iter()
                .find(|(k, _)| k == "WHARF_API_KEY")
                .map(|(_, key)| key),
        }
    }
}

/// A running `wharf serve`, killed when dropped.
pub struct Host {
    /// The `wharf serve` command line, kept to start the host again.
    command: Command,
    child: Option<Child>,
    address: SocketAddr,
    root: TempDir,
    data_dir: PathBuf,
    client: Client,
    /// The key the request helpers send, if the host was given one.
    api_key: Option<String>,
}

impl Host {
    /// Starts a host whose engines directory holds the named libraries, and
    /// waits until it serves: what most tests need. [`Host::builder`] for
    /// anything more.
    pub fn start(libraries: &[&str]) -> Host {
        Self::builder().engines(libraries).start()
    }

    /// A host to set up beyond its engines: arguments, environment, limits.
    pub fn builder() -> HostBuilder {
        HostBuilder::default()
    }

    fn launch(&mut self) {
        self.spawn();
        self.wait_until_serving();
    }

    fn log_path(&self) -> PathBuf {
        self.root.path().join("wharf.log")
    }

    /// Starts the process, with a fresh log.
    fn spawn(&mut self) {
        let log = fs::File::create(self.log_path()).expect("the host log");
        self.spawn_into(log.try_clone().expect("the host log"), log);
    }

    fn spawn_into(&mut self, stdout: fs::File, stderr: fs::File) {
        let child = self
            .command
            .stdout(stdout)
            .stderr(stderr)
            .spawn()
            .expect("start the wharf binary");
        // Kept before waiting, so a host that never gets going is still
        // killed when the test gives up on it.
        self.child = Some(child);
    }

    /// Waits until the host listens and answers `/ping`; panics with its
    /// log if it exits first.
    pub fn wait_until_serving(&mut self) {
        let log_path = self.log_path();
        self.address = listening_address(&log_path, self.child.as_mut().expect("the host runs"));
        until("wharf to answer /ping", POLL, || {
            let answer = match self.client.get(self.url("/ping")).send() {
                Ok(response) if response.status() == StatusCode::OK => return Ok(()),
                Ok(response) => response.status().to_string(),
                Err(err) => err.to_string(),
            };
            if let Some(status) = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                panic!("wharf exited with {status} while starting:\n{}", self.log());
            }
            Err(format!("{answer}\n{}", self.log()))
        });
    }

    /// Kills the host without warning, as a crash would, and starts it again
    /// on the same directories.
    pub fn crash_and_restart(&mut self) {
        self.kill();
        self.launch();
    }

    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// The host's process id.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("the host runs").id()
    }

    /// Sends `signal` (`TERM`, `HUP`) to the host.
    pub fn signal(&self, signal: &str) {
        send_signal(self.pid(), signal);
    }

    /// Waits for the host to end, as a signal asked it to.
    pub fn wait_for_exit(&mut self) -> ExitStatus {
        wait_for_exit(self.child.as_mut().expect("the host runs"))
    }

    /// Whether the host process is still running.
    pub fn is_running(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|child| matches!(child.try_wait(), Ok(None)))
    }

    pub fn engines_dir(&self) -> PathBuf {
        self.root.path().join("engines")
    }

    pub fn data_dir(&self) -> PathBuf {
        self.data_dir.clone()
    }

    /// The data directory the host gives one session.
    pub fn session_dir(&self, session: &str) -> PathBuf {
        self.data_dir().join("sessions").join(session)
    }

    /// What the host has logged so far.
    pub fn log(&self) -> String {
        fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    /// Waits until the host's log says `needle`; returns the log.
    pub fn wait_for_log(&self, needle: &str) -> String {
        self.eventually(&format!("{needle:?} in the log"), || {
            let log = self.log();
            if log.contains(needle) {
                Ok(log)
            } else {
                Err(Value::String(log))
            }
        })
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.address)
    }

    /// Sends a request and returns the status and the JSON body (`Null` when
    /// the body is empty).
    pub fn send(&self, request: RequestBuilder) -> (StatusCode, Value) {
        let response = request.send().expect("the host answers");
        let status = response.status();
        let text = response.text().expect("a readable body");
        let body = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text)
                .unwrap_or_else(|err| panic!("the body is not JSON ({err}): {text}"))
        };
        (status, body)
    }

    /// A request to the host, with the API key when the host has one.
    pub fn request(&self, method: Method, path: &str) -> RequestBuilder {
        let request = self.client.request(method, self.url(path));
        match &self.api_key {
            Some(key) => request.header("X-Api-Key", key),
            None => request,
        }
    }

    /// A request to the host without any API key.
    pub fn anonymous(&self, method: Method, path: &str) -> RequestBuilder {
        self.client.request(method, self.url(path))
    }

    pub fn get(&self, path: &str) -> (StatusCode, Value) {
        self.send(self.request(Method::GET, path))
    }

    pub fn post(&self, path: &str, body: Value) -> (StatusCode, Value) {
        self.send(self.request(Method::POST, path).json(&body))
    }

    pub fn put(&self, path: &str, body: Value) -> (StatusCode, Value) {
        self.send(self.request(Method::PUT, path).json(&body))
    }

    /// Creates a session and waits until it is WORKING.
    pub fn create_session(&self, name: &str, engine: &str, config: Value) -> Value {
        let (status, body) = self.post(
            "/api/sessions",
            serde_json::json!({ "name": name, "engine": engine, "config": config }),
        );
        assert_eq!(status, StatusCode::CREATED, "{body}");
        self.wait_for_status(name, "WORKING")
    }

    /// Polls the session until it has `wanted` status; returns the session.
    pub fn wait_for_status(&self, name: &str, wanted: &str) -> Value {
        self.eventually(&format!("session {name} to be {wanted}"), || {
            let (status, session) = self.get(&format!("/api/sessions/{name}"));
            assert_eq!(status, StatusCode::OK, "{session}");
            if session["status"] == wanted {
                Ok(session)
            } else {
                Err(session)
            }
        })
    }

    /// Calls `probe` until it gives `Ok`, for as long as a host may take to
    /// settle; `Err` carries what it saw, for the failure message.
    pub fn eventually<T>(
        &self,
        waiting_for: &str,
        mut probe: impl FnMut() -> Result<T, Value>,
    ) -> T {
        until(waiting_for, POLL, || {
            probe().map_err(|seen| SeenOn { seen, host: self })
        })
    }

    /// The lines of a counting engine's `calls.log` for `session`.
    pub fn calls(&self, session: &str) -> Vec<String> {
        read_lines(&self.session_dir(session).join("calls.log"))
    }
}

/// What a probe saw, shown with the host's log when a wait fails; the log
/// is read only then.
struct SeenOn<'a> {
    seen: Value,
    host: &'a Host,
}

impl std::fmt::Display for SeenOn<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}\n{}", self.seen, self.host.log())
    }
}

fn read_lines(path: &Path) -> Vec<String> {
    fs::read_to_string(path)
        .map(|text| text.lines().map(str::to_owned).collect())
        .unwrap_or_default()
}

impl Drop for Host {
    fn drop(&mut self) {
        self.kill();
    }
}
