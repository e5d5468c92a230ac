//! The wrong test engine whose mistake is: get's index goes stale when upsert inserts a contact.

wharf_engine_api::export_engine!(
    wharf_test_wrong::WrongEngine<{ wharf_test_wrong::Mistake::GetIndexGoesStale as u8 }>
);
