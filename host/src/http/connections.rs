//! Accepting HTTP/1.1 connections from clients that may be slow, silent or
//! hostile, and keeping them within bounds.
//!
//! Each connection is in one of three phases: *idle* (no request under way),
//! *head* (the first bytes of a request arrived, its headers are not all in)
//! or *busy* (a request was handed to the router and its answer is not yet
//! written). A watchdog per connection enforces the limits:
//!
//! - idle longer than the idle timeout: closed (gracefully, so an answer
//!   still being flushed is not cut);
//! - in head longer than the header timeout: dropped;
//! - a request body not in full within the body timeout: the request gets
//!   `408` and the connection is closed.
//!
//! At most `max_connections` are open. A new connection over the limit takes
//! the place of the one that has waited longest without a request under way,
//! which is dropped at once (and its file freed before more connections are
//! accepted), so clients holding connections open without using them cannot
//! lock others out; when every connection is busy, the new one gets `503`
//! and is closed. Nobody is left hanging.
//!
//! On shutdown the listener closes, requests under way are finished (their
//! connections then close), idle connections close, and half-sent headers
//! are dropped.
//!
//! hyper's own `header_read_timeout` is not used: it runs from the end of
//! the previous answer, so it cannot tell a silent client from one stuck
//! half-way through its headers.

use std::{
    cell::RefCell,
    collections::HashMap,
    convert::Infallible,
    future::Future,
    io,
    pin::Pin,
    sync::{
        Arc, Mutex, MutexGuard, PoisonError,
        atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering},
    },
    task::{Context, Poll},
    time::Duration,
};

use anyhow::Context as _;
use axum::{
    body::{Body, Bytes},
    http::{HeaderValue, Request, Response, header},
    response::IntoResponse,
};
use futures_util::task::AtomicWaker;
use hyper::{
    body::{Body as HttpBody, Frame, Incoming, SizeHint},
    server::conn::http1,
    service::service_fn,
};
use hyper_util::rt::TokioIo;
use tokio::{
    io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf},
    net::{TcpListener, TcpStream},
    sync::Notify,
    task::JoinSet,
    time::{Instant, Sleep},
};

use crate::http::errors::ApiError;

/// The connection limit when none is configured never goes above this:
/// past it, memory for idle connections matters more than fds.
pub(crate) const MAX_DEFAULT_CONNECTIONS: u64 = 10_000;

/// Connections over the limit answered `503` at once; past this many at a
/// time they are closed without an answer, so that turning clients away
/// cannot itself exhaust file descriptors.
const MAX_TURNING_AWAY: usize = 16;

/// Connections told to make room that may still hold their file
/// descriptor; past this many, no new connection is accepted until they
/// are gone. Together with [`MAX_TURNING_AWAY`] this stays within the files
/// [`default_max_connections`] leaves aside.
const MAX_CLOSING: usize = 16;

/// How long a closing connection is kept to read what the client still
/// sends, so that closing it does not reset the connection before the
/// client has read its answer (a `503` over the limit, a `413`).
const LINGER: Duration = Duration::from_secs(2);

/// Backoff between failed `accept` calls (such as "Too many open files").
const MIN_BACKOFF: Duration = Duration::from_millis(10);
const MAX_BACKOFF: Duration = Duration::from_secs(1);

/// What the server hands each request to: the router and what wraps it.
/// It must always be ready, as axum's router is: the server calls it
/// without asking.
pub(crate) trait App:
    tower::Service<
        Request<Body>,
        Response = Response<Body>,
        Error = Infallible,
        Future: Send + 'static,
    > + Clone
    + Send
    + 'static
{
}

impl<T> App for T where
    T: tower::Service<
            Request<Body>,
            Response = Response<Body>,
            Error = Infallible,
            Future: Send + 'static,
        > + Clone
        + Send
        + 'static
{
}

/// The bounds every connection is held to.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub header_timeout: Duration,
    pub body_timeout: Duration,
    pub idle_timeout: Duration,
    pub max_connections: usize,
}

