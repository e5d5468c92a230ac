//! What the engine asks of WhatsApp, behind a trait: the session's logic
//! (`core`) runs over [`ClientNetwork`] in production and over a fake in
//! tests, which is how it is tested without an account or a network.

use std::{future::Future, sync::Arc};

use whatsapp_rust::{
    BlockingError, BlocklistEntry, ContactError, IqError, Jid,
    lid_pn_cache::LearningSource,
    pair_code::{PairCodeError, PairCodeOptions, PairError},
    prelude::Client,
};

/// Why a request to WhatsApp failed, as the engine must answer it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum NetError {
    /// The crate knows no LID↔phone number mapping for the JID yet: resolve
    /// it (usync) and try again.
    NoMapping(String),
    /// WhatsApp refused the request as malformed (400).
    Invalid(String),
    /// WhatsApp does not know the target (404).
    NotFound(String),
    /// Not connected, timed out, or WhatsApp failed (503).
    Unavailable(String),
}

impl std::fmt::Display for NetError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::NoMapping(message)
            | Self::Invalid(message)
            | Self::NotFound(message)
            | Self::Unavailable(message) => f.write_str(message),
        }
    }
}

/// What usync says about one JID: whether it is on WhatsApp and, when
/// WhatsApp tells, the other id of the same person.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Registration {
    /// The JID WhatsApp answered for (the phone number one, or the LID).
    pub jid: Jid,
    /// The person's LID, when the answer carries it.
    pub lid: Option<Jid>,
    /// The person's phone number JID, when the answer is LID-primary.
    pub pn: Option<Jid>,
    pub registered: bool,
}

/// The account the session is logged in as.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Account {
    pub pn: Option<Jid>,
    pub lid: Option<Jid>,
    pub push_name: String,
}

/// A LID and the phone number it stands for, both bare users (digits).
pub(crate) type LidPn = (String, String);

/// Every request the engine makes to WhatsApp.
pub(crate) trait Network: Send + Sync + 'static {
    /// The crate's LID↔PN store: the (lid, phone) pair of a LID or phone
    /// number JID, or `None` when the mapping is not known.
    fn lid_pn(&self, jid: &Jid) -> impl Future<Output = Result<Option<LidPn>, NetError>> + Send;
    /// Every mapping the crate's store holds.
    fn all_lid_pns(&self) -> impl Future<Output = Result<Vec<LidPn>, NetError>> + Send;
    /// Feeds mappings learned from history sync and contact actions to the
    /// crate's store.
    fn learn_lid_pns(&self, pairs: Vec<LidPn>) -> impl Future<Output = ()> + Send;
    /// usync: whether the JIDs are on WhatsApp; the crate stores the
    /// mappings the answer carries.
    fn is_on_whatsapp(
        &self,
        jids: &[Jid],
    ) -> impl Future<Output = Result<Vec<Registration>, NetError>> + Send;
    fn blocklist(&self) -> impl Future<Output = Result<Vec<BlocklistEntry>, NetError>> + Send;
    fn block(&self, jid: &Jid) -> impl Future<Output = Result<(), NetError>> + Send;
    fn unblock(&self, jid: &Jid) -> impl Future<Output = Result<(), NetError>> + Send;
    /// The about text, `None` when private or unset.
    fn about(&self, jid: &Jid) -> impl Future<Output = Result<Option<String>, NetError>> + Send;
    /// The full-size profile picture's URL, asked of WhatsApp every time.
    fn profile_picture(
        &self,
        jid: &Jid,
    ) -> impl Future<Output = Result<Option<String>, NetError>> + Send;
    fn save_contact(
        &self,
        pn: &Jid,
        full_name: String,
        first_name: String,
    ) -> impl Future<Output = Result<(), NetError>> + Send;
    /// A new pairing code, cancelling the outstanding one.
    fn pair_code(&self, phone: String) -> impl Future<Output = Result<String, NetError>> + Send;
    fn is_connected(&self) -> bool;
    fn logout(&self) -> impl Future<Output = ()> + Send;
    fn account(&self) -> Account;
    /// Tells WhatsApp this device is offline, so the phone keeps getting
    /// notifications.
    fn set_unavailable(&self) -> impl Future<Output = Result<(), NetError>> + Send;
}

/// A failed IQ as the engine answers it: WhatsApp's 400 and 404 are the
/// caller's problem, the rest is WhatsApp's or the connection's.
pub(crate) fn iq_error(action: &str, err: &IqError) -> NetError {
    let message = format!("{action}: {err}");
    match err {
        IqError::ServerError { code: 400, .. } => NetError::Invalid(message),
        IqError::ServerError { code: 404, .. } => NetError::NotFound(message),
        _ => NetError::Unavailable(message),
    }
}

fn blocking_error(action: &str, err: BlockingError) -> NetError {
    match err {
        BlockingError::Iq(iq) => iq_error(action, &iq),
        BlockingError::InvalidJid(reason) => NetError::NoMapping(format!("{action}: {reason}")),
        other => NetError::Unavailable(format!("{action}: {other}")),
    }
}

fn contact_error(action: &str, err: ContactError) -> NetError {
    match err {
        ContactError::Iq(iq) => iq_error(action, &iq),
        other => NetError::Invalid(format!("{action}: {other}")),
    }
}

fn pair_error(err: PairError) -> NetError {
    let message = format!("requesting a pairing code: {err}");
    match err {
        PairError::PairCode(
            PairCodeError::PhoneNumberRequired
            | PairCodeError::PhoneNumberTooShort
            | PairCodeError::PhoneNumberNotInternational,
        ) => NetError::Invalid(message),
        PairError::RequestFailed(iq) => iq_error("requesting a pairing code", &iq),
        _ => NetError::Unavailable(message),
    }
}

