//! The wrong test engine whose mistake is: every save is told as a rename, also an unchanged one.

wharf_engine_api::export_engine!(
    wharf_test_wrong::WrongEngine<{ wharf_test_wrong::Mistake::ToldRenamedOnEverySave as u8 }>
);
