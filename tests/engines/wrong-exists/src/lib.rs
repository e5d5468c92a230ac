//! The wrong test engine whose mistake is: check-exists says every number exists.

wharf_engine_api::export_engine!(
    wharf_test_wrong::WrongEngine<{ wharf_test_wrong::Mistake::EveryNumberExists as u8 }>
);
