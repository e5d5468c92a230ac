//! A test engine built against an incompatible ABI: it exports a root module
//! with wharf's module name, as an engine built for ABI 1 (before the
//! contract could grow) would, with another version and layout. The host
//! must reject it with the reason and keep running.

use abi_stable::{
    StableAbi, declare_root_module_statics, export_root_module, library::RootModule,
    prefix_type::PrefixTypeTrait, sabi_types::VersionStrings, std_types::RString,
};

#[repr(C)]
#[derive(StableAbi)]
#[sabi(kind(Prefix(prefix_ref = EngineModuleRef)))]
pub struct EngineModule {
    /// The manifest as plain text, where the real contract has a struct.
    pub manifest: extern "C" fn() -> RString,
    #[sabi(last_prefix_field)]
    pub open_session: extern "C" fn(u64) -> u64,
}

impl RootModule for EngineModuleRef {
    declare_root_module_statics! {EngineModuleRef}
    const BASE_NAME: &'static str = "wharf_engine";
    const NAME: &'static str = "wharf_engine";
    const VERSION_STRINGS: VersionStrings = VersionStrings::new("1.0.0");
}

extern "C" fn manifest() -> RString {
    "incompatible".into()
}

extern "C" fn open_session(handle: u64) -> u64 {
    handle
}

#[export_root_module]
pub fn root_module() -> EngineModuleRef {
    EngineModule {
        manifest,
        open_session,
    }
    .leak_into_prefix()
}
