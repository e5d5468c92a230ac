//! A session's events, told to the host's [`Events`]: its status changes as
//! REST users see them (WAHA's `session.status`, with the last three
//! statuses), and the contact changes its engine reports.
//!
//! Each run of a session reports through its own [`RunFeed`]; only the
//! session's current run is heard, so an old run's engine reporting late
//! (a close that ends in STOPPED after the new run started) tells no one
//! anything false. Reports are made under the feed's lock, so they go out
//! in the order they were made.

use std::{
    collections::VecDeque,
    sync::{Arc, Mutex, PoisonError},
};

use wharf_engine_api::Contact;

use super::{Me, Status};
use crate::events::{
    Events, Source,
    names::SESSION_STATUS,
    now_ms,
    payloads::{ContactEvent, SessionStatus, StatusPoint, StatusReason},
};

/// How many statuses the payload lists, as WAHA.
const HISTORY: usize = 3;

/// The status reports of one session, across its runs.
pub(super) struct StatusFeed {
    events: Option<Arc<Events>>,
    inner: Mutex<Heard>,
}

struct Heard {
    /// The run whose reports are heard.
    current: u64,
    next: u64,
    last: Option<(Status, Option<String>)>,
    statuses: VecDeque<StatusPoint>,
}

/// How one run reports.
#[derive(Clone)]
pub(super) struct RunFeed {
    feed: Arc<StatusFeed>,
    run: u64,
    source: Arc<Source>,
}

impl StatusFeed {
    /// A feed that reports to `events`, or to no one.
    pub(super) fn new(events: Option<Arc<Events>>) -> Arc<Self> {
        Arc::new(Self {
            events,
            inner: Mutex::new(Heard {
                current: 0,
                next: 1,
                last: None,
                statuses: VecDeque::with_capacity(HISTORY),
            }),
        })
    }

    /// The feed of a new run whose events carry `source`.
    pub(super) fn for_run(self: &Arc<Self>, source: Source) -> RunFeed {
        self.next_run(Arc::new(source))
    }

    fn next_run(self: &Arc<Self>, source: Arc<Source>) -> RunFeed {
        let mut heard = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        let run = heard.next;
        heard.next += 1;
        RunFeed {
            feed: Arc::clone(self),
            run,
            source,
        }
    }
}

impl RunFeed {
    /// The feed of the run that follows this one, with the same source.
    pub(super) fn successor(&self) -> Self {
        self.feed.next_run(Arc::clone(&self.source))
    }

    /// Makes this run the one heard, and reports its status.
    pub(super) fn activate(&self, status: Status, reason: Option<&str>, me: Option<&Me>) {
        self.report(true, status, reason, me);
    }

    /// Reports the run's status if the run is the one heard and the status
    /// (or its reason) changed.
    pub(super) fn observe(&self, status: Status, reason: Option<&str>, me: Option<&Me>) {
        self.report(false, status, reason, me);
    }

    /// Reports the contact event `name` if the run is the one heard.
    pub(super) fn contact(&self, name: &'static str, contact: &Contact, me: Option<&Me>) {
        let Some(events) = &self.feed.events else {
            return;
        };
        let heard = self
            .feed
            .inner
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if heard.current == self.run {
            let change = name.strip_prefix("contact.").unwrap_or(name);
            let payload = ContactEvent { change, contact };
            events.publish(&self.source, name, now_ms(), me, payload);
        }
    }

    fn report(&self, activate: bool, status: Status, reason: Option<&str>, me: Option<&Me>) {
        let mut heard = self
            .feed
            .inner
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if activate {
            heard.current = self.run;
        } else if heard.current != self.run {
            return;
        }
        let now = (status, reason.map(str::to_owned));
        if heard.last.as_ref() == Some(&now) {
            return;
        }
        heard.last = Some(now);
        let timestamp = now_ms();
        if heard.statuses.len() == HISTORY {
            heard.statuses.pop_front();
        }
        heard.statuses.push_back(StatusPoint { status, timestamp });
        if let Some(events) = &self.feed.events {
            let payload = SessionStatus {
                name: &self.source.session,
                status,
                statuses: &heard.statuses,
                data: reason.map(|reason| StatusReason { reason }),
            };
            events.publish(&self.source, SESSION_STATUS, timestamp, me, payload);
        }
    }
}
