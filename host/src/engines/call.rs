//! One call into an engine, bounded by the engine deadline: the operations
//! [`crate::dispatch`] lets through and the lifecycle calls of
//! [`crate::sessions`] (open, log out, close) all go through [`bounded`].

use std::{future::poll_fn, pin::pin, task::Poll, time::Duration};

use abi_stable::std_types::RResult;
use wharf_engine_api::EngineError;

/// Why an engine call gave no value.
#[derive(Debug)]
pub enum CallFailure {
    /// The engine answered with an error.
    Engine(EngineError),
    /// The engine did not answer within this deadline; its work was
    /// dropped.
    TimedOut(Duration),
}

/// Runs `call` until the engine answers or `deadline` passes.
///
/// An answer the engine has at once (from a book in memory, say) is taken
/// without setting a timer; the deadline runs from the moment the engine
/// has to wait.
pub async fn bounded<T>(
    deadline: Duration,
    call: impl Future<Output = RResult<T, EngineError>>,
) -> Result<T, CallFailure> {
    let mut answer = pin!(call);
    let first = poll_fn(|cx| Poll::Ready(answer.as_mut().poll(cx))).await;
    let answered = match first {
        Poll::Ready(answered) => answered,
        // Boxed: the timer is large, and every call's future would carry
        // room for it.
        Poll::Pending => Box::pin(tokio::time::timeout(deadline, answer))
            .await
            .map_err(|_| CallFailure::TimedOut(deadline))?,
    };
    answered.into_result().map_err(CallFailure::Engine)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_ready_answer_a_late_one_and_an_error() {
        let deadline = Duration::from_secs(5);
        let ready = bounded(deadline, async { RResult::<_, EngineError>::ROk(7) }).await;
        assert!(matches!(ready, Ok(7)));

        let in_time = bounded(deadline, async {
            tokio::time::sleep(deadline / 2).await;
            RResult::<_, EngineError>::ROk("late but in time")
        })
        .await;
        assert!(matches!(in_time, Ok("late but in time")));

        let too_late = bounded(deadline, async {
            tokio::time::sleep(deadline * 2).await;
            RResult::<(), EngineError>::ROk(())
        })
        .await;
        assert!(matches!(too_late, Err(CallFailure::TimedOut(d)) if d == deadline));

        let refused = bounded(deadline, async {
            RResult::<(), _>::RErr(EngineError::not_found("no such contact"))
        })
        .await;
        assert!(
            matches!(&refused, Err(CallFailure::Engine(err)) if err.message.as_str() == "no such contact"),
            "{refused:?}"
        );
    }
}
