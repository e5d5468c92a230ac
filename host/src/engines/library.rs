//! Loading one engine library through the stable ABI, with every check.
//!
//! The file is first checked to hold everything its ELF headers say it
//! has (a truncated library faults when the loader touches the missing
//! pages). Then it is loaded with `libloading`, its abi_stable header is
//! checked (abi_stable's own ABI, then our module's version and type
//! layout), and its manifest is read and validated. Any failure rejects that
//! file only, with a reason an operator can act on.
//!
//! The host runs this on a file only after a child process has run it on
//! the same file and survived ([`super::loader`]).

use std::{
    fs::{self, File, Metadata},
    io::{Read, Seek, SeekFrom},
    path::{Path, PathBuf},
    time::SystemTime,
};

use abi_stable::{
    StableAbi,
    abi_stability::abi_checking::{CheckingGlobals, check_layout_compatibility_with_globals},
    library::{
        AbiHeaderRef, LibHeader, LibraryError, ROOT_MODULE_LOADER_NAME_WITH_NUL, RootModule,
    },
    std_types::RResult,
};
use libloading::Library;
use semver::Version;
use wharf_engine_api::{
    ABI_VERSION, EngineError, Manifest, SessionContext, Support, check_engine_name,
    ffi::{EngineModuleRef, FfiResult, SessionBox},
};

use super::{EngineRef, Operation};

/// Whether an engine may be asked to do one feature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Feature<'a> {
    Supported,
    Unsupported { reason: &'a str },
}

/// What a library file looked like when it was loaded: a file replaced or
/// rewritten since has another fingerprint and is loaded afresh.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fingerprint {
    len: u64,
    modified: Option<SystemTime>,
    /// Device and inode: a file replaced by a rename keeps neither.
    #[cfg(unix)]
    identity: (u64, u64),
}

impl Fingerprint {
    pub fn of(file: &Path) -> std::io::Result<Self> {
        fs::metadata(file).map(|metadata| Self::from_metadata(&metadata))
    }

    pub(super) fn from_metadata(metadata: &Metadata) -> Self {
        Self {
            len: metadata.len(),
            modified: metadata.modified().ok(),
            #[cfg(unix)]
            identity: {
                use std::os::unix::fs::MetadataExt;
                (metadata.dev(), metadata.ino())
            },
        }
    }

    /// The file's size in bytes.
    pub(super) fn len(&self) -> u64 {
        self.len
    }
}

/// An engine library that loaded and passed every check.
pub struct LoadedEngine {
    manifest: Manifest,
    version: Version,
    file: PathBuf,
    module: EngineModuleRef,
}

impl LoadedEngine {
    pub fn name(&self) -> &str {
        self.manifest.name.as_str()
    }

    pub fn version(&self) -> &Version {
        &self.version
    }

    /// This exact engine, as a session can name it.
    pub fn reference(&self) -> EngineRef {
        EngineRef {
            name: self.name().to_owned(),
            version: Some(self.version.clone()),
        }
    }

    /// `name@version`: [`LoadedEngine::reference`] as text.
    pub fn label(&self) -> String {
        format!("{}@{}", self.name(), self.version)
    }

    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    /// The file in the engines directory this engine was loaded from.
    pub fn file(&self) -> &Path {
        &self.file
    }

    /// The feature matrix, read the way the contract says: a key the engine
    /// does not list is unsupported.
    pub fn feature(&self, operation: Operation) -> Feature<'_> {
        match self.manifest.support(operation.key()) {
            Some(Support::Supported) => Feature::Supported,
            Some(Support::Unsupported { reason }) => Feature::Unsupported {
                reason: reason.as_str(),
            },
            None => Feature::Unsupported {
                reason: "the engine does not declare this feature",
            },
        }
    }

    /// Every operation this host knows, in documentation order, with
    /// whether this engine supports it.
    pub fn feature_matrix(&self) -> impl Iterator<Item = (Operation, Feature<'_>)> {
        Operation::ALL
            .into_iter()
            .map(|operation| (operation, self.feature(operation)))
    }

    /// Opens a session on this engine.
    pub fn open_session(&self, context: SessionContext) -> FfiResult<SessionBox> {
        (self.module.open_session())(context)
    }
}

