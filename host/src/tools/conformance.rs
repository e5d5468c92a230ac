//! `wharf conformance FILE`: checks an engine library the way the host will
//! use it, and prints a report.
//!
//! Nothing here is a model of the host: the library is loaded by the real
//! [`Registry`] (from a copy in a working directory), its sessions are opened by the real
//! [`SessionManager`], and every operation goes through the real
//! [`dispatch`](crate::dispatch::dispatch), with its feature gate and
//! deadline. What the checker adds is the contract each answer must keep.
//!
//! It writes only to a contact it creates itself, says which writes it will
//! make before the first session opens, and lists the writes it made at
//! the end (see `conformance/contacts.rs`).

mod contacts;
mod report;

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use abi_stable::std_types::RResult;
use anyhow::Context;
use async_ffi::FfiFuture;
use serde_json::Value;
use tokio::sync::{Mutex, broadcast};
use wharf_engine_api::{ABI_VERSION, EngineError, ErrorKind, ListQuery, Support, ffi::SessionBox};

use self::report::{Report, Verdict};
use crate::{
    config::ConformanceArgs,
    dispatch::{CallError, dispatch, gate_pairing},
    engines::{Feature, Group, LibraryFile, LoadedEngine, Loader, Operation, Registry},
    events::{Events, Told},
    sessions::{NewSession, SessionManager, Status, config_files::ConfigFiles},
    storage::Storage,
};

/// The session the checks run on, and a second one opened beside it.
const SESSION: &str = "conformance";
const SECOND_SESSION: &str = "conformance-2";

/// Runs every check on `args.file`; returns whether all passed.
pub async fn run(args: ConformanceArgs) -> anyhow::Result<bool> {
    let config = session_config(&args)?;
    let work = tempfile::tempdir().context("cannot create a working directory")?;
    let engines_dir = work.path().join("engines");
    std::fs::create_dir_all(&engines_dir)?;
    let file_name = args
        .file
        .file_name()
        .context("the library path names no file")?;
    std::fs::copy(&args.file, engines_dir.join(file_name))
        .with_context(|| format!("cannot read {}", args.file.display()))?;

    println!("wharf conformance: {}", args.file.display());
    let mut report = Report::default();
    let loader = Loader::for_tool().context("cannot prepare to load the library")?;
    let registry = Arc::new(Registry::load(&engines_dir, loader));
    let engine = match registry.snapshot().libraries().next() {
        Some(LibraryFile::Loaded(engine)) => Arc::clone(engine),
        Some(LibraryFile::Rejected(rejected)) => {
            report.fail("the host accepts the library", &rejected.reason);
            return Ok(report.finish());
        }
        None => {
            report.fail("the host accepts the library", "no library was found");
            return Ok(report.finish());
        }
    };
    report.pass(
        "the host accepts the library",
        format!(
            "{} (ABI {}, this host speaks {ABI_VERSION})",
            engine.label(),
            engine.manifest().abi_version
        ),
    );
    check_manifest(&mut report, &engine);

    let config_files = match &args.config_files_dir {
        Some(dir) => ConfigFiles::in_dir(dir)
            .with_context(|| format!("--config-files-dir {}: cannot use it", dir.display()))?,
        None => ConfigFiles::none(),
    };
    let storage = Storage::sqlite(&work.path().join("wharf.db"))?;
    let events = Events::start(storage.clone(), None).await;
    let told = Mutex::new(events.subscribe());
    let sessions = Arc::new(
        SessionManager::new(
            Arc::clone(&registry),
            storage,
            work.path().join("data"),
            engine.reference(),
            args.engine_timeout,
        )
        .with_config_files(config_files)
        .with_events(Arc::clone(&events)),
    );
    let checker = Checker {
        sessions,
        events,
        told,
        engine,
        config,
        deadline: args.engine_timeout,
        fictional: contacts::Fictional::new(),
        read_only: args.read_only,
    };
    checker.announce_writes(&mut report);
    let status = checker.open(&mut report, SESSION, "a session opens").await;
    if status == Some(Status::Working) {
        checker.check_contacts(&mut report).await;
        checker
            .check_concurrency(&mut report, usize::from(args.concurrent_calls))
            .await;
    } else {
        let why = match status {
            Some(status) => format!(
                "the session is {}, not WORKING; pass a --config (or --config-file) it can work with",
                status.as_waha()
            ),
            None => "the session did not open".to_owned(),
        };
        let unchecked: Vec<Operation> = Operation::of(Group::Contacts)
            .chain(Operation::of(Group::Lids))
            .filter(|&operation| checker.supports(operation))
            .collect();
        for &operation in &unchecked {
            report.skip(operation, &why);
        }
        if !unchecked.is_empty() && !args.allow_not_working {
            report.fail(
                "contacts features are checked",
                format!(
                    "none of the {} the engine supports could be checked: {why}; \
                     or pass --allow-not-working to check only the rest",
                    unchecked.len()
                ),
            );
        }
    }
    checker.check_pairing(&mut report).await;
    checker.check_lifecycle(&mut report, status).await;
    checker.sessions.close_all().await;
    Ok(report.finish())
}

