//! `GET /ws`: the events webhooks get, as a websocket stream, as WAHA
//! serves it: `?session=*&events=*&x-api-key=…`, one text frame per event
//! with the same envelope.
//!
//! A websocket client cannot always send headers, so the API key comes in
//! the query, as WAHA's clients send it; the `X-Api-Key` header works too,
//! and so does a subprotocol (see [`KEY_PROTOCOL`]), which is how the
//! dashboard keeps the key out of URLs. A wrong or missing key is answered
//! as WAHA does, by closing the socket with 1008.

use std::time::Duration;

use axum::{
    extract::{
        RawQuery, State,
        ws::{
            CloseFrame, Message, WebSocket, WebSocketUpgrade, close_code,
            rejection::WebSocketUpgradeRejection,
        },
    },
    http::{HeaderMap, header},
    response::Response,
};
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use tokio::sync::broadcast::error::RecvError;

use crate::{
    events::names::EventFilter,
    http::{AppState, auth, errors::ApiError},
};

/// How often the host pings a listener; one that has not answered the
/// last ping by the next is dropped.
const HEARTBEAT: Duration = Duration::from_secs(60);

/// What a listener asked for.
struct Listening {
    /// A session's name, or `None` for every session (`*`).
    session: Option<String>,
    events: EventFilter,
    key: Option<String>,
}

/// Reads `session`, `events` (repeated or comma-separated) and `x-api-key`.
/// `session` or `x-api-key` given twice is refused, as on every route,
/// rather than one of the values silently winning.
fn listening(query: Option<&str>) -> Result<Listening, ApiError> {
    let mut session = None;
    let mut events: Vec<String> = Vec::new();
    let mut key = None;
    let once = |slot: &mut Option<String>, name: &str, value: &str| match slot {
        Some(_) => Err(ApiError::given_twice(name)),
        None => {
            *slot = Some(value.to_owned());
            Ok(())
        }
    };
    for (name, value) in form_urlencoded::parse(query.unwrap_or_default().as_bytes()) {
        match name.to_ascii_lowercase().as_str() {
            "session" => once(&mut session, "session", &value)?,
            "events" => events.extend(value.split(',').map(|name| name.trim().to_owned())),
            "x-api-key" => once(&mut key, "x-api-key", &value)?,
            _ => {}
        }
    }
    if events.is_empty() {
        events.push("*".to_owned());
    }
    let events = EventFilter::parse(events.iter().map(String::as_str))
        .map_err(|(_, problem)| ApiError::bad_request("events", problem))?;
    Ok(Listening {
        session: session.filter(|session| session != "*"),
        events,
        key,
    })
}

/// The subprotocol a browser asks for, which the host selects.
const PROTOCOL: &str = "wharf";

/// What comes before the API key, base64url-encoded, among the
/// subprotocols a browser offers: `new WebSocket(url, ["wharf",
/// "wharf.key." + key])`. A browser cannot set the `X-Api-Key` header on
/// a websocket, and a key in the URL ends up in logs and history.
const KEY_PROTOCOL: &str = "wharf.key.";

/// The API key a browser offered among its subprotocols, if any.
fn key_in_protocols(headers: &HeaderMap) -> Option<String> {
    let offered = headers
        .get_all(header::SEC_WEBSOCKET_PROTOCOL)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','));
    offered
        .filter_map(|protocol| protocol.trim().strip_prefix(KEY_PROTOCOL))
        .find_map(|encoded| URL_SAFE_NO_PAD.decode(encoded).ok())
        .and_then(|key| String::from_utf8(key).ok())
}

