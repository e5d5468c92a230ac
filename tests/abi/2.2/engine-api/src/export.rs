//! The glue between an [`Engine`] and the raw boundary in [`crate::ffi`].
//!
//! Every engine library has its own copy of tokio, so a future made in the
//! engine cannot be driven by the host's runtime. The glue owns one runtime
//! per library. An operation is first polled where the host polls it, on
//! the host's thread inside the engine runtime's context: an answer that
//! is ready (a lookup in memory) costs no thread hand-off. An operation
//! that must wait is then moved to the engine's runtime, and the host's
//! future only waits for that task. A panic in the engine, in either
//! place, becomes an [`crate::ErrorKind::INTERNAL`] error: no unwind ever
//! crosses the boundary. Dropping the host's future drops or aborts the
//! operation, so a deadline cancels the engine's work.

use std::{
    any::Any,
    future::Future,
    panic::{AssertUnwindSafe, catch_unwind},
    pin::Pin,
    sync::{Arc, OnceLock},
    task::{Context, Poll},
};

use abi_stable::{
    prefix_type::PrefixTypeTrait,
    sabi_trait::TD_Opaque,
    std_types::{ROption, RResult, RString, RVec},
};
use async_ffi::{FfiFuture, FutureExt};
use tokio::{runtime::Runtime, task::JoinHandle};

use crate::{
    ContactName, Engine, EngineError, LidMapping, ListQuery, Manifest, Session, SessionContext,
    ffi::{EngineModule, EngineModuleRef, FfiResult, SessionBox, SessionFfi, SessionFfi_TO},
};

/// The engine value of this library; one per library, made at load.
static ENGINE: OnceLock<Box<dyn Any + Send + Sync>> = OnceLock::new();

/// The runtime every operation of this library runs on.
static RUNTIME: OnceLock<Runtime> = OnceLock::new();

fn runtime() -> &'static Runtime {
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("wharf-engine")
            .enable_all()
            .build()
            .expect("the engine runtime must start: the library cannot work without it")
    })
}

fn engine<E: Engine>() -> Result<&'static E, EngineError> {
    ENGINE
        .get()
        .and_then(|engine| engine.downcast_ref::<E>())
        .ok_or_else(|| EngineError::internal("the engine was not initialised by its root module"))
}

fn panic_message(payload: &(dyn Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic without a message".to_owned())
}

fn panicked(payload: &(dyn Any + Send)) -> EngineError {
    EngineError::internal(format!("the engine panicked: {}", panic_message(payload)))
}

/// Cancels the engine's task when the host stops waiting for it (a deadline,
/// a dropped request), so abandoned work does not pile up in the engine.
struct AbortOnDrop<T>(JoinHandle<T>);

impl<T> Future for AbortOnDrop<T> {
    type Output = <JoinHandle<T> as Future>::Output;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        Pin::new(&mut self.0).poll(cx)
    }
}

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// An operation of the engine, as the host's future drives it.
enum Operation<W, F: Future> {
    /// Not yet made: made and first polled in one visit to the engine's
    /// runtime context, at the host's first poll.
    Start(W),
    /// Moved to the engine's runtime, which polls it from now on.
    Moved(AbortOnDrop<F::Output>),
    /// Answered (or between two of the above).
    Done,
}

// Nothing in an operation is pinned where it lies: the work is moved out
// to be made, and what it makes is boxed.
impl<W, F: Future> Unpin for Operation<W, F> {}

impl<T, W, F> Future for Operation<W, F>
where
    T: Send + 'static,
    W: FnOnce() -> F,
    F: Future<Output = Result<T, EngineError>> + Send + 'static,
{
    type Output = Result<T, EngineError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        // Nothing here is structurally pinned: the operation is boxed.
        let this = &mut *self;
        loop {
            match std::mem::replace(this, Operation::Done) {
                Operation::Start(work) => {
                    let started = {
                        let _context = runtime().enter();
                        catch_unwind(AssertUnwindSafe(|| {
                            // Boxed before its first poll, so that it can
                            // move to the runtime if it must wait.
                            let mut operation = Box::pin(work());
                            let polled = operation.as_mut().poll(cx);
                            (operation, polled)
                        }))
                    };
                    match started {
                        Ok((_, Poll::Ready(answer))) => return Poll::Ready(answer),
                        Err(payload) => return Poll::Ready(Err(panicked(&*payload))),
                        // The wakers it registered are the host's; on the
                        // runtime it registers the task's at its next poll,
                        // which the loop makes at once.
                        Ok((operation, Poll::Pending)) => {
                            match catch_unwind(AssertUnwindSafe(|| runtime().spawn(operation))) {
                                Ok(task) => *this = Operation::Moved(AbortOnDrop(task)),
                                Err(payload) => return Poll::Ready(Err(panicked(&*payload))),
                            }
                        }
                    }
                }
                Operation::Moved(mut task) => {
                    let joined = match Pin::new(&mut task).poll(cx) {
                        Poll::Ready(joined) => joined,
                        Poll::Pending => {
                            *this = Operation::Moved(task);
                            return Poll::Pending;
                        }
                    };
                    return Poll::Ready(match joined {
                        Ok(answer) => answer,
                        Err(join) if join.is_panic() => Err(panicked(&*join.into_panic())),
                        Err(_) => Err(EngineError::internal("the engine cancelled the operation")),
                    });
                }
                Operation::Done => {
                    return Poll::Ready(Err(EngineError::internal(
                        "the operation was polled after it answered",
                    )));
                }
            }
        }
    }
}