/// [`Network`] over the whatsapp-rust client.
pub(crate) struct ClientNetwork(pub Arc<Client>);

impl Network for ClientNetwork {
    async fn lid_pn(&self, jid: &Jid) -> Result<Option<LidPn>, NetError> {
        self.0
            .get_lid_pn_entry(&jid.to_non_ad())
            .await
            .map(|entry| entry.map(|entry| (entry.lid.to_string(), entry.phone_number.to_string())))
            .map_err(|err| NetError::Unavailable(format!("reading the LID store: {err}")))
    }

    async fn all_lid_pns(&self) -> Result<Vec<LidPn>, NetError> {
        let mappings = self
            .0
            .persistence_manager()
            .backend()
            .get_all_lid_mappings()
            .await
            .map_err(|err| NetError::Unavailable(format!("reading the LID store: {err}")))?;
        Ok(mappings
            .into_iter()
            .map(|mapping| (mapping.lid, mapping.phone_number))
            .collect())
    }

    async fn learn_lid_pns(&self, pairs: Vec<LidPn>) {
        if pairs.is_empty() {
            return;
        }
        // `Other` is what WhatsApp Web uses for history sync and address
        // book hints: it seeds new LIDs and never overrides a live mapping.
        if let Err(err) = self
            .0
            .add_lid_pn_mappings(pairs, LearningSource::Other)
            .await
        {
            log::warn!("cannot store LID mappings: {err}");
        }
    }

    async fn is_on_whatsapp(&self, jids: &[Jid]) -> Result<Vec<Registration>, NetError> {
        let results = self
            .0
            .contacts()
            .is_on_whatsapp(jids)
            .await
            .map_err(|err| contact_error("asking WhatsApp about the number", err))?;
        Ok(results
            .into_iter()
            .map(|result| Registration {
                jid: result.jid,
                lid: result.lid,
                pn: result.pn_jid,
                registered: result.is_registered,
            })
            .collect())
    }

    async fn blocklist(&self) -> Result<Vec<BlocklistEntry>, NetError> {
        self.0
            .blocking()
            .get_blocklist()
            .await
            .map_err(|err| blocking_error("fetching the blocklist", err))
    }

    async fn block(&self, jid: &Jid) -> Result<(), NetError> {
        self.0
            .blocking()
            .block(jid)
            .await
            .map_err(|err| blocking_error("blocking", err))
    }

    async fn unblock(&self, jid: &Jid) -> Result<(), NetError> {
        self.0
            .blocking()
            .unblock(jid)
            .await
            .map_err(|err| blocking_error("unblocking", err))
    }

    async fn about(&self, jid: &Jid) -> Result<Option<String>, NetError> {
        let mut info = self
            .0
            .contacts()
            .get_user_info(std::slice::from_ref(jid))
            .await
            .map_err(|err| contact_error("fetching the about text", err))?;
        Ok(info.remove(jid).and_then(|user| user.status))
    }

    async fn profile_picture(&self, jid: &Jid) -> Result<Option<String>, NetError> {
        self.0
            .contacts()
            .get_profile_picture(jid, false)
            .await
            .map(|picture| picture.map(|picture| picture.url))
            .map_err(|err| contact_error("fetching the profile picture", err))
    }

    async fn save_contact(
        &self,
        pn: &Jid,
        full_name: String,
        first_name: String,
    ) -> Result<(), NetError> {
        self.0
            .chat_actions()
            .save_contact(pn, Some(full_name), Some(first_name), true)
            .await
            .map_err(|err| NetError::Unavailable(format!("saving the contact: {err}")))
    }

    async fn pair_code(&self, phone: String) -> Result<String, NetError> {
        // The crate refuses a second code while one is outstanding; the REST
        // user asking again wants a new one, so the old flow goes first.
        self.0.cancel_pair_code().await;
        let options = PairCodeOptions {
            phone_number: phone,
            ..Default::default()
        };
        self.0.pair_with_code(options).await.map_err(pair_error)
    }

    fn is_connected(&self) -> bool {
        self.0.is_connected()
    }

    async fn logout(&self) {
        self.0.logout().await;
    }

    fn account(&self) -> Account {
        Account {
            pn: self.0.pn(),
            lid: self.0.lid(),
            push_name: self.0.push_name(),
        }
    }

    async fn set_unavailable(&self) -> Result<(), NetError> {
        self.0
            .presence()
            .set_unavailable()
            .await
            .map_err(|err| NetError::Unavailable(format!("sending presence: {err}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn server_error(code: u16) -> IqError {
        IqError::ServerError {
            code,
            text: "refused".into(),
            error_type: None,
            backoff: None,
        }
    }

    #[test]
    fn whatsapps_answers_map_to_what_the_caller_can_do() {
        assert!(matches!(
            blocking_error("blocking", BlockingError::InvalidJid("no mapping".into())),
            NetError::NoMapping(_)
        ));
        assert!(matches!(
            blocking_error("blocking", BlockingError::Iq(server_error(400))),
            NetError::Invalid(_)
        ));
        assert!(matches!(
            contact_error("about", ContactError::Iq(server_error(404))),
            NetError::NotFound(_)
        ));
        assert!(matches!(
            blocking_error("blocking", BlockingError::Iq(IqError::NotConnected)),
            NetError::Unavailable(_)
        ));
        assert!(matches!(
            pair_error(PairError::PairCode(PairCodeError::PhoneNumberTooShort)),
            NetError::Invalid(_)
        ));
    }
}
