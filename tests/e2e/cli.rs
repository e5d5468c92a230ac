//! The operator and engine-author tools of the `wharf` binary:
//! `wharf engines list`, `wharf engines inspect` and `wharf conformance`.

use std::fs;

use wharf_e2e::{artifact, engines, library_file, run, wharf};

fn library(name: &str) -> String {
    artifact(&library_file(name)).display().to_string()
}

fn engines_dir(libraries: &[&str]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for name in libraries {
        fs::copy(
            artifact(&library_file(name)),
            dir.path().join(library_file(name)),
        )
        .unwrap();
    }
    dir
}

#[test]
fn engines_list_shows_manifests_and_features_and_fails_on_a_rejected_file() {
    let dir = engines_dir(&[engines::SANDBOX, engines::COUNTING]);
    let path = dir.path().to_str().unwrap();
    let ran = run(&["engines", "list", "--engines-dir", path]);
    assert_eq!(ran.code, Some(0), "{}{}", ran.stdout, ran.stderr);
    let sandbox = format!(
        "{}: accepted",
        dir.path().join(library_file(engines::SANDBOX)).display()
    );
    ran.shows(&sandbox);
    ran.shows("  engine:      sandbox 0.1.0\n");
    ran.shows("    contacts.upsert            unsupported: like WhatsApp Web, the counting engine cannot add contacts\n");
    ran.shows("    contacts.list              supported\n");

    fs::copy(
        artifact(&library_file(engines::INCOMPATIBLE)),
        dir.path().join(library_file(engines::INCOMPATIBLE)),
    )
    .unwrap();
    let ran = run(&["engines", "list", "--engines-dir", path]);
    assert_eq!(ran.code, Some(1), "{}", ran.stdout);
    ran.shows("  reason:      incompatible engine ABI (this host speaks 1.0.0): the library was built for ABI 2.0.0\n");
    ran.shows("sandbox 0.1.0");
}

#[test]
fn engines_list_reads_the_directory_from_the_environment_and_says_when_it_cannot() {
    let dir = engines_dir(&[engines::SANDBOX]);
    let ran = run(&["engines", "list"]);
    assert_eq!(ran.code, Some(2), "{}", ran.stdout);
    assert!(
        ran.stderr.contains("cannot read the engines directory"),
        "{}",
        ran.stderr
    );

    let mut command = wharf();
    let output = command
        .args(["engines", "list"])
        .env("WHARF_ENGINES_DIR", dir.path())
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&output.stdout).contains("sandbox 0.1.0"));
}

#[test]
fn engines_inspect_checks_one_file() {
    let ran = run(&["engines", "inspect", &library(engines::SANDBOX)]);
    assert_eq!(ran.code, Some(0), "{}{}", ran.stdout, ran.stderr);
    ran.shows("  abi:         1.0.0 (this host speaks 1.0.0)\n");

    let ran = run(&["engines", "inspect", &library(engines::INCOMPATIBLE)]);
    assert_eq!(ran.code, Some(1));
    ran.shows(": rejected\n");
    ran.shows("the library was built for ABI 2.0.0");

    let dir = tempfile::tempdir().unwrap();
    let junk = dir.path().join("junk.so");
    fs::write(&junk, "not a library").unwrap();
    let ran = run(&["engines", "inspect", junk.to_str().unwrap()]);
    assert_eq!(ran.code, Some(1));
    ran.shows("  reason:      cannot load the library");
}

#[test]
fn engines_inspect_takes_a_bare_file_name_in_the_current_directory() {
    let dir = tempfile::tempdir().unwrap();
    let file_name = library_file("mine");
    fs::copy(
        artifact(&library_file(engines::SANDBOX)),
        dir.path().join(&file_name),
    )
    .unwrap();
    let output = wharf()
        .args(["engines", "inspect", &file_name])
        .current_dir(dir.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(0), "{stdout}");
    assert!(
        stdout.starts_with(&format!("{file_name}: accepted\n")),
        "{stdout}"
    );
    assert!(
        stdout.contains("  engine:      sandbox 0.1.0\n"),
        "{stdout}"
    );
}

#[test]
fn engines_list_writes_a_markdown_feature_table() {
    let dir = engines_dir(&[engines::COUNTING, engines::SANDBOX]);
    let path = dir.path().to_str().unwrap();
    let ran = run(&[
        "engines",
        "list",
        "--engines-dir",
        path,
        "--format",
        "markdown",
    ]);
    assert_eq!(ran.code, Some(0));
    let lines: Vec<&str> = ran.stdout.lines().collect();
    assert_eq!(lines[0], "| feature | `counting` 0.1.0 | `sandbox` 0.1.0 |");
    assert_eq!(lines[1], "|---|---|---|");
    assert!(
        lines
            .contains(&"| `contacts.about` | no: the counting engine keeps no about texts | yes |")
    );
}