/// Raises the soft limit on open files to the hard limit, so that the
/// connection limit, not the kernel, decides when connections are refused.
/// Returns the limit in force (`None`: unlimited or unknown).
#[cfg(unix)]
pub(crate) fn raise_open_files_limit() -> Option<u64> {
    use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};

    let limit = getrlimit(Resource::Nofile);
    if limit.current == limit.maximum {
        tracing::info!("open files limit: {}", show(limit.current));
        return limit.current;
    }
    let raised = Rlimit {
        current: limit.maximum,
        maximum: limit.maximum,
    };
    match setrlimit(Resource::Nofile, raised) {
        Ok(()) => {
            tracing::info!(
                "open files limit: {}, raised from {}",
                show(limit.maximum),
                show(limit.current)
            );
            limit.maximum
        }
        Err(err) => {
            tracing::warn!(
                error = %err,
                "open files limit: {}; cannot raise it to the hard limit {}",
                show(limit.current),
                show(limit.maximum)
            );
            limit.current
        }
    }
}

#[cfg(not(unix))]
pub fn raise_open_files_limit() -> Option<u64> {
    None
}

#[cfg(unix)]
fn show(limit: Option<u64>) -> String {
    limit.map_or_else(|| "unlimited".to_owned(), |n| n.to_string())
}

/// The connection limit for an open files limit: a quarter of the files
/// (at least 64) stay for engines, databases and outgoing connections.
pub(crate) fn default_max_connections(open_files: Option<u64>) -> usize {
    let connections = match open_files {
        None => MAX_DEFAULT_CONNECTIONS,
        Some(files) => files
            .saturating_sub((files / 4).max(64))
            .max(files / 2)
            .clamp(1, MAX_DEFAULT_CONNECTIONS),
    };
    usize::try_from(connections).unwrap_or(usize::MAX)
}

/// Serves `app` on `listener` within `limits` until `shutdown` completes;
/// then stops accepting, lets requests under way finish, closes the rest,
/// and returns once every connection is gone.
pub(crate) async fn serve(
    listener: TcpListener,
    app: impl App,
    limits: Limits,
    shutdown: impl Future<Output = ()>,
) -> anyhow::Result<()> {
    let turn_away_answer = over_limit_answer(limits.max_connections).await?;
    let table = Arc::new(Table::default());
    let turning_away = Arc::new(AtomicUsize::new(0));
    let mut tasks = JoinSet::new();
    let mut backoff = MIN_BACKOFF;
    tokio::pin!(shutdown);
    'serving: loop {
        // A burst of new connections must not outrun the ones closing to
        // make room for them, or the files run out.
        while table.lock().closing() > MAX_CLOSING {
            tokio::select! {
                () = &mut shutdown => break 'serving,
                () = table.left.notified() => {}
            }
        }
        let accepted = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => accepted,
            Some(finished) = tasks.join_next(), if !tasks.is_empty() => {
                log_panic(finished);
                continue;
            }
        };
        let stream = match accepted {
            Ok((stream, _peer)) => {
                backoff = MIN_BACKOFF;
                stream
            }
            // The client gave up before we took its connection.
            Err(err) if is_about_one_connection(&err) => continue,
            Err(err) => {
                tracing::error!(error = %err, retry_in = ?backoff, "cannot accept connections");
                tokio::select! {
                    () = &mut shutdown => break,
                    () = tokio::time::sleep(backoff) => {}
                }
                backoff = (backoff * 2).min(MAX_BACKOFF);
                continue;
            }
        };
        match table.admit(&limits) {
            Some(admitted) => {
                let app = app.clone();
                tasks.spawn(run_connection(stream, admitted, app, limits));
            }
            None => {
                if turning_away.fetch_add(1, Ordering::Relaxed) < MAX_TURNING_AWAY {
                    let answer = turn_away_answer.clone();
                    let turning_away = Arc::clone(&turning_away);
                    tasks.spawn(async move {
                        turn_away(stream, answer).await;
                        turning_away.fetch_sub(1, Ordering::Relaxed);
                    });
                } else {
                    turning_away.fetch_sub(1, Ordering::Relaxed);
                    drop(stream);
                }
            }
        }
    }
    drop(listener);
    table.stop_all();
    while let Some(finished) = tasks.join_next().await {
        log_panic(finished);
    }
    Ok(())
}