/// The session config: `--config`, or the JSON in `--config-file`. A
/// config may hold tokens, so errors about the file give where, never what.
fn session_config(args: &ConformanceArgs) -> anyhow::Result<Value> {
    let Some(path) = &args.config_file else {
        let config: Value = serde_json::from_str(&args.config).context("--config is not JSON")?;
        anyhow::ensure!(config.is_object(), "--config must be a JSON object");
        return Ok(config);
    };
    let file = path.display();
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("--config-file {file}: cannot read it"))?;
    let config: Value = serde_json::from_str(&text).map_err(|err| {
        let problem = match err.classify() {
            serde_json::error::Category::Eof => "ends too soon",
            _ => "is not JSON",
        };
        anyhow::anyhow!(
            "--config-file {file}: {problem} (line {}, column {})",
            err.line(),
            err.column()
        )
    })?;
    anyhow::ensure!(
        config.is_object(),
        "--config-file {file}: must hold a JSON object"
    );
    Ok(config)
}

fn check_manifest(report: &mut Report, engine: &LoadedEngine) {
    let manifest = engine.manifest();
    if manifest.description.trim().is_empty() {
        report.fail(
            "the manifest describes the engine",
            "the description is empty; operators read it in GET /api/server/engines",
        );
    } else {
        report.pass(
            "the manifest describes the engine",
            manifest.description.as_str(),
        );
    }
    let mut unexplained = Vec::new();
    let mut unknown = Vec::new();
    for (key, support) in manifest
        .features
        .iter()
        .map(|f| (f.key.as_str(), &f.support))
    {
        if let Support::Unsupported { reason } = support
            && reason.trim().is_empty()
        {
            unexplained.push(key);
        }
        if Operation::from_key(key).is_none() {
            unknown.push(key);
        }
    }
    if unexplained.is_empty() {
        report.pass(
            "every unsupported feature says why",
            "REST users read the reason in 501 answers",
        );
    } else {
        report.fail(
            "every unsupported feature says why",
            format!("no reason for {}", unexplained.join(", ")),
        );
    }
    if !unknown.is_empty() {
        report.note(format!(
            "this host does not know {} and ignores it",
            unknown.join(", ")
        ));
    }
}

/// What the checks run with: the engine under test, a session manager of
/// its own (the host's real dispatch), and the run's settings.
struct Checker {
    sessions: Arc<SessionManager>,
    /// The host's events, which the sessions report to.
    events: Arc<Events>,
    /// Every event reported since the run began, as a listener hears it.
    told: Mutex<broadcast::Receiver<Arc<Told>>>,
    engine: Arc<LoadedEngine>,
    config: Value,
    deadline: Duration,
    /// The numbers the contacts checks ask about and write to.
    fictional: contacts::Fictional,
    /// Make no writes (`--read-only`).
    read_only: bool,
}

/// The read-only contacts operations the concurrency check can repeat.
#[derive(Clone, Copy)]
enum ReadOnce {
    Get,
    List,
    CheckExists,
}

impl ReadOnce {
    fn operation(self) -> Operation {
        match self {
            Self::Get => Operation::ContactsGet,
            Self::List => Operation::ContactsList,
            Self::CheckExists => Operation::ContactsCheckExists,
        }
    }
}

/// The ways to pair, each checked on a session waiting for it.
#[derive(Clone, Copy)]
enum Pairing {
    Qr,
    Code,
}

impl Pairing {
    fn operation(self) -> Operation {
        match self {
            Self::Qr => Operation::AuthQr,
            Self::Code => Operation::AuthCode,
        }
    }
}