/// A library file the registry would not use, and why.
#[derive(Debug, Clone)]
pub struct RejectedLibrary {
    pub file: PathBuf,
    pub reason: String,
    /// The manifest, when the library got far enough to give one.
    pub manifest: Option<Box<Manifest>>,
}

/// Why a library was rejected, and its manifest when it gave one.
pub(super) type LoadError = (String, Option<Box<Manifest>>);

/// Loads the library at `path` into this process and checks it; `file` is
/// the one it stands for. The library stays loaded: see below.
pub(super) fn load_library(path: &Path, file: &Path) -> Result<LoadedEngine, LoadError> {
    check_whole(path).map_err(|reason| (reason, None))?;
    // SAFETY: loading runs the library's initialisers. The engines directory
    // is trusted by the operator to hold code for this host; what the
    // library exports is checked below before anything in it is called.
    let library = unsafe { Library::new(path) }.map_err(|err| {
        (
            format!("cannot load the library: {}", error_chain(&err)),
            None,
        )
    })?;
    // SAFETY: the symbol abi_stable exports is a static `LibHeader`, which
    // starts with an `AbiHeader`; `AbiHeaderRef` is a reference to it.
    let header: AbiHeaderRef = unsafe {
        match library.get::<AbiHeaderRef>(ROOT_MODULE_LOADER_NAME_WITH_NUL.as_bytes()) {
            Ok(symbol) => *symbol,
            Err(_) => {
                return Err((
                    "not a wharf engine: the library exports no abi_stable root module".into(),
                    None,
                ));
            }
        }
    };
    let header = header.upgrade().map_err(|err| {
        (
            format!("built with an incompatible abi_stable: {err}"),
            None,
        )
    })?;
    let module = init_root_module::<EngineModuleRef>(header)
        .map_err(|err| (describe_incompatibility(&err), None))?;
    // Engines are never unloaded: sessions, threads and 'static data of the
    // library may outlive any handle we hold, so unloading is never safe.
    std::mem::forget(library);

    let manifest = match (module.manifest())() {
        RResult::ROk(manifest) => manifest,
        RResult::RErr(EngineError { message, .. }) => {
            return Err((format!("the engine's manifest failed: {message}"), None));
        }
    };
    let version = match validate_manifest(&manifest) {
        Ok(version) => version,
        Err(problem) => {
            return Err((
                format!("invalid manifest: {problem}"),
                Some(Box::new(manifest)),
            ));
        }
    };
    Ok(LoadedEngine {
        manifest,
        version,
        file: file.to_owned(),
        module,
    })
}

/// The library's root module, once abi_stable has checked its version and
/// the layout of everything it hands over, for an engine built against the
/// same or any earlier 2.x contract, or a later one.
///
/// abi_stable's layout check lets the library's prefix types (the module,
/// the session and host-services vtables) be longer than the host's but
/// never shorter: it assumes libraries are newer than the program that
/// loads them. wharf's promise runs the other way too (engines are files
/// built once, hosts are upgraded), and an engine built against an earlier
/// 2.x has shorter prefix types. So when the check fails, it is made again
/// the other way round, the library's layout as the expected one: that
/// passes exactly when every type matches but for prefix types the host
/// has grown at their end. The host reads those through accessors that
/// consult each object's own field count (a missing operation is `None`,
/// a missing method runs its default body), so a shorter prefix is safe
/// to use.
///
/// That second check runs against checking state of its own, not
/// abi_stable's process-wide one: abi_stable records there the prefix
/// types it has seen, taking the expected side for the host's, so a check
/// with the roles exchanged would file the older library's shorter prefix
/// under the host's types, and every newer engine loaded after it would be
/// refused ("too many fields"). Engines never hand each other objects, so
/// nothing needs an older library's prefix types recorded for later checks.
fn init_root_module<M: RootModule>(header: &LibHeader) -> Result<M, LibraryError> {
    match header.init_root_module::<M>() {
        Err(err @ LibraryError::AbiInstability(_)) => {
            let older_and_fits = header.layout().is_some_and(|library| {
                let own_state = CheckingGlobals::new();
                check_layout_compatibility_with_globals(
                    library,
                    <M as StableAbi>::LAYOUT,
                    &own_state,
                )
                .is_ok()
            });
            if !older_and_fits {
                return Err(err);
            }
            // SAFETY: abi_stable checked the version above and the layout
            // just now, with the roles of host and library exchanged, which
            // holds for a library built against an earlier contract whose
            // prefix types are shorter (see above).
            unsafe { header.init_root_module_with_unchecked_layout::<M>() }
        }
        result => result,
    }
}