fn log_panic(finished: Result<(), tokio::task::JoinError>) {
    if let Err(err) = finished
        && err.is_panic()
    {
        tracing::error!(error = %err, "a connection's task panicked");
    }
}

fn is_about_one_connection(err: &io::Error) -> bool {
    matches!(
        err.kind(),
        io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionRefused
            | io::ErrorKind::Interrupted
    )
}

/// The bytes of the `503` a connection over the limit gets, in the error
/// shape of every other answer.
async fn over_limit_answer(max_connections: usize) -> anyhow::Result<Bytes> {
    let (parts, body) = ApiError::too_many_connections(max_connections)
        .into_response()
        .into_parts();
    let body = axum::body::to_bytes(body, usize::MAX)
        .await
        .context("cannot prepare the answer to connections over the limit")?;
    let mut answer = format!(
        "HTTP/1.1 {} {}\r\n",
        parts.status.as_u16(),
        parts.status.canonical_reason().unwrap_or_default()
    );
    if let Some(content_type) = parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
    {
        answer.push_str(&format!("content-type: {content_type}\r\n"));
    }
    answer.push_str(&format!(
        "content-length: {}\r\nconnection: close\r\n\r\n",
        body.len()
    ));
    let mut bytes = answer.into_bytes();
    bytes.extend_from_slice(&body);
    Ok(Bytes::from(bytes))
}

/// Answers `503` without waiting for the request, then reads and discards
/// what the client sends for a moment before closing.
async fn turn_away(mut stream: TcpStream, answer: Bytes) {
    if stream.write_all(&answer).await.is_err() || stream.shutdown().await.is_err() {
        return;
    }
    read_away(&mut stream).await;
}

/// The open connections, so that one can make room for another.
#[derive(Default)]
struct Table {
    open: Mutex<Open>,
    next_id: AtomicU64,
    /// A connection has closed.
    left: Notify,
}

#[derive(Default)]
struct Open {
    /// Every connection whose task still runs, evicted or not.
    connections: HashMap<u64, Arc<Watch>>,
    /// How many of them were told to make room.
    evicted: usize,
}

impl Open {
    fn closing(&self) -> usize {
        self.evicted
    }

    fn staying(&self) -> usize {
        self.connections.len() - self.evicted
    }
}

/// A connection's place in the [`Table`]; leaves it when dropped.
struct Admitted {
    table: Arc<Table>,
    id: u64,
    watch: Arc<Watch>,
}

impl Drop for Admitted {
    fn drop(&mut self) {
        let mut open = self.table.lock();
        if open.connections.remove(&self.id).is_some() && self.watch.is_evicted() {
            open.evicted -= 1;
        }
        drop(open);
        self.table.left.notify_one();
    }
}

impl Table {
    fn lock(&self) -> MutexGuard<'_, Open> {
        self.open.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Tells every connection the server is stopping.
    fn stop_all(&self) {
        for watch in self.lock().connections.values() {
            watch.stop();
        }
    }

