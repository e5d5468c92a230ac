//! Everything the host and its engines keep in the data directory (the
//! session database, engine credentials and contact books) is private to
//! the user that runs the host: no group or other permission bits on any
//! file or directory, whatever the umask the host was started with.
#![cfg(unix)]

use std::{
    fs,
    os::unix::fs::{PermissionsExt, symlink},
    path::{Path, PathBuf},
};

use reqwest::StatusCode;
use serde_json::json;
use wharf_e2e::{Host, engines};

/// The group and other bits.
const NOT_PRIVATE: u32 = 0o077;

/// Starts the host the way a careless shell would: a umask of 0 lets every
/// file be created world-writable unless the host itself sees to it. The
/// umask is the process's, so it is set once for every test here (this
/// binary runs nothing else) before any host starts.
fn start_sandbox_host() -> Host {
    rustix::process::umask(rustix::fs::Mode::empty());
    let host = Host::start(&[engines::SANDBOX]);
    host.create_session("default", "sandbox", json!({}));
    // A change, so the sandbox stores its book.
    let (status, body) = host.put(
        "/api/default/contacts/14155550123@c.us",
        json!({"firstName": "Grace", "lastName": "Hopper"}),
    );
    assert_eq!(status, StatusCode::OK, "{body}");
    host
}

/// Every file and directory under `root` (itself included), with its mode;
/// symbolic links are listed but not followed.
fn walk(root: &Path) -> Vec<(PathBuf, fs::Metadata)> {
    let mut found = Vec::new();
    let mut pending = vec![root.to_owned()];
    while let Some(path) = pending.pop() {
        let metadata = fs::symlink_metadata(&path)
            .unwrap_or_else(|err| panic!("cannot stat {}: {err}", path.display()));
        if metadata.is_dir() {
            for entry in fs::read_dir(&path)
                .unwrap_or_else(|err| panic!("cannot list {}: {err}", path.display()))
            {
                pending.push(entry.expect("a directory entry").path());
            }
        }
        found.push((path, metadata));
    }
    found
}

/// Asserts that nothing under `root` has a group or other bit, naming every
/// path that has one.
fn assert_private(root: &Path) {
    let offenders: Vec<String> = walk(root)
        .into_iter()
        // A link's own mode is always 0777 and never consulted.
        .filter(|(_, metadata)| !metadata.file_type().is_symlink())
        .filter(|(_, metadata)| metadata.permissions().mode() & NOT_PRIVATE != 0)
        .map(|(path, metadata)| {
            let kind = if metadata.is_dir() { "dir" } else { "file" };
            format!(
                "{kind} {} is {:o}",
                path.display(),
                metadata.permissions().mode() & 0o7777
            )
        })
        .collect();
    assert!(
        offenders.is_empty(),
        "readable or writable by others (directories must be 0700 or stricter, files 0600 or stricter):\n{}",
        offenders.join("\n")
    );
}

/// Asserts that the walk sees the files that matter, so a passing
/// [`assert_private`] is not a vacuous one.
fn assert_has_the_data_files(host: &Host) {
    let data = host.data_dir();
    assert!(data.join("wharf.db").is_file(), "wharf.db is missing");
    let session = host.session_dir("default");
    assert!(session.is_dir(), "{} is missing", session.display());
}

#[test]
fn the_data_directory_is_private_to_the_user() {
    let host = start_sandbox_host();
    assert_has_the_data_files(&host);
    assert_private(&host.data_dir());
}

#[test]
fn a_data_directory_left_open_by_an_earlier_version_is_made_private() {
    let mut host = start_sandbox_host();
    assert_has_the_data_files(&host);
    // What an earlier version left: everything readable by all. A link to a
    // file outside the data directory must not change that file.
    let outside = host.engines_dir().join("not-ours.txt");
    fs::write(&outside, "the operator's").unwrap();
    fs::set_permissions(&outside, fs::Permissions::from_mode(0o644)).unwrap();
    symlink(&outside, host.session_dir("default").join("link")).unwrap();
    for (path, metadata) in walk(&host.data_dir()) {
        if !metadata.file_type().is_symlink() {
            let open = if metadata.is_dir() { 0o755 } else { 0o644 };
            fs::set_permissions(&path, fs::Permissions::from_mode(open)).unwrap();
        }
    }

    host.crash_and_restart();

    assert_private(&host.data_dir());
    let log = host.log();
    assert!(
        log.contains(&host.data_dir().display().to_string()) && log.contains("private"),
        "the host says what it changed:\n{log}"
    );
    assert_eq!(
        fs::metadata(&outside).unwrap().permissions().mode() & 0o777,
        0o644,
        "a file outside the data directory is left alone"
    );
    // The session still works on its tightened files.
    host.wait_for_status("default", "WORKING");
    let (status, grace) = host.get("/api/default/contacts/14155550123");
    assert_eq!(status, StatusCode::OK, "{grace}");
    assert_eq!(grace["name"], "Grace Hopper");
}