/// Runs `work` for the host: first where the host polls it, then, if it
/// must wait, on the engine's runtime (see the module docs). Neither
/// building the work nor running it may unwind into the host.
fn spawn<T, W, F>(work: W) -> FfiResult<T>
where
    T: Send + 'static,
    W: FnOnce() -> F + Send + 'static,
    F: Future<Output = Result<T, EngineError>> + Send + 'static,
{
    async move { RResult::from(Operation::Start(work).await) }.into_ffi()
}

/// What the host holds for one session: the author's session behind an
/// `Arc`, so each spawned operation can own a handle to it.
struct SessionAdapter<S>(Arc<S>);

impl<S: Session> SessionAdapter<S> {
    fn run<T, F>(&self, operation: impl FnOnce(Arc<S>) -> F + Send + 'static) -> FfiResult<T>
    where
        T: Send + 'static,
        F: Future<Output = Result<T, EngineError>> + Send + 'static,
    {
        let session = Arc::clone(&self.0);
        spawn(move || operation(session))
    }
}

impl<S: Session> SessionFfi for SessionAdapter<S> {
    fn list_contacts(&self, query: ListQuery) -> FfiResult<RVec<crate::Contact>> {
        self.run(move |s| async move { s.list_contacts(query).await.map(RVec::from) })
    }

    fn get_contact(&self, contact_id: RString) -> FfiResult<crate::Contact> {
        self.run(move |s| async move { s.get_contact(contact_id.into()).await })
    }

    fn check_exists(&self, phone: RString) -> FfiResult<crate::NumberExists> {
        self.run(move |s| async move { s.check_exists(phone.into()).await })
    }

    fn about(&self, contact_id: RString) -> FfiResult<ROption<RString>> {
        self.run(move |s| async move {
            let about = s.about(contact_id.into()).await?;
            Ok(about.map(RString::from).into())
        })
    }

    fn profile_picture(&self, contact_id: RString, refresh: bool) -> FfiResult<ROption<RString>> {
        self.run(move |s| async move {
            let url = s.profile_picture(contact_id.into(), refresh).await?;
            Ok(url.map(RString::from).into())
        })
    }

    fn block(&self, contact_id: RString) -> FfiResult<()> {
        self.run(move |s| async move { s.block(contact_id.into()).await })
    }

    fn unblock(&self, contact_id: RString) -> FfiResult<()> {
        self.run(move |s| async move { s.unblock(contact_id.into()).await })
    }

    fn upsert_contact(&self, contact_id: RString, name: ContactName) -> FfiResult<()> {
        self.run(move |s| async move { s.upsert_contact(contact_id.into(), name).await })
    }

    fn request_pairing_code(&self, phone: RString) -> FfiResult<RString> {
        self.run(move |s| async move {
            s.request_pairing_code(phone.into())
                .await
                .map(RString::from)
        })
    }

    fn logout(&self) -> FfiResult<()> {
        self.run(move |s| async move { s.logout().await })
    }

    fn list_lids(&self, offset: u32, limit: u32) -> FfiResult<RVec<LidMapping>> {
        self.run(move |s| async move { s.list_lids(offset, limit).await.map(RVec::from) })
    }

    fn count_lids(&self) -> FfiResult<u64> {
        self.run(move |s| async move { s.count_lids().await })
    }

    fn find_pn_by_lid(&self, lid: RString) -> FfiResult<LidMapping> {
        self.run(move |s| async move { s.find_pn_by_lid(lid.into()).await })
    }

    fn find_lid_by_pn(&self, phone: RString) -> FfiResult<LidMapping> {
        self.run(move |s| async move { s.find_lid_by_pn(phone.into()).await })
    }