    /// A place for a new connection; at the limit, the connection that has
    /// waited longest without a request under way is told to close and
    /// gives up its place. `None` when every connection is busy.
    fn admit(self: &Arc<Self>, limits: &Limits) -> Option<Admitted> {
        let mut open = self.lock();
        if open.staying() >= limits.max_connections {
            let victim = open
                .connections
                .values()
                .filter(|watch| !watch.is_evicted())
                .filter_map(|watch| {
                    let (phase, since) = watch.phase();
                    (phase != Phase::Busy).then_some((since, watch))
                })
                .min_by_key(|(since, _)| *since)
                .map(|(_, watch)| Arc::clone(watch))?;
            victim.evict();
            open.evicted += 1;
        }
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let watch = Arc::new(Watch::new(limits));
        open.connections.insert(id, Arc::clone(&watch));
        Some(Admitted {
            table: Arc::clone(self),
            id,
            watch,
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Idle,
    Head,
    Busy,
}

struct Activity {
    phase: Phase,
    since: Instant,
    requests: usize,
    /// When the watchdog looks next, unless woken: never after the phase's
    /// deadline, nor more than a [`Watch::tick`] after it was set. So a
    /// phase entered now has its deadline after the alarm, and requests
    /// neither wake the watchdog nor move its timer.
    alarm: Option<Instant>,
}

/// The watchdog's view of a connection.
struct Plan {
    phase: Phase,
    deadline: Option<Instant>,
    alarm: Option<Instant>,
}

/// What one connection is doing, seen by its reader, its requests and its
/// watchdog.
struct Watch {
    activity: Mutex<Activity>,
    header_timeout: Duration,
    idle_timeout: Duration,
    /// The shortest timeout: how far ahead the alarm is set at most.
    tick: Duration,
    /// Wakes the watchdog: a deadline comes before its alarm, or the
    /// connection was evicted, or the server is stopping.
    wake: Signal,
    evicted: AtomicBool,
    stopping: AtomicBool,
}

impl Watch {
    fn new(limits: &Limits) -> Self {
        Self {
            activity: Mutex::new(Activity {
                phase: Phase::Idle,
                since: Instant::now(),
                requests: 0,
                alarm: None,
            }),
            header_timeout: limits.header_timeout,
            idle_timeout: limits.idle_timeout,
            tick: limits.header_timeout.min(limits.idle_timeout),
            wake: Signal::default(),
            evicted: AtomicBool::new(false),
            stopping: AtomicBool::new(false),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Activity> {
        self.activity.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn phase(&self) -> (Phase, Instant) {
        let activity = self.lock();
        (activity.phase, activity.since)
    }

    /// Enters `phase` now, waking the watchdog if its deadline comes before
    /// the alarm.
    fn enter(&self, mut activity: MutexGuard<'_, Activity>, phase: Phase, timeout: Duration) {
        let now = Instant::now();
        activity.phase = phase;
        activity.since = now;
        let early = activity.alarm.is_none_or(|alarm| now + timeout < alarm);
        drop(activity);
        if early {
            self.wake.raise();
        }
    }

    fn saw_bytes(&self) {
        let activity = self.lock();
        if activity.phase == Phase::Idle {
            self.enter(activity, Phase::Head, self.header_timeout);
        }
    }

    fn request_started(self: &Arc<Self>) -> RequestUnderWay {
        let mut activity = self.lock();
        activity.requests += 1;
        activity.phase = Phase::Busy;
        RequestUnderWay(Arc::clone(self))
    }

    fn request_finished(&self) {
        let mut activity = self.lock();
        activity.requests = activity.requests.saturating_sub(1);
        if activity.requests == 0 {
            self.enter(activity, Phase::Idle, self.idle_timeout);
        }
    }

    /// The phase, its deadline, and the alarm for the watchdog, which is
    /// kept if it still rings in time and set otherwise to the deadline or
    /// a tick from now, whichever comes first.
    fn plan(&self, now: Instant) -> Plan {
        let mut activity = self.lock();
        let deadline = match activity.phase {
            Phase::Head => Some(activity.since + self.header_timeout),
            Phase::Idle => Some(activity.since + self.idle_timeout),
            Phase::Busy => None,
        };
        let next_tick = now + self.tick;
        activity.alarm = match activity.alarm {
            Some(alarm) if now < alarm && deadline.is_none_or(|deadline| alarm <= deadline) => {
                Some(alarm)
            }
            _ => Some(deadline.map_or(next_tick, |deadline| deadline.min(next_tick))),
        };
        Plan {
            phase: activity.phase,
            deadline,
            alarm: activity.alarm,
        }
    }

    /// Starts the idle clock again, for the grace given to a closing connection.
    fn restart_idle_clock(&self) {
        let mut activity = self.lock();
        if activity.phase == Phase::Idle {
            activity.since = Instant::now();
        }
    }

    fn evict(&self) {
        self.evicted.store(true, Ordering::Relaxed);
        self.wake.raise();
    }

    fn is_evicted(&self) -> bool {
        self.evicted.load(Ordering::Relaxed)
    }

    fn stop(&self) {
        self.stopping.store(true, Ordering::Relaxed);
        self.wake.raise();
    }

    fn is_stopping(&self) -> bool {
        self.stopping.load(Ordering::Relaxed)
    }
}

/// A wake-up for one waiting task, kept until it is taken.
///
/// A connection's watchdog waits on it beside the connection itself, so it
/// is polled whenever the connection is: unlike `Notify`, polling it takes
/// no lock.
#[derive(Default)]
struct Signal {
    raised: AtomicBool,
    waker: AtomicWaker,
}

impl Signal {
    fn raise(&self) {
        self.raised.store(true, Ordering::Release);
        self.waker.wake();
    }

    /// Completes once the signal is raised, taking it down.
    fn taken(&self) -> impl Future<Output = ()> + '_ {
        std::future::poll_fn(|cx| {
            self.waker.register(cx.waker());
            if self.raised.swap(false, Ordering::AcqRel) {
                Poll::Ready(())
            } else {
                Poll::Pending
            }
        })
    }
}

/// Held from the moment a request reaches the router until its answer's
/// body is written out (or the connection drops).
struct RequestUnderWay(Arc<Watch>);

impl Drop for RequestUnderWay {
    fn drop(&mut self) {
        self.0.request_finished();
    }
}

async fn run_connection(stream: TcpStream, admitted: Admitted, app: impl App, limits: Limits) {
    let watch = Arc::clone(&admitted.watch);
    let io = TokioIo::new(Watched {
        stream: LingeringClose(Some(stream)),
        watch: Arc::clone(&watch),
    });
    let service = {
        let watch = Arc::clone(&watch);
        // hyper hands the service its requests one at a time, through a
        // shared reference; a service is called through a unique one. The
        // cell gives it that without cloning the app for every request.
        let app = RefCell::new(app);
        service_fn(move |request| {
            let under_way = watch.request_started();
            handle(
                request,
                &mut *app.borrow_mut(),
                limits.body_timeout,
                under_way,
            )
        })
    };
    let connection = http1::Builder::new()
        .header_read_timeout(None)
        // Answers are small JSON: copied behind their head into one buffer
        // and written at once, they cost less than a vectored write
        // (measured: about 4% of a get-contact's CPU; no change for a list
        // of 100 contacts).
        .writev(false)
        .serve_connection(io, service)
        .with_upgrades();
    tokio::pin!(connection);
    let timer = tokio::time::sleep(Duration::ZERO);
    tokio::pin!(timer);
    let mut armed = None;
    let mut closing = false;
    loop {
        let now = Instant::now();
        let stop = watch.is_stopping();
        let Plan {
            phase,
            deadline,
            alarm,
        } = watch.plan(now);
        let evicted = watch.is_evicted();
        let expired = deadline.is_some_and(|deadline| deadline <= now);
        match phase {
            // Its place is taken: the file must be freed now. Nothing is
            // under way, and an answer not flushed by now, after waiting
            // longer than any other connection, is not being read.
            Phase::Head | Phase::Idle if evicted => return,
            // Nothing of this request reached the router: nothing to finish.
            Phase::Head if stop || expired => return,
            // Asked to close an idle timeout ago and not done: stuck flushing.
            Phase::Idle if closing && expired => return,
            Phase::Idle | Phase::Busy if (stop || evicted || expired) && !closing => {
                connection.as_mut().graceful_shutdown();
                closing = true;
                watch.restart_idle_clock();
                continue;
            }
            _ => {}
        }
        if alarm != armed {
            if let Some(alarm) = alarm {
                timer.as_mut().reset(alarm);
            }
            armed = alarm;
        }
        tokio::select! {
            finished = connection.as_mut() => {
                if let Err(err) = finished {
                    tracing::debug!(error = %err, "connection ended with an error");
                }
                return;
            }
            () = watch.wake.taken() => {}
            () = &mut timer, if armed.is_some() => {}
        }
    }
}

/// Runs one request through the router, with its body under the body
/// timeout. A body that timed out gets `408` whatever the route made of the
/// broken body, and the connection is closed: the rest of the body may
/// still come and cannot be told from a next request.
fn handle<A: App>(
    request: Request<Incoming>,
    app: &mut A,
    body_timeout: Duration,
    under_way: RequestUnderWay,
) -> impl Future<Output = Result<Response<AnswerBody>, Infallible>> + Send + use<A> {
    // Most requests have no body: nothing to time or to watch for them.
    let (routed, body) = if request.body().is_end_stream() {
        (app.call(request.map(Body::new)), None)
    } else {
        let body = Arc::new(BodyProgress::default());
        let request = request.map(|incoming| {
            Body::new(TimedBody {
                body: incoming,
                deadline: Some(Box::pin(tokio::time::sleep(body_timeout))),
                progress: Arc::clone(&body),
            })
        });
        (app.call(request), Some(body))
    };
    async move {
        let Ok(mut response) = routed.await;
        if let Some(body) = body {
            if body.timed_out.load(Ordering::Relaxed) {
                response = ApiError::body_timeout(body_timeout.as_secs_f64()).into_response();
            }
            // A body not read to its end (a 413, a 415, a timeout) leaves
            // the connection where no next request can be found: it will
            // close, and the client must know before it sends another
            // request on it.
            if !body.read.load(Ordering::Relaxed) {
                response
                    .headers_mut()
                    .insert(header::CONNECTION, HeaderValue::from_static("close"));
            }
        }
        Ok(answer(response, under_way))
    }
}

/// The router's answer, holding its request under way until it is written.
fn answer(response: Response<Body>, under_way: RequestUnderWay) -> Response<AnswerBody> {
    response.map(|body| AnswerBody {
        body,
        _under_way: under_way,
    })
}

/// The client's stream, noting when bytes of a new request arrive.
struct Watched {
    stream: LingeringClose,
    watch: Arc<Watch>,
}

impl AsyncRead for Watched {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let read = Pin::new(&mut *this.stream).poll_read(cx, buf);
        if buf.filled().len() > before {
            this.watch.saw_bytes();
        }
        read
    }
}

impl AsyncWrite for Watched {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut *self.get_mut().stream).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut *self.get_mut().stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut *self.get_mut().stream).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut *self.get_mut().stream).poll_shutdown(cx)
    }
}

