//! The wrong test engine whose mistake is: block answers success and changes nothing.

wharf_engine_api::export_engine!(
    wharf_test_wrong::WrongEngine<{ wharf_test_wrong::Mistake::BlockChangesNothing as u8 }>
);
