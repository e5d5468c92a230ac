//! The wrong test engine whose mistake is: upsert replaces the whole record, so renaming a blocked contact unblocks it.

wharf_engine_api::export_engine!(
    wharf_test_wrong::WrongEngine<{ wharf_test_wrong::Mistake::UpsertUnblocks as u8 }>
);