#[test]
fn conformance_passes_a_good_engine() {
    let ran = run(&["conformance", &library(engines::SANDBOX)]);
    assert_eq!(ran.code, Some(0), "{}{}", ran.stdout, ran.stderr);
    for line in [
        "  PASS  a session opens: WORKING",
        "  PASS  contacts.list: 55 contact(s), valid and unique ids; paging and sorting keep the contract",
        "  PASS  contacts.upsert: ",
        "  PASS  concurrent calls: 200 × contacts.get at once, all answered",
        "  SKIP  auth.qr: unsupported, so never called (sandbox sessions need no pairing: they start WORKING)",
        "  PASS  sessions close cleanly",
        "  PASS  a session reopens on its data: WORKING",
        "16 passed, 0 failed, 2 skipped",
    ] {
        ran.shows(line);
    }
}

#[test]
fn conformance_fails_a_panicking_engine_and_a_rejected_library() {
    let ran = run(&["conformance", &library(engines::PANICKY)]);
    assert_eq!(ran.code, Some(1), "{}{}", ran.stdout, ran.stderr);
    ran.shows("  FAIL  contacts.list: the engine failed: 500 the engine panicked: panicky engine: listing contacts always panics");
    // The panic failed one check; the kit carried on with the others.
    ran.shows("  PASS  sessions close cleanly");

    let ran = run(&["conformance", &library(engines::INCOMPATIBLE)]);
    assert_eq!(ran.code, Some(1));
    ran.shows("  FAIL  the host accepts the library: incompatible engine ABI");
}

#[test]
fn conformance_says_which_argument_is_wrong() {
    let ran = run(&["conformance", &library(engines::SANDBOX), "--config", "[1]"]);
    assert_eq!(ran.code, Some(2));
    assert!(
        ran.stderr.contains("--config must be a JSON object"),
        "{}",
        ran.stderr
    );
    let ran = run(&["conformance", "/nonexistent/libnothing.so"]);
    assert_eq!(ran.code, Some(2));
    assert!(
        ran.stderr
            .contains("cannot read /nonexistent/libnothing.so"),
        "{}",
        ran.stderr
    );
}

#[test]
fn conformance_reads_the_config_from_a_file_and_never_quotes_it() {
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, content: &str| {
        let path = dir.path().join(name);
        fs::write(&path, content).unwrap();
        path.display().to_string()
    };
    let sandbox = library(engines::SANDBOX);

    let good = write("conformance.json", "{\"fixture\": null}\n");
    let ran = run(&["conformance", &sandbox, "--config-file", &good]);
    assert_eq!(ran.code, Some(0), "{}{}", ran.stdout, ran.stderr);

    let secret = "s3cret-token-never-printed";
    for (name, content, problem) in [
        (
            "broken.json",
            format!("{{\"token\": \"{secret}\", oops}}"),
            "is not JSON (line 1, column",
        ),
        (
            "cut.json",
            format!("{{\"token\": \"{secret}"),
            "ends too soon",
        ),
        (
            "list.json",
            format!("[\"{secret}\"]"),
            "must hold a JSON object",
        ),
    ] {
        let path = write(name, &content);
        let ran = run(&["conformance", &sandbox, "--config-file", &path]);
        assert_eq!(ran.code, Some(2), "{}{}", ran.stdout, ran.stderr);
        let expected = format!("error: --config-file {path}: {problem}");
        assert!(
            ran.stderr.contains(&expected),
            "{expected:?} in {}",
            ran.stderr
        );
        assert!(!ran.stderr.contains(secret) && !ran.stdout.contains(secret));
    }

    let missing = dir.path().join("missing.json").display().to_string();
    let ran = run(&["conformance", &sandbox, "--config-file", &missing]);
    assert_eq!(ran.code, Some(2));
    assert!(
        ran.stderr
            .contains(&format!("error: --config-file {missing}: cannot read it")),
        "{}",
        ran.stderr
    );

    let ran = run(&[
        "conformance",
        &sandbox,
        "--config-file",
        &good,
        "--config",
        "{}",
    ]);
    assert_eq!(ran.code, Some(2));
    assert!(ran.stderr.contains("cannot be used with"), "{}", ran.stderr);
}