/// Upgrades to a websocket that streams the events asked for.
pub(crate) async fn listen(
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Result<Response, ApiError> {
    let listening = listening(query.as_deref())?;
    let upgrade = upgrade.map_err(|rejection| {
        ApiError::bad_request(
            "connection",
            format!("/ws is a websocket: {}", rejection.body_text()),
        )
    })?;
    let presented = listening
        .key
        .clone()
        .or_else(|| headers.get(auth::HEADER)?.to_str().ok().map(str::to_owned))
        .or_else(|| key_in_protocols(&headers));
    let allowed = state.api_keys.check(presented.as_deref()).is_ok();
    Ok(upgrade
        .protocols([PROTOCOL])
        .on_upgrade(move |socket| async move {
            if allowed {
                stream(socket, &state, &listening).await;
            } else {
                refuse(socket).await;
            }
        }))
}

async fn refuse(mut socket: WebSocket) {
    let _ = socket
        .send(Message::Close(Some(CloseFrame {
            code: close_code::POLICY,
            reason: "Unauthorized".into(),
        })))
        .await;
}

/// Sends each event the listener wants until it goes, stops answering
/// pings, stops reading (a frame not taken within [`HEARTBEAT`]), or falls
/// too far behind.
async fn stream(mut socket: WebSocket, state: &AppState, listening: &Listening) {
    let mut told = state.events.subscribe();
    let mut heartbeat =
        tokio::time::interval_at(tokio::time::Instant::now() + HEARTBEAT, HEARTBEAT);
    let mut answered = true;
    loop {
        tokio::select! {
            event = told.recv() => match event {
                Ok(event) => {
                    let wanted = listening.events.matches(event.name)
                        && listening.session.as_ref().is_none_or(|s| *s == event.session);
                    if wanted {
                        let frame = Message::Text(event.body.as_str().into());
                        let sent = tokio::time::timeout(HEARTBEAT, socket.send(frame)).await;
                        if !matches!(sent, Ok(Ok(()))) {
                            return;
                        }
                    }
                }
                Err(RecvError::Lagged(missed)) => {
                    tracing::warn!(missed, "a websocket listener fell behind; closed");
                    let _ = socket
                        .send(Message::Close(Some(CloseFrame {
                            code: close_code::AGAIN,
                            reason: format!("fell {missed} events behind").into(),
                        })))
                        .await;
                    return;
                }
                Err(RecvError::Closed) => return,
            },
            incoming = socket.recv() => match incoming {
                Some(Ok(Message::Pong(_))) => answered = true,
                Some(Ok(Message::Close(_)) | Err(_)) | None => return,
                Some(Ok(_)) => {}
            },
            _ = heartbeat.tick() => {
                if !answered || socket.send(Message::Ping(Default::default())).await.is_err() {
                    return;
                }
                answered = false;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use axum::http::StatusCode;

    use super::*;

    #[test]
    fn a_session_or_a_key_given_twice_is_refused_naming_it() {
        for (query, field) in [
            ("session=a&session=b", "session"),
            ("x-api-key=a&events=*&X-Api-Key=b", "x-api-key"),
        ] {
            let err = listening(Some(query)).err().expect(query);
            assert_eq!(err.status(), StatusCode::BAD_REQUEST);
            assert_eq!(
                err.to_string(),
                format!("400 {field}: is given more than once; give it once")
            );
        }
        let heard = listening(Some("session=a&events=session.status&events=contact.added"))
            .ok()
            .unwrap();
        assert_eq!(heard.session.as_deref(), Some("a"));
        assert!(heard.events.matches("contact.added") && !heard.events.matches("message"));
    }

    #[test]
    fn a_browser_offers_its_key_as_a_subprotocol() {
        let mut headers = HeaderMap::new();
        let offered = format!(
            "wharf, wharf.key.{}",
            URL_SAFE_NO_PAD.encode("k3y with spaces")
        );
        headers.insert(header::SEC_WEBSOCKET_PROTOCOL, offered.parse().unwrap());
        assert_eq!(
            key_in_protocols(&headers).as_deref(),
            Some("k3y with spaces")
        );
        headers.insert(
            header::SEC_WEBSOCKET_PROTOCOL,
            "wharf, wharf.key.%%%".parse().unwrap(),
        );
        assert_eq!(key_in_protocols(&headers), None);
        assert_eq!(key_in_protocols(&HeaderMap::new()), None);
    }
}