    fn close(&self) -> FfiFuture<()> {
        let closing = self.run(move |s| async move {
            s.close().await;
            Ok(())
        });
        // A panic while closing has nowhere better to go: the session is gone
        // either way, and the host logs the close.
        async move {
            let _ = closing.await;
        }
        .into_ffi()
    }
}

extern "C" fn manifest<E: Engine>() -> RResult<Manifest, EngineError> {
    catch_unwind(|| engine::<E>().map(Engine::manifest))
        .unwrap_or_else(|payload| Err(panicked(&*payload)))
        .into()
}

extern "C" fn open_session<E: Engine>(context: SessionContext) -> FfiResult<SessionBox> {
    spawn(move || async move {
        let session = engine::<E>()?.open_session(context).await?;
        let adapter = SessionAdapter(Arc::new(session));
        Ok(SessionFfi_TO::from_value(adapter, TD_Opaque))
    })
}

/// Builds the root module for `E`. Called by the code that
/// [`crate::export_engine!`] generates, once, when the host loads the library.
#[doc(hidden)]
pub fn root_module<E: Engine>() -> EngineModuleRef {
    ENGINE.get_or_init(|| Box::new(E::default()));
    EngineModule {
        manifest: manifest::<E>,
        open_session: open_session::<E>,
    }
    .leak_into_prefix()
}

/// Exports an [`Engine`] as the root module of this library, so the wharf
/// host can load it. Write it once, at the crate root of a `cdylib` crate.
///
/// See the crate documentation for a complete example.
#[macro_export]
macro_rules! export_engine {
    ($engine:ty) => {
        /// The header the wharf host looks up when it loads this library.
        // The symbol name is the one abi_stable's loader looks up
        // (`abi_stable::library::ROOT_MODULE_LOADER_NAME`); spelling it here
        // spares engine crates a direct dependency on abi_stable.
        #[allow(non_upper_case_globals)]
        #[unsafe(no_mangle)]
        pub static _1as_0lib_1header_0root_bmodule_bloader: $crate::__private::LibHeader = {
            extern "C" fn wharf_root_module() -> $crate::__private::RootModuleResult {
                $crate::__private::__call_root_module_loader(
                    $crate::__private::root_module::<$engine>,
                )
            }
            // SAFETY: the constructor returns the prefix of an `EngineModule`,
            // which is the module type named here.
            unsafe {
                $crate::__private::LibHeader::from_constructor::<$crate::ffi::EngineModuleRef>(
                    wharf_root_module,
                    $crate::__private::CheckTypeLayout::Yes,
                )
            }
        };
    };
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicBool, Ordering};

    use super::*;

    /// Drives `operation` as a host does: from a runtime of the host's own.
    fn as_host<T>(operation: FfiResult<T>) -> Result<T, EngineError> {
        let host = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        host.block_on(operation).into_result()
    }

    fn thread_name() -> String {
        std::thread::current().name().unwrap_or_default().to_owned()
    }

    #[test]
    fn a_ready_answer_is_made_on_the_hosts_thread() {
        let host_thread = thread_name();
        let answered_on = as_host(spawn(|| async { Ok(thread_name()) })).unwrap();
        assert_eq!(answered_on, host_thread);
    }

    #[test]
    fn an_operation_that_waits_finishes_on_the_engines_runtime() {
        let answered_on = as_host(spawn(|| async {
            // A timer of the engine's runtime: only its context has one.
            tokio::time::sleep(std::time::Duration::from_millis(1)).await;
            Ok(thread_name())
        }))
        .unwrap();
        assert_eq!(answered_on, "wharf-engine");
    }

    #[test]
    fn panics_become_errors_wherever_the_operation_runs() {
        let before_waiting = as_host(spawn(|| async {
            if true {
                panic!("at once");
            }
            Ok(())
        }));
        assert!(before_waiting.unwrap_err().message.contains("at once"));
        let after_waiting = as_host(spawn(|| async {
            tokio::time::sleep(std::time::Duration::from_millis(1)).await;
            if true {
                panic!("after a wait");
            }
            Ok(())
        }));
        assert!(after_waiting.unwrap_err().message.contains("after a wait"));
        let building = as_host(spawn::<(), _, std::future::Ready<_>>(|| panic!("building")));
        assert!(building.unwrap_err().message.contains("building"));
    }

    #[test]
    fn a_host_that_stops_waiting_cancels_the_engines_work() {
        static FINISHED: AtomicBool = AtomicBool::new(false);
        static DROPPED: AtomicBool = AtomicBool::new(false);
        struct Dropped;
        impl Drop for Dropped {
            fn drop(&mut self) {
                DROPPED.store(true, Ordering::SeqCst);
            }
        }
        let operation = spawn(|| async {
            let _dropped = Dropped;
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
            FINISHED.store(true, Ordering::SeqCst);
            Ok(())
        });
        let host = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let deadline = std::time::Duration::from_millis(10);
        let answer = host.block_on(async { tokio::time::timeout(deadline, operation).await });
        assert!(answer.is_err(), "the deadline passed first");
        // The task is aborted: its future is dropped, not finished.
        while !DROPPED.load(Ordering::SeqCst) {
            std::thread::yield_now();
        }
        assert!(!FINISHED.load(Ordering::SeqCst));
    }

    #[test]
    fn exported_symbol_is_the_one_abi_stable_looks_up() {
        let source = include_str!("export.rs");
        let symbol = abi_stable::library::ROOT_MODULE_LOADER_NAME;
        assert!(
            source.contains(&format!("pub static {symbol}:")),
            "export_engine! must export `{symbol}`"
        );
    }
}
