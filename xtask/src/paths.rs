//! Where things are: the workspace, the build directory and the file names
//! cargo gives the host binary and the engine libraries.
//!
//! Every command finds built files here, so a platform's file naming or a
//! moved build directory is handled once.

use std::{
    env,
    path::{Path, PathBuf},
};

/// The checkout xtask was built from, whatever directory it runs in.
pub(crate) fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives in the workspace")
        .to_owned()
}

/// Cargo's build directory for the workspace.
pub(crate) fn target_dir() -> PathBuf {
    workspace_root().join("target")
}

/// A cargo profile, as far as where its output lands.
#[derive(Clone, Copy)]
pub(crate) enum Profile {
    Debug,
    Release,
}

impl Profile {
    /// The name of the directory, under the target directory, that cargo
    /// builds this profile into.
    fn name(self) -> &'static str {
        match self {
            Profile::Debug => "debug",
            Profile::Release => "release",
        }
    }

    /// Where this profile's binaries and libraries are.
    pub(crate) fn dir(self) -> PathBuf {
        target_dir().join(self.name())
    }

    /// The built host binary.
    pub(crate) fn host_binary(self) -> PathBuf {
        self.dir().join(host_binary_file())
    }

    /// The built library of the cdylib crate whose library is `library`.
    pub(crate) fn library(self, library: &str) -> PathBuf {
        self.dir().join(library_file(library))
    }

    /// `library`'s path from the root of whichever workspace built it, as
    /// the next steps shown to an engine author write it.
    pub(crate) fn shown_library(self, library: &str) -> String {
        format!("target/{}/{}", self.name(), library_file(library))
    }
}

/// The host binary's file name on this platform (`wharf`, `wharf.exe`).
pub(crate) fn host_binary_file() -> String {
    format!("wharf{}", env::consts::EXE_SUFFIX)
}

/// The file name cargo gives the library `library` on this platform
/// (`libname.so`, `name.dll`, `libname.dylib`).
pub(crate) fn library_file(library: &str) -> String {
    format!(
        "{}{library}{}",
        env::consts::DLL_PREFIX,
        env::consts::DLL_SUFFIX
    )
}

/// A library file named `stem` plus the platform's extension, for a copy
/// whose name is chosen to set the order a directory loads in.
pub(crate) fn renamed_library_file(stem: &str) -> String {
    format!("{stem}{}", env::consts::DLL_SUFFIX)
}