/// Checks that `path` holds every byte its ELF headers place in the file.
/// The dynamic loader maps segments without checking that the file covers
/// them, and touching a page past the end of the file kills the process
/// with SIGBUS, at load or much later. A file that is not ELF is left to
/// the dynamic loader, which refuses it.
fn check_whole(path: &Path) -> Result<(), String> {
    let mut file = File::open(path).map_err(|err| format!("cannot read the library: {err}"))?;
    let len = file
        .metadata()
        .map_err(|err| format!("cannot read the library: {err}"))?
        .len();
    let needed = elf_extent(&mut file, len)
        .map_err(|err| format!("cannot read the library's ELF headers: {err}"))?;
    match needed {
        Some(needed) if needed > len => Err(format!(
            "the library is truncated: the file has {len} bytes but its ELF headers need {needed}; \
             it is incomplete (still being written?) or damaged"
        )),
        _ => Ok(()),
    }
}

/// ELF program header type of a segment the loader maps.
const PT_LOAD: u32 = 1;

/// Where the fields the extent needs are, in the 32- or 64-bit layout, and
/// in which byte order.
struct ElfLayout {
    wide: bool,
    big_endian: bool,
}

impl ElfLayout {
    fn int(&self, bytes: &[u8], at: usize, size: usize) -> u64 {
        let field = &bytes[at..at + size];
        let fold = |value: u64, byte: &u8| value << 8 | u64::from(*byte);
        if self.big_endian {
            field.iter().fold(0, fold)
        } else {
            field.iter().rev().fold(0, fold)
        }
    }

    /// An address-sized field (`Elf32_Off` or `Elf64_Off`).
    fn offset(&self, bytes: &[u8], at32: usize, at64: usize) -> u64 {
        if self.wide {
            self.int(bytes, at64, 8)
        } else {
            self.int(bytes, at32, 4)
        }
    }

    fn half(&self, bytes: &[u8], at32: usize, at64: usize) -> u64 {
        self.int(bytes, if self.wide { at64 } else { at32 }, 2)
    }
}

/// The bytes an ELF file's headers say it has (the ELF header, program
/// headers, loadable segments and section headers), or `None` when it is
/// not ELF. Stops at the first part the file of `len` bytes lacks.
fn elf_extent(file: &mut (impl Read + Seek), len: u64) -> std::io::Result<Option<u64>> {
    let mut header = Vec::with_capacity(64);
    file.by_ref().take(64).read_to_end(&mut header)?;
    if header.len() < 6 || header[..4] != *b"\x7fELF" {
        return Ok(None);
    }
    let layout = match (header[4], header[5]) {
        (class @ (1 | 2), order @ (1 | 2)) => ElfLayout {
            wide: class == 2,
            big_endian: order == 2,
        },
        _ => return Ok(None),
    };
    let header_size: u64 = if layout.wide { 64 } else { 52 };
    if (header.len() as u64) < header_size {
        return Ok(Some(header_size));
    }
    let program_headers = layout.offset(&header, 28, 32);
    let program_header_size = layout.half(&header, 42, 54);
    let program_header_count = layout.half(&header, 44, 56);
    let section_headers = layout.offset(&header, 32, 40);
    let section_header_size = layout.half(&header, 46, 58);
    // With more sections than fit, the count is 0 and kept in the first
    // section header, which must at least be there.
    let section_header_count = match layout.half(&header, 48, 60) {
        0 if section_headers != 0 => 1,
        count => count,
    };
    let tables_end = |start: u64, size: u64, count: u64| start.saturating_add(size * count);
    let mut needed = header_size
        .max(tables_end(
            section_headers,
            section_header_size,
            section_header_count,
        ))
        .max(tables_end(
            program_headers,
            program_header_size,
            program_header_count,
        ));
    let entry_size = if layout.wide { 56 } else { 32 };
    if needed > len || program_header_size < entry_size {
        return Ok(Some(needed));
    }
    let mut entry = vec![0u8; entry_size as usize];
    for index in 0..program_header_count {
        file.seek(SeekFrom::Start(
            program_headers + index * program_header_size,
        ))?;
        file.read_exact(&mut entry)?;
        if layout.int(&entry, 0, 4) == u64::from(PT_LOAD) {
            let start = layout.offset(&entry, 4, 8);
            let size = layout.offset(&entry, 16, 32);
            needed = needed.max(start.saturating_add(size));
        }
    }
    Ok(Some(needed))
}