/// Whether an answer from the host path keeps the contract: data, or an
/// error the engine meant (not a panic, an internal failure or a timeout).
fn judge<T>(answer: &Result<T, CallError>) -> Result<(), String> {
    let Err(err) = answer else {
        return Ok(());
    };
    match err {
        CallError::Engine { error, .. } if error.kind.known() == ErrorKind::INTERNAL => {
            Err(format!("the engine failed: {err}"))
        }
        CallError::Engine { error, .. } if error.kind == ErrorKind::UNSUPPORTED => {
            Err(format!("the engine refused a feature it advertises: {err}"))
        }
        CallError::Engine { error, .. } if error.message.trim().is_empty() => {
            Err("an error without a message".into())
        }
        CallError::TimedOut { .. } => Err(format!("no answer within the deadline: {err}")),
        CallError::Unsupported { .. } => {
            Err(format!("the host refused a supported feature: {err}"))
        }
        _ => Ok(()),
    }
}

impl Checker {
    fn supports(&self, operation: Operation) -> bool {
        self.engine.feature(operation) == Feature::Supported
    }

    /// Whether the engine was built against a contract that has the rule
    /// `since` (an ABI version such as `2.1.0`): a rule is held only
    /// against engines that could know it, as an engine built before it
    /// keeps loading and passing.
    fn built_knowing(&self, since: &semver::Version) -> bool {
        semver::Version::parse(self.engine.manifest().abi_version.as_str())
            .is_ok_and(|built| built >= *since)
    }

    /// Creates and starts `name`, waits until it leaves STARTING (or the
    /// deadline passes), and reports; returns the status it reached.
    async fn open(&self, report: &mut Report, name: &str, check: &str) -> Option<Status> {
        let started = Instant::now();
        let created = self
            .sessions
            .create(NewSession {
                name: name.to_owned(),
                engine: Some(self.engine.label()),
                config: self.config.clone(),
                start: true,
            })
            .await;
        if let Err(err) = created {
            report.fail(check, err);
            return None;
        }
        self.settle(report, name, check, started).await
    }