/// A client's stream that, when dropped with bytes from the client still
/// unread (a body the host answered before reading it all, as a 413),
/// first closes its side and reads those bytes away for a moment: closing
/// a socket with unread bytes resets the connection, and the reset can
/// destroy the answer before the client has read it.
struct LingeringClose(Option<TcpStream>);

/// Streams read away at once at most; past this, a closing stream is
/// dropped as it is, so that lingering cannot hold many file descriptors.
const MAX_LINGERING: usize = 64;
static LINGERING: AtomicUsize = AtomicUsize::new(0);

impl std::ops::Deref for LingeringClose {
    type Target = TcpStream;

    fn deref(&self) -> &TcpStream {
        self.0.as_ref().expect("the stream is there until dropped")
    }
}

impl std::ops::DerefMut for LingeringClose {
    fn deref_mut(&mut self) -> &mut TcpStream {
        self.0.as_mut().expect("the stream is there until dropped")
    }
}

impl Drop for LingeringClose {
    fn drop(&mut self) {
        let Some(stream) = self.0.take() else {
            return;
        };
        let mut probe = [0; 1];
        let unread = matches!(stream.try_read(&mut probe), Ok(1..));
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        if unread && LINGERING.fetch_add(1, Ordering::Relaxed) < MAX_LINGERING {
            runtime.spawn(async move {
                let mut stream = stream;
                // hyper may have closed our side already; either way the
                // client has the whole answer before the bytes are read away.
                let _ = stream.shutdown().await;
                read_away(&mut stream).await;
                LINGERING.fetch_sub(1, Ordering::Relaxed);
            });
        } else if unread {
            LINGERING.fetch_sub(1, Ordering::Relaxed);
        }
    }
}

