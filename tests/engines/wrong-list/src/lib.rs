//! The wrong test engine whose mistake is: list leaves out short names that get shows.

wharf_engine_api::export_engine!(
    wharf_test_wrong::WrongEngine<{ wharf_test_wrong::Mistake::ListWithoutShortNames as u8 }>
);