    async fn settle(
        &self,
        report: &mut Report,
        name: &str,
        check: &str,
        started: Instant,
    ) -> Option<Status> {
        let session = self.sessions.get(name)?;
        loop {
            let run = session.run();
            let (status, reason) = run.state().status();
            let opened = run.state().handle().is_some();
            let settled = match status {
                Status::Starting => false,
                Status::Failed => true,
                _ => opened,
            };
            let waited = started.elapsed();
            if settled || waited >= self.deadline {
                let took = waited.as_millis();
                match (status, reason) {
                    (Status::Failed, None) => report.fail(check, "FAILED without a reason"),
                    (Status::Starting, _) if !opened => report.fail(
                        check,
                        format!(
                            "the engine did not open the session within {:?}",
                            self.deadline
                        ),
                    ),
                    (status, Some(reason)) => report.pass(
                        check,
                        format!("{} after {took} ms: {reason}", status.as_waha()),
                    ),
                    (status, None) => {
                        report.pass(check, format!("{} after {took} ms", status.as_waha()))
                    }
                }
                return Some(status);
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Runs one operation through the host's dispatch and judges it.
    async fn call<T>(
        &self,
        operation: Operation,
        call: impl FnOnce(&SessionBox) -> FfiFuture<RResult<T, EngineError>>,
    ) -> Result<Result<T, CallError>, String> {
        let answer = dispatch(&self.sessions, SESSION, operation, call).await;
        judge(&answer).map(|()| answer)
    }

    fn unsupported_reason(&self, operation: Operation) -> String {
        match self.engine.feature(operation) {
            Feature::Unsupported { reason } => {
                format!("unsupported, so never called ({reason})")
            }
            Feature::Supported => "supported".to_owned(),
        }
    }

    /// Many calls at once through the host: every one answered, none failed.
    async fn check_concurrency(&self, report: &mut Report, calls: usize) {
        const CHECK: &str = "concurrent calls";
        let read = [ReadOnce::Get, ReadOnce::List, ReadOnce::CheckExists]
            .into_iter()
            .find(|read| self.supports(read.operation()));
        let Some(read) = read else {
            report.skip(CHECK, "the engine supports no read-only contacts feature");
            return;
        };
        let started = Instant::now();
        let mut calls_in_flight = tokio::task::JoinSet::new();
        for _ in 0..calls {
            let sessions = Arc::clone(&self.sessions);
            let absent = self.fictional.absent.clone();
            calls_in_flight.spawn(async move {
                let operation = read.operation();
                let answer = match read {
                    ReadOnce::Get => dispatch(&sessions, SESSION, operation, |s| {
                        s.get_contact(absent.as_str().into())
                    })
                    .await
                    .map(drop),
                    ReadOnce::List => {
                        let first = ListQuery {
                            limit: Some(1).into(),
                            ..ListQuery::default()
                        };
                        dispatch(&sessions, SESSION, operation, |s| s.list_contacts(first))
                            .await
                            .map(drop)
                    }
                    ReadOnce::CheckExists => dispatch(&sessions, SESSION, operation, |s| {
                        s.check_exists(absent.trim_end_matches("@c.us").into())
                    })
                    .await
                    .map(drop),
                };
                judge(&answer)
            });
        }
        let answers = calls_in_flight.join_all().await;
        let failures: Vec<String> = answers.into_iter().filter_map(Result::err).collect();
        let elapsed = started.elapsed();
        let feature = read.operation();
        match failures.first() {
            None => report.pass(
                CHECK,
                format!(
                    "{calls} × {feature} at once, all answered in {} ms",
                    elapsed.as_millis()
                ),
            ),
            Some(first) => report.fail(
                CHECK,
                format!(
                    "{} of {calls} × {feature} failed; the first: {first}",
                    failures.len()
                ),
            ),
        }
    }

    async fn check_pairing(&self, report: &mut Report) {
        let status = self
            .sessions
            .get(SESSION)
            .map(|s| s.run().state().status().0);
        let waiting = status == Some(Status::ScanQrCode);
        for pairing in [Pairing::Qr, Pairing::Code] {
            let operation = pairing.operation();
            if !self.supports(operation) {
                report.skip(operation, self.unsupported_reason(operation));
                continue;
            }
            if !waiting {
                report.skip(
                    operation,
                    "the session is not waiting for pairing (SCAN_QR_CODE)",
                );
                continue;
            }
            let outcome = match pairing {
                Pairing::Qr => self.check_qr().await,
                Pairing::Code => self.check_pairing_code().await,
            };
            report.outcome(operation, outcome);
        }
    }

    async fn check_qr(&self) -> Result<String, String> {
        let started = Instant::now();
        loop {
            let qr = self
                .sessions
                .get(SESSION)
                .and_then(|s| s.run().state().qr());
            if let Some(qr) = qr {
                return Ok(format!("a QR value of {} characters", qr.len()));
            }
            if started.elapsed() >= self.deadline {
                return Err(format!(
                    "no QR value within {:?} of SCAN_QR_CODE",
                    self.deadline
                ));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    async fn check_pairing_code(&self) -> Result<String, String> {
        let target = gate_pairing(&self.sessions, SESSION, Operation::AuthCode)
            .map_err(|err| format!("the host would not route it: {err}"))?;
        let answer = target
            .call(|s| s.request_pairing_code("10000000000".into()))
            .await;
        judge(&answer)?;
        Ok(describe(answer, |code| format!("code '{code}'")))
    }

    /// Stops and starts the session again on its data, and opens a second
    /// one beside it: each reaches the same status, and closing is prompt.
    async fn check_lifecycle(&self, report: &mut Report, first: Option<Status>) {
        let Some(first) = first else { return };
        let Some(session) = self.sessions.get(SESSION) else {
            return;
        };
        let started = Instant::now();
        let stopped = self.sessions.stop(&session).await;
        let took = started.elapsed();
        match stopped {
            Err(err) => report.fail("sessions close cleanly", err),
            Ok(()) if took >= self.deadline => report.fail(
                "sessions close cleanly",
                format!("closing took {} ms, past the deadline", took.as_millis()),
            ),
            Ok(()) => report.pass(
                "sessions close cleanly",
                format!("closed in {} ms", took.as_millis()),
            ),
        }
        let started = Instant::now();
        if let Err(err) = self.sessions.start(&session).await {
            report.fail("a session reopens on its data", err);
            return;
        }
        let again = self
            .settle(report, SESSION, "a session reopens on its data", started)
            .await;
        if again != Some(first) {
            report.fail(
                "a session reopens on its data",
                format!(
                    "it reached {:?} this time, {:?} the first time",
                    again.map(Status::as_waha),
                    first.as_waha()
                ),
            );
        } else if first == Status::Working {
            self.note_forgotten_writes(report).await;
        }
        self.open(report, SECOND_SESSION, "a second session opens beside it")
            .await;
    }
}

/// `what` of a good answer, or the error the engine meant.
fn describe<T>(answer: Result<T, CallError>, what: impl FnOnce(&T) -> String) -> String {
    match answer {
        Ok(value) => what(&value),
        Err(err) => format!("answered with an error: {err}"),
    }
}
