//! Library files in every state an operator (or an attacker with write access
//! to the engines directory) can leave them: truncated, paused mid-copy,
//! rewritten in place while the host reloads. None may bring the host down;
//! each is rejected with a reason until it is whole, then loads.

use std::{
    fs,
    io::Write,
    path::{Path, PathBuf},
    sync::atomic::{AtomicBool, Ordering},
    thread,
    time::Duration,
};

use reqwest::StatusCode;
use serde_json::{Value, json};
use wharf_e2e::{Host, artifact, engines, library_file, run};

/// Where the issue's `head -c 500000` cut the library: inside its loadable
/// segments, so mapping it faults.
const TRUNCATED_AT: usize = 500_000;

fn bytes_of(library: &str) -> Vec<u8> {
    fs::read(artifact(&library_file(library))).expect("read the built library")
}

/// Writes the first [`TRUNCATED_AT`] bytes of `library` to `file`.
fn truncated_copy(library: &str, file: &Path) {
    fs::write(file, &bytes_of(library)[..TRUNCATED_AT]).expect("write the truncated copy");
}

/// Writes `library` to `file` the way download tools that preallocate do,
/// stopped part-way: the full size, but zeros after [`TRUNCATED_AT`]. No
/// size check can tell; loading it crashes.
fn preallocated_copy(library: &str, file: &Path) {
    let mut bytes = bytes_of(library);
    bytes[TRUNCATED_AT..].fill(0);
    fs::write(file, bytes).expect("write the preallocated copy");
}

/// The entry of `list` for the library file named `file_name`.
fn entry<'a>(list: &'a Value, file_name: &str) -> Option<&'a Value> {
    list.as_array()
        .expect("a list of libraries")
        .iter()
        .find(|library| {
            library["file"]
                .as_str()
                .is_some_and(|file| file.ends_with(file_name))
        })
}

/// The reason a library file was rejected, when it was.
fn rejected_reason(list: &Value, file_name: &str) -> Option<String> {
    entry(list, file_name)
        .filter(|library| library["status"] == "rejected")
        .and_then(|library| library["reason"].as_str())
        .map(str::to_owned)
}

fn statuses(list: &Value, name: &str, version: &str) -> Vec<String> {
    list.as_array()
        .expect("a list of libraries")
        .iter()
        .filter(|library| library["name"] == name && library["version"] == version)
        .map(|library| library["status"].as_str().unwrap_or_default().to_owned())
        .collect()
}

/// The sandbox still answers a contacts call on `session`.
fn sandbox_serves(host: &Host, session: &str) {
    let (status, contacts) = host.get(&format!("/api/{session}/contacts/all"));
    assert_eq!(status, StatusCode::OK, "{contacts}");
    assert!(!contacts.as_array().expect("a list").is_empty());
}

fn says_truncated(reason: &str) {
    assert!(reason.contains("the library is truncated"), "{reason}");
}

fn says_crashed(reason: &str) {
    assert!(
        reason.contains("the library crashed the loader (SIG"),
        "{reason}"
    );
}

#[test]
fn a_truncated_library_present_at_start_is_rejected_and_the_host_serves() {
    let mut host = Host::start(&[engines::SANDBOX]);
    let file_name = library_file("cut");
    truncated_copy(engines::SANDBOX, &host.engines_dir().join(&file_name));
    // Found by the scan at start, where it used to kill the host every time.
    host.crash_and_restart();

    let (status, list) = host.get("/api/server/engines");
    assert_eq!(status, StatusCode::OK);
    let reason = rejected_reason(&list, &file_name).unwrap_or_else(|| panic!("{list}"));
    says_truncated(&reason);
    assert_eq!(statuses(&list, "sandbox", "0.1.0"), ["loaded"]);
    host.create_session("default", "sandbox", json!({}));
    sandbox_serves(&host, "default");
    assert!(host.is_running());
}

#[test]
fn truncated_and_half_written_libraries_dropped_in_are_rejected_by_reload() {
    let mut host = Host::start(&[engines::SANDBOX]);
    host.create_session("default", "sandbox", json!({}));
    let pid = host.pid();
    let cut = library_file("cut");
    truncated_copy(engines::SANDBOX, &host.engines_dir().join(&cut));
    let zeros = library_file("zeros");
    preallocated_copy(engines::SANDBOX, &host.engines_dir().join(&zeros));

    let (status, reloaded) = host.post("/api/server/engines/reload", json!({}));
    assert_eq!(status, StatusCode::OK, "{reloaded}");
    assert_eq!(reloaded["added"], json!([]));
    assert_eq!(
        reloaded["rejected"].as_array().unwrap().len(),
        2,
        "{reloaded}"
    );
    let engines = &reloaded["engines"];
    says_truncated(&rejected_reason(engines, &cut).unwrap_or_else(|| panic!("{reloaded}")));
    says_crashed(&rejected_reason(engines, &zeros).unwrap_or_else(|| panic!("{reloaded}")));

    sandbox_serves(&host, "default");
    assert!(host.is_running());
    assert_eq!(host.pid(), pid);
}