/// Reads and discards what the client still sends, for at most [`LINGER`]
/// and 1 MiB, so that the connection ends with a close, not a reset.
async fn read_away(stream: &mut TcpStream) {
    let mut sink = [0; 4096];
    let mut left = 1024 * 1024_usize;
    let _ = tokio::time::timeout(LINGER, async {
        while let Ok(read @ 1..) = stream.read(&mut sink).await {
            left = left.saturating_sub(read);
            if left == 0 {
                break;
            }
        }
    })
    .await;
}

/// A request body that fails once the body timeout has passed since the
/// request's headers arrived.
struct TimedBody {
    body: Incoming,
    /// Dropped once the body is in, so its timer is not kept for nothing.
    deadline: Option<Pin<Box<Sleep>>>,
    progress: Arc<BodyProgress>,
}

/// How far a [`TimedBody`] got, for the answer to its request.
#[derive(Default)]
struct BodyProgress {
    timed_out: AtomicBool,
    /// Set once the body has been read to its end.
    read: AtomicBool,
}

/// The error a [`TimedBody`] fails with.
#[derive(Debug)]
struct BodyTimedOut;

impl std::fmt::Display for BodyTimedOut {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the request body did not arrive within the body timeout")
    }
}

impl std::error::Error for BodyTimedOut {}

