//! The wrong test engine whose mistake is: list shows a person a second time under their LID.

wharf_engine_api::export_engine!(
    wharf_test_wrong::WrongEngine<{ wharf_test_wrong::Mistake::LidIsASecondContact as u8 }>
);