#[test]
fn watch_survives_a_library_paused_mid_copy_and_loads_it_once_whole() {
    let host = Host::builder()
        .engines(&[engines::SANDBOX])
        .args(&["--watch"])
        .start();
    host.create_session("default", "sandbox", json!({}));
    let file_name = library_file("evolving");
    let whole = bytes_of(engines::EVOLVING_V2);
    // A copy that stalls part-way, and stays open, as a slow upload would.
    let mut copying = fs::File::create(host.engines_dir().join(&file_name)).unwrap();
    copying.write_all(&whole[..TRUNCATED_AT]).unwrap();
    copying.flush().unwrap();

    // The watcher sees the file settle, tries it, and rejects it.
    let reason = host.eventually("the paused copy to be rejected", || {
        let (status, list) = host.get("/api/server/engines");
        assert_eq!(status, StatusCode::OK);
        rejected_reason(&list, &file_name).ok_or(list)
    });
    says_truncated(&reason);
    sandbox_serves(&host, "default");

    copying.write_all(&whole[TRUNCATED_AT..]).unwrap();
    drop(copying);
    host.eventually("the completed copy to load", || {
        let (_, list) = host.get("/api/server/engines");
        if statuses(&list, "evolving", "2.0.0") == ["loaded"] {
            Ok(())
        } else {
            Err(list)
        }
    });
    host.create_session("evolved", "evolving", json!({}));
    let (status, about) = host.get("/api/contacts/about?contactId=10000000001&session=evolved");
    assert_eq!(status, StatusCode::OK, "{about}");
    sandbox_serves(&host, "default");
}

/// How many times the writer rewrites the library, 50 ms apart.
const REWRITES: usize = 60;

/// Rewrites `file` in place (same inode: truncated, then written in two
/// parts with a pause after the first [`TRUNCATED_AT`] bytes) alternating `versions`, [`REWRITES`] times;
/// the last write is of `versions[1]`.
fn rewrite_in_place(file: PathBuf, versions: [Vec<u8>; 2], done: &AtomicBool) {
    for round in 0..REWRITES {
        let bytes = &versions[(REWRITES - round) % 2];
        let mut out = fs::OpenOptions::new()
            .write(true)
            .truncate(true)
            .open(&file)
            .expect("open the library for rewriting");
        out.write_all(&bytes[..TRUNCATED_AT])
            .expect("write the start");
        thread::sleep(Duration::from_millis(10));
        out.write_all(&bytes[TRUNCATED_AT..])
            .expect("write the rest");
        drop(out);
        thread::sleep(Duration::from_millis(50));
    }
    done.store(true, Ordering::SeqCst);
}

#[test]
fn a_library_rewritten_in_place_during_reloads_never_brings_the_host_down() {
    let host = Host::start(&[engines::SANDBOX]);
    host.create_session("default", "sandbox", json!({}));
    let pid = host.pid();
    let file = host.engines_dir().join(library_file("evolving"));
    let versions = [
        bytes_of(engines::EVOLVING_V1),
        bytes_of(engines::EVOLVING_V2),
    ];
    fs::write(&file, &versions[0]).unwrap();

    let done = AtomicBool::new(false);
    let reloads = thread::scope(|scope| {
        scope.spawn(|| rewrite_in_place(file.clone(), versions, &done));
        let mut reloads = 0;
        while !done.load(Ordering::SeqCst) {
            let (status, reloaded) = host.post("/api/server/engines/reload", json!({}));
            assert_eq!(status, StatusCode::OK, "{reloaded}");
            reloads += 1;
        }
        reloads
    });
    assert!(reloads > 0);

    // The file now holds version 2, whole: one more reload loads it.
    let (status, reloaded) = host.post("/api/server/engines/reload", json!({}));
    assert_eq!(status, StatusCode::OK, "{reloaded}");
    let list = &reloaded["engines"];
    assert_eq!(statuses(list, "evolving", "2.0.0"), ["loaded"], "{list}");
    assert_eq!(statuses(list, "evolving", "1.0.0"), Vec::<String>::new());
    host.create_session("evolved", "evolving", json!({}));
    let (status, about) = host.get("/api/contacts/about?contactId=10000000001&session=evolved");
    assert_eq!(status, StatusCode::OK, "{about}");
    sandbox_serves(&host, "default");
    assert_eq!(host.pid(), pid);
}

#[test]
fn the_command_line_tools_reject_broken_libraries_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    fs::copy(
        artifact(&library_file(engines::SANDBOX)),
        dir.path().join(library_file(engines::SANDBOX)),
    )
    .unwrap();
    let cut = dir.path().join(library_file("cut"));
    truncated_copy(engines::SANDBOX, &cut);

    let ran = run(&[
        "engines",
        "list",
        "--engines-dir",
        dir.path().to_str().unwrap(),
    ]);
    assert_eq!(ran.code, Some(1), "{}{}", ran.stdout, ran.stderr);
    assert!(
        ran.stdout
            .contains(&format!("{}: rejected\n", cut.display())),
        "{}",
        ran.stdout
    );
    assert!(
        ran.stdout.contains("  engine:      sandbox 0.1.0\n"),
        "{}",
        ran.stdout
    );
    says_truncated(&ran.stdout);

    let zeros = dir.path().join(library_file("zeros"));
    preallocated_copy(engines::SANDBOX, &zeros);
    let ran = run(&["engines", "inspect", zeros.to_str().unwrap()]);
    assert_eq!(ran.code, Some(1), "{}{}", ran.stdout, ran.stderr);
    assert!(ran.stdout.contains("  reason:      "), "{}", ran.stdout);
    says_crashed(&ran.stdout);

    let ran = run(&["conformance", cut.to_str().unwrap()]);
    assert_eq!(ran.code, Some(1), "{}{}", ran.stdout, ran.stderr);
    assert!(
        ran.stdout
            .contains("  FAIL  the host accepts the library: the library is truncated"),
        "{}",
        ran.stdout
    );
}
