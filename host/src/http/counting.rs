//! Counts each request the router answers, for `/metrics`, by the template
//! of the route it matched.
//!
//! A layer on every route rather than `middleware::from_fn`, which boxes
//! each request's future and clones the route's service: this one adds no
//! allocation to a request. What the count still costs (a lookup and an
//! atomic add shared by every thread) shows in `cargo xtask bench http`.

use std::{
    pin::Pin,
    task::{Context, Poll, ready},
};

use axum::{
    extract::{MatchedPath, Request},
    http::Method,
    response::Response,
};
use tower::{Layer, Service};

/// Wraps each route in [`Counted`].
#[derive(Clone, Copy)]
pub(super) struct CountRequests;

impl<S> Layer<S> for CountRequests {
    type Service = Counted<S>;

    fn layer(&self, inner: S) -> Counted<S> {
        Counted { inner }
    }
}

/// A route that counts what it answers.
#[derive(Clone)]
pub(super) struct Counted<S> {
    inner: S,
}

impl<S, E> Service<Request> for Counted<S>
where
    S: Service<Request, Response = Response, Error = E>,
{
    type Response = Response;
    type Error = E;
    type Future = Counting<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), E>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        // Both clones are reference counts or plain values.
        let route = request.extensions().get::<MatchedPath>().cloned();
        let method = request.method().clone();
        Counting {
            answer: self.inner.call(request),
            route,
            method,
        }
    }
}

pin_project_lite::pin_project! {
    /// A route's answer on its way, counted when it is ready.
    pub(super) struct Counting<F> {
        #[pin]
        answer: F,
        route: Option<MatchedPath>,
        method: Method,
    }
}

impl<F, E> Future for Counting<F>
where
    F: Future<Output = Result<Response, E>>,
{
    type Output = Result<Response, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let answer = ready!(this.answer.poll(cx));
        if let Ok(response) = &answer {
            let route = this.route.as_ref().map(MatchedPath::as_str);
            crate::metrics::request(route, this.method, response.status().as_u16());
        }
        Poll::Ready(answer)
    }
}