impl HttpBody for TimedBody {
    type Data = Bytes;
    type Error = axum::BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = self.get_mut();
        if this.progress.timed_out.load(Ordering::Relaxed) {
            return Poll::Ready(Some(Err(BodyTimedOut.into())));
        }
        if let Poll::Ready(frame) = Pin::new(&mut this.body).poll_frame(cx) {
            if frame.is_none() {
                this.deadline = None;
                this.progress.read.store(true, Ordering::Relaxed);
            }
            return Poll::Ready(frame.map(|frame| frame.map_err(Into::into)));
        }
        let expired = this
            .deadline
            .as_mut()
            .is_some_and(|deadline| deadline.as_mut().poll(cx).is_ready());
        if !expired {
            return Poll::Pending;
        }
        this.deadline = None;
        this.progress.timed_out.store(true, Ordering::Relaxed);
        Poll::Ready(Some(Err(BodyTimedOut.into())))
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

/// An answer's body, holding its request under way until it is written.
struct AnswerBody {
    body: Body,
    _under_way: RequestUnderWay,
}

impl HttpBody for AnswerBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        Pin::new(&mut self.get_mut().body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_connection_limit_leaves_files_for_the_rest_of_the_host() {
        assert_eq!(default_max_connections(Some(1024)), 768);
        assert_eq!(default_max_connections(Some(128)), 64);
        assert_eq!(default_max_connections(Some(100)), 50);
        assert_eq!(default_max_connections(Some(1)), 1);
        assert_eq!(default_max_connections(Some(20_000)), 10_000);
        assert_eq!(default_max_connections(None), 10_000);
    }

    #[tokio::test]
    async fn the_over_limit_answer_is_a_complete_http_response() {
        let answer = over_limit_answer(7).await.unwrap();
        let text = std::str::from_utf8(&answer).unwrap();
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        assert!(
            head.starts_with("HTTP/1.1 503 Service Unavailable\r\n"),
            "{head}"
        );
        assert!(head.contains("\r\nconnection: close"), "{head}");
        assert!(
            head.contains(&format!("content-length: {}", body.len())),
            "{head}"
        );
        let body: serde_json::Value = serde_json::from_str(body).unwrap();
        assert_eq!(body["statusCode"], 503);
    }
}
