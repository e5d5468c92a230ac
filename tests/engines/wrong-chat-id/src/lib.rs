//! The wrong test engine whose mistake is: check-exists answers a contact's LID as its chatId.

wharf_engine_api::export_engine!(
    wharf_test_wrong::WrongEngine<{ wharf_test_wrong::Mistake::ChatIdIsTheLid as u8 }>
);
