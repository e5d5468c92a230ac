//! Version 2 of the evolving test engine.

wharf_engine_api::export_engine!(wharf_test_evolving::EvolvingEngine<2>);