fn error_chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(&format!(": {cause}"));
        source = cause.source();
    }
    text
}

/// Says why abi_stable refused the root module, in one or two lines an
/// operator can act on.
fn describe_incompatibility(err: &LibraryError) -> String {
    let prefix = format!("incompatible engine ABI (this host speaks {ABI_VERSION})");
    match err {
        LibraryError::IncompatibleVersionNumber { actual_version, .. } => {
            format!("{prefix}: the library was built for ABI {actual_version}")
        }
        LibraryError::AbiInstability(_) => {
            format!("{prefix}: {}", summarize_layout_error(&err.to_string()))
        }
        other => format!("{prefix}: {other}"),
    }
}

/// abi_stable's layout report dumps both layouts in full, then ends with
/// the `Error:` that says what differs; that ending is the useful part.
fn summarize_layout_error(report: &str) -> String {
    let lines: Vec<&str> = report
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    match lines.iter().rposition(|line| line.starts_with("Error:")) {
        Some(start) => lines[start..].join(" "),
        None => lines.iter().take(3).copied().collect::<Vec<_>>().join(" "),
    }
}

/// Checks what the host relies on in a manifest; returns the parsed version.
fn validate_manifest(manifest: &Manifest) -> Result<Version, String> {
    check_engine_name(manifest.name.as_str()).map_err(|problem| format!("name: {problem}"))?;
    // Versions order side-by-side engines and appear in `name@version`.
    let version = Version::parse(manifest.version.as_str()).map_err(|err| {
        format!(
            "version: '{}' is not a semantic version like 1.2.0 ({err})",
            manifest.version
        )
    })?;
    let host_major = ABI_VERSION.split('.').next();
    if manifest.abi_version.split('.').next() != host_major {
        return Err(format!(
            "abiVersion: the engine says {} but this host speaks {ABI_VERSION}",
            manifest.abi_version
        ));
    }
    Ok(version)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manifest_names_must_be_usable_in_urls_and_configs() {
        let ok = Manifest::new("web-md_2", "1.0.0", "");
        assert!(validate_manifest(&ok).is_ok());
        for bad in ["", "Web", "a b", "../x", "2fast"] {
            let manifest = Manifest::new(bad, "1.0.0", "");
            assert!(
                validate_manifest(&manifest)
                    .unwrap_err()
                    .starts_with("name")
            );
        }
        for bad in ["", "1", "one", "1.0"] {
            let manifest = Manifest::new("x", bad, "");
            let problem = validate_manifest(&manifest).unwrap_err();
            assert!(problem.starts_with("version"), "{problem}");
        }
        assert_eq!(
            validate_manifest(&Manifest::new("x", "2.1.0-beta.1", "")).unwrap(),
            Version::parse("2.1.0-beta.1").unwrap()
        );
        let mut other_abi = Manifest::new("x", "1.0.0", "");
        other_abi.abi_version = "1.0.0".into();
        assert!(
            validate_manifest(&other_abi)
                .unwrap_err()
                .starts_with("abiVersion")
        );
    }

    /// The same root module as three versions of a contract would define
    /// it: `older` is what an engine was built against, `newer` what a
    /// later host knows (one more function at the end), `other` a
    /// contract that changed a function in place.
    mod contract {
        macro_rules! root_module {
            ($name:ident { $($field:ident: $ty:ty),* } last $last:ident: $last_ty:ty $(, later $later:ident: $later_ty:ty)?) => {
                pub(super) mod $name {
                    // Only the layouts of `older` and `other` are used.
                    #![allow(dead_code)]

                    use abi_stable::{
                        StableAbi, declare_root_module_statics, library::RootModule,
                        sabi_types::VersionStrings,
                    };

                    #[repr(C)]
                    #[derive(StableAbi)]
                    #[sabi(kind(Prefix(prefix_ref = ModuleRef)))]
                    pub(crate) struct Module {
                        $(pub(crate) $field: $ty,)*
                        #[sabi(last_prefix_field)]
                        pub(crate) $last: $last_ty,
                        $(pub(crate) $later: $later_ty,)?
                    }

                    impl RootModule for ModuleRef {
                        declare_root_module_statics! {ModuleRef}
                        const BASE_NAME: &'static str = "contract";
                        const NAME: &'static str = "contract";
                        const VERSION_STRINGS: VersionStrings = VersionStrings::new("2.0.0");
                    }
                }
            };
        }

        root_module!(older { name: extern "C" fn() -> u32 } last open: extern "C" fn(u32) -> u32);
        root_module!(newer { name: extern "C" fn() -> u32 } last open: extern "C" fn(u32) -> u32, later count: extern "C" fn() -> u32);
        root_module!(other { name: extern "C" fn() -> u64 } last open: extern "C" fn(u32) -> u32);
    }

    extern "C" fn seven() -> u32 {
        7
    }

    extern "C" fn twice(value: u32) -> u32 {
        value * 2
    }

    fn older_library() -> LibHeader {
        use abi_stable::prefix_type::PrefixTypeTrait;
        LibHeader::from_module(
            contract::older::Module {
                name: seven,
                open: twice,
            }
            .leak_into_prefix(),
        )
    }

    #[test]
    fn a_host_that_grew_its_module_loads_a_library_built_before() {
        let header = older_library();
        // abi_stable alone refuses it: it assumes libraries are the newer side.
        assert!(matches!(
            header.init_root_module::<contract::newer::ModuleRef>(),
            Err(LibraryError::AbiInstability(_))
        ));
        let module = init_root_module::<contract::newer::ModuleRef>(&header).unwrap();
        assert_eq!((module.name())(), 7);
        assert_eq!((module.open())(21), 42);
        // What the library was built without is seen as absent.
        assert!(module.count().is_none());
    }

    #[test]
    fn a_library_whose_contract_changed_in_place_is_still_refused() {
        let header = older_library();
        assert!(matches!(
            init_root_module::<contract::other::ModuleRef>(&header),
            Err(LibraryError::AbiInstability(_))
        ));
    }

    #[test]
    fn layout_reports_are_summarized_by_their_final_error() {
        let report = "Compared <this>:\n  --- Type Layout ---\n  type:X\n\nError:mismatched package\nExpected:\n    wharf-engine-api\nFound:\n    other\n";
        assert_eq!(
            summarize_layout_error(report),
            "Error:mismatched package Expected: wharf-engine-api Found: other"
        );
        assert_eq!(summarize_layout_error("a\nb\nc\nd"), "a b c");
    }

    /// An ELF header and one program header, in the 64- or 32-bit layout
    /// and either byte order: a loadable segment at `segment` (offset,
    /// size), and `sections` (offset, entry size, count) of section headers.
    fn elf(wide: bool, big: bool, segment: (u64, u64), sections: (u64, u16, u16)) -> Vec<u8> {
        let int = |value: u64, size: usize| {
            let bytes = value.to_le_bytes()[..size].to_vec();
            if big {
                bytes.into_iter().rev().collect()
            } else {
                bytes
            }
        };
        let (header_size, entry_size, word) = if wide { (64, 56, 8) } else { (52, 32, 4) };
        let mut file = b"\x7fELF".to_vec();
        file.extend([if wide { 2 } else { 1 }, if big { 2 } else { 1 }, 1]);
        file.resize(16, 0);
        file.extend(int(3, 2)); // e_type: shared object
        file.extend(int(62, 2)); // e_machine
        file.extend(int(1, 4)); // e_version
        file.extend(int(0, word)); // e_entry
        file.extend(int(header_size, word)); // e_phoff
        file.extend(int(sections.0, word)); // e_shoff
        file.extend(int(0, 4)); // e_flags
        file.extend(int(header_size, 2)); // e_ehsize
        file.extend(int(entry_size, 2)); // e_phentsize
        file.extend(int(1, 2)); // e_phnum
        file.extend(int(sections.1.into(), 2)); // e_shentsize
        file.extend(int(sections.2.into(), 2)); // e_shnum
        file.extend(int(0, 2)); // e_shstrndx
        assert_eq!(file.len() as u64, header_size);
        file.extend(int(u64::from(PT_LOAD), 4)); // p_type
        if wide {
            file.extend(int(5, 4)); // p_flags
            file.extend(int(segment.0, 8)); // p_offset
            file.extend(int(0, 8)); // p_vaddr
            file.extend(int(0, 8)); // p_paddr
            file.extend(int(segment.1, 8)); // p_filesz
            file.extend(int(segment.1, 8)); // p_memsz
            file.extend(int(4096, 8)); // p_align
        } else {
            file.extend(int(segment.0, 4));
            file.extend(int(0, 4));
            file.extend(int(0, 4));
            file.extend(int(segment.1, 4));
            file.extend(int(segment.1, 4));
            file.extend(int(5, 4));
            file.extend(int(4096, 4));
        }
        assert_eq!(file.len() as u64, header_size + entry_size);
        file
    }

    fn extent(bytes: &[u8]) -> Option<u64> {
        elf_extent(&mut std::io::Cursor::new(bytes), bytes.len() as u64).unwrap()
    }

    /// `file` followed by zeros up to `len` bytes.
    fn padded(mut file: Vec<u8>, len: usize) -> Vec<u8> {
        file.resize(len, 0);
        file
    }

    #[test]
    fn the_extent_of_an_elf_file_covers_its_segments_and_section_headers() {
        for (wide, big) in [(true, false), (true, true), (false, false), (false, true)] {
            let layout = format!("wide {wide}, big-endian {big}");
            // The segment reaches further than the section headers.
            let file = padded(elf(wide, big, (4096, 10_000), (8000, 64, 3)), 30_000);
            assert_eq!(extent(&file), Some(14_096), "{layout}");
            // Cut before the section headers: no need to look further.
            assert_eq!(extent(&file[..5000]), Some(8192), "{layout}");
            // The section headers reach further.
            let file = padded(elf(wide, big, (0, 100), (20_000, 40, 10)), 30_000);
            assert_eq!(extent(&file), Some(20_400), "{layout}");
            // Extended numbering: at least the first section header.
            let file = padded(elf(wide, big, (0, 100), (20_000, 40, 0)), 30_000);
            assert_eq!(extent(&file), Some(20_040), "{layout}");
            // Cut inside its own header.
            assert_eq!(
                extent(&file[..20]),
                Some(if wide { 64 } else { 52 }),
                "{layout}"
            );
        }
        assert_eq!(extent(b"not a library"), None);
        assert_eq!(extent(b"\x7fELF\x09\x01"), None, "no such class");
    }

    #[test]
    fn a_truncated_library_is_rejected_before_it_is_mapped() {
        let dir = tempfile::tempdir().unwrap();
        let whole = elf(true, false, (0, 5000), (0, 0, 0));
        let file = dir.path().join("engine.so");
        fs::write(&file, &whole).unwrap();
        assert_eq!(
            check_whole(&file).unwrap_err(),
            "the library is truncated: the file has 120 bytes but its ELF headers need 5000; \
             it is incomplete (still being written?) or damaged"
        );
        let mut padded = whole.clone();
        padded.resize(5000, 0);
        fs::write(&file, &padded).unwrap();
        assert_eq!(check_whole(&file), Ok(()));
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn a_real_library_is_whole_and_any_prefix_of_it_is_not() {
        // This test's own executable is an ELF file the linker wrote.
        let exe = fs::read(std::env::current_exe().unwrap()).unwrap();
        let len = exe.len() as u64;
        let needed = extent(&exe).expect("an ELF file");
        assert!(needed <= len && needed > len / 2, "{needed} of {len}");
        for cut in [len / 10, len / 2, needed - 1] {
            let cut = usize::try_from(cut).unwrap();
            let found = extent(&exe[..cut]).expect("still ELF");
            assert!(found > cut as u64, "cut at {cut}: {found}");
        }
    }

    #[test]
    fn a_rewritten_file_has_another_fingerprint() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("engine.so");
        fs::write(&file, b"v1").unwrap();
        let before = Fingerprint::of(&file).unwrap();
        assert_eq!(Fingerprint::of(&file).unwrap(), before);
        let staged = dir.path().join("engine.so.partial");
        fs::write(&staged, b"v2").unwrap();
        fs::rename(&staged, &file).unwrap();
        assert_ne!(Fingerprint::of(&file).unwrap(), before);
    }
}
