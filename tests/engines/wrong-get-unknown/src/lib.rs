//! The wrong test engine whose mistake is: get answers the nearest contact for an unknown id.

wharf_engine_api::export_engine!(
    wharf_test_wrong::WrongEngine<{ wharf_test_wrong::Mistake::GetAnswersTheNearest as u8 }>
);
