//! `cargo xtask new-engine` as an author outside a wharf checkout runs it:
//! usage on `--help`, and a crate whose engine-api source is the one named
//! and whose Cargo.lock holds its own dependencies at the host's versions.

use std::{
    fs,
    path::{Path, PathBuf},
    process::{Command, Output},
};

use tempfile::TempDir;

/// Packages only the workspace needs (the host, the WhatsApp stack, the
/// tools), which a lock holding one engine's dependencies must not list.
const WORKSPACE_ONLY: [&str; 7] = [
    "wharf",
    "xtask",
    "axum",
    "whatsapp-rust",
    "rusqlite",
    "clap",
    "reqwest",
];

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives in the workspace")
        .to_owned()
}

fn xtask(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_xtask"))
        .current_dir(dir)
        .args(args)
        .output()
        .expect("xtask runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn succeeded(output: &Output) {
    assert!(
        output.status.success(),
        "{}\nstdout:\n{}\nstderr:\n{}",
        output.status,
        text(&output.stdout),
        text(&output.stderr)
    );
}

fn temp_dir() -> TempDir {
    tempfile::tempdir().expect("a temporary directory")
}

/// The versions a Cargo.lock lists for `name`.
fn locked_versions(lock: &str, name: &str) -> Vec<String> {
    let header = format!("name = \"{name}\"");
    let lines: Vec<&str> = lock.lines().collect();
    lines
        .windows(2)
        .filter(|pair| pair[0] == header)
        .filter_map(|pair| pair[1].strip_prefix("version = \""))
        .filter_map(|version| version.strip_suffix('"'))
        .map(str::to_owned)
        .collect()
}

/// The crate in `dir`, made for engine `name`, has a lock of its own
/// dependencies, with the ABI's crates at the workspace's versions.
fn assert_own_lock(dir: &Path, name: &str) {
    let lock = fs::read_to_string(dir.join("Cargo.lock")).expect("a Cargo.lock");
    let root_lock = fs::read_to_string(root().join("Cargo.lock")).expect("the workspace's lock");
    let package = format!("wharf-engine-{name}");
    assert_eq!(
        locked_versions(&lock, &package),
        ["0.1.0"],
        "{package} in\n{lock}"
    );
    for krate in [
        "wharf-engine-api",
        "abi_stable",
        "async-ffi",
        "tokio",
        "serde",
    ] {
        let versions = locked_versions(&lock, krate);
        assert!(!versions.is_empty(), "{krate} is not locked");
        assert_eq!(versions, locked_versions(&root_lock, krate), "{krate}");
    }
    for package in WORKSPACE_ONLY {
        assert!(
            locked_versions(&root_lock, package).len() == 1,
            "the workspace has {package}, so its absence below means something"
        );
        assert!(
            locked_versions(&lock, package).is_empty(),
            "{package} in the engine's lock"
        );
    }
}

fn dependency_line(dir: &Path) -> String {
    fs::read_to_string(dir.join("Cargo.toml"))
        .expect("a Cargo.toml")
        .lines()
        .find(|line| line.starts_with("wharf-engine-api"))
        .expect("a wharf-engine-api dependency")
        .to_owned()
}

#[test]
fn help_prints_usage_and_exits_zero() {
    for help in ["--help", "-h"] {
        let output = xtask(&root(), &["new-engine", help]);
        succeeded(&output);
        let usage = text(&output.stdout);
        for part in [
            "usage: cargo xtask new-engine NAME [--path DIR] [--engine-api SOURCE]",
            "--path DIR",
            "--engine-api SOURCE",
            "git+URL#tag=TAG",
            "#branch=BRANCH",
            "#rev=COMMIT",
            "-h, --help",
        ] {
            assert!(usage.contains(part), "{part} is not in\n{usage}");
        }
    }
}

#[test]
fn bad_arguments_print_usage_and_fail() {
    let temp = temp_dir();
    for args in [
        &["new-engine"][..],
        &["new-engine", "--bogus"],
        &["new-engine", "x", "y"],
        &["new-engine", "x", "--path"],
        &[
            "new-engine",
            "x",
            "--engine-api",
            "git+https://h/wharf#color=red",
        ],
        &["new-engine", "x", "--engine-api", "https://h/wharf"],
    ] {
        let output = xtask(temp.path(), args);
        assert!(!output.status.success(), "{args:?} succeeded");
        let stderr = text(&output.stderr);
        assert!(
            stderr.contains("usage: cargo xtask new-engine"),
            "{args:?}:\n{stderr}"
        );
    }
    assert_eq!(fs::read_dir(temp.path()).map(Iterator::count).ok(), Some(0));
}

#[test]
fn out_of_tree_by_default_depends_on_this_checkouts_engine_api() {
    let temp = temp_dir();
    let output = xtask(temp.path(), &["new-engine", "my-engine", "--path", "mine"]);
    succeeded(&output);
    let dir = temp.path().join("mine");
    let engine_api = root().join("engine-api");
    assert_eq!(
        dependency_line(&dir),
        format!(
            "wharf-engine-api = {{ path = \"{}\" }}",
            engine_api.display()
        )
    );
    assert_own_lock(&dir, "my-engine");
    for file in ["src/lib.rs", "README.md", "conformance.json"] {
        assert!(dir.join(file).is_file(), "{file}");
    }
    let readme = fs::read_to_string(dir.join("README.md")).expect("a README");
    for part in [
        "wharf engines inspect target/debug/",
        "wharf conformance target/debug/",
        "--config-file conformance.json",
        "--config-files-dir",
        "curl -X POST localhost:3000/api/server/engines/reload -H 'X-Api-Key: ",
        "SIGHUP",
        "--watch",
    ] {
        assert!(readme.contains(part), "{part} is not in\n{readme}");
    }
    assert!(!readme.contains("{{"), "a placeholder is left in\n{readme}");
}

#[test]
fn a_relative_engine_api_path_is_written_relative_to_the_crate() {
    let temp = temp_dir();
    let dir = temp.path().join("deep").join("mine");
    let output = xtask(
        &root(),
        &[
            "new-engine",
            "relative",
            "--path",
            dir.to_str().expect("a UTF-8 temporary directory"),
            "--engine-api",
            "engine-api",
        ],
    );
    succeeded(&output);
    let line = dependency_line(&dir);
    let written = line
        .strip_prefix("wharf-engine-api = { path = \"")
        .and_then(|rest| rest.strip_suffix("\" }"))
        .unwrap_or_else(|| panic!("not a path dependency: {line}"));
    assert!(written.starts_with(".."), "{written}");
    assert_eq!(
        dir.join(written).canonicalize().ok(),
        root().join("engine-api").canonicalize().ok()
    );
    assert_own_lock(&dir, "relative");
}

#[cfg(unix)]
#[test]
fn a_git_engine_api_is_written_and_locked() {
    let temp = temp_dir();
    // A repository holding what a wharf checkout holds for engine-api: the
    // workspace manifest it inherits from, and the crate. At the same place
    // each run, so cargo's git cache (in CARGO_HOME) keeps one copy of it.
    let repo = stable_dir("wharf");
    fs::create_dir_all(&repo).expect("a repository directory");
    for file in ["Cargo.toml", "Cargo.lock"] {
        fs::copy(root().join(file), repo.join(file)).expect("copied");
    }
    copy_dir(&root().join("engine-api"), &repo.join("engine-api"));
    let git = |args: &[&str]| {
        let output = Command::new("git")
            .current_dir(&repo)
            .args([
                "-c",
                "user.name=wharf test",
                "-c",
                "user.email=test@example.invalid",
                "-c",
                "commit.gpgsign=false",
                "-c",
                "tag.gpgsign=false",
            ])
            .args(args)
            .output()
            .expect("git runs (the test needs git)");
        succeeded(&output);
    };
    git(&["init", "--quiet"]);
    git(&["add", "--all"]);
    git(&["commit", "--quiet", "--message", "engine-api"]);
    git(&["tag", "abi-test"]);

    let url = format!("file://{}", repo.display());
    let output = xtask(
        temp.path(),
        &[
            "new-engine",
            "from-git",
            "--path",
            "mine",
            "--engine-api",
            &format!("git+{url}#tag=abi-test"),
        ],
    );
    succeeded(&output);
    let dir = temp.path().join("mine");
    assert_eq!(
        dependency_line(&dir),
        format!("wharf-engine-api = {{ git = \"{url}\", tag = \"abi-test\" }}")
    );
    assert_own_lock(&dir, "from-git");
    let lock = fs::read_to_string(dir.join("Cargo.lock")).expect("a Cargo.lock");
    assert!(
        lock.contains(&format!("source = \"git+{url}?tag=abi-test#")),
        "{lock}"
    );
}

/// A directory under `target/` for this test file, missing at first.
fn stable_dir(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("new-engine")
        .join(name);
    match fs::remove_dir_all(&dir) {
        Ok(()) => {}
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
        Err(err) => panic!("cannot clear {}: {err}", dir.display()),
    }
    dir
}

fn copy_dir(from: &Path, to: &Path) {
    fs::create_dir_all(to).expect("a directory");
    for entry in fs::read_dir(from).expect("a readable directory") {
        let entry = entry.expect("an entry");
        let path = entry.path();
        if entry.file_type().expect("a file type").is_dir() {
            copy_dir(&path, &to.join(entry.file_name()));
        } else {
            fs::copy(&path, to.join(entry.file_name())).expect("copied");
        }
    }
}

#[test]
fn a_failed_scaffold_leaves_nothing_behind() {
    let temp = temp_dir();
    let missing = stable_dir("no-engine-api");
    let output = xtask(
        temp.path(),
        &[
            "new-engine",
            "x",
            "--path",
            "mine",
            "--engine-api",
            missing.to_str().expect("a UTF-8 temporary directory"),
        ],
    );
    assert!(!output.status.success());
    // A git source that cannot be fetched fails in cargo, after the files
    // were written: they must go too.
    let output = xtask(
        temp.path(),
        &[
            "new-engine",
            "x",
            "--path",
            "mine",
            "--engine-api",
            &format!("git+file://{}", missing.display()),
        ],
    );
    assert!(!output.status.success());
    assert!(
        text(&output.stderr).contains("could not lock"),
        "{}",
        text(&output.stderr)
    );
    assert_eq!(fs::read_dir(temp.path()).map(Iterator::count).ok(), Some(0));

    let taken = temp.path().join("taken");
    fs::create_dir(&taken).expect("a directory");
    fs::write(taken.join("mine.txt"), "mine").expect("a file");
    let output = xtask(temp.path(), &["new-engine", "x", "--path", "taken"]);
    assert!(!output.status.success());
    assert_eq!(fs::read_dir(&taken).map(Iterator::count).ok(), Some(1));
}

#[test]
fn a_workspace_member_takes_no_engine_api_source() {
    let output = xtask(
        &root(),
        &[
            "new-engine",
            "never-made",
            "--engine-api",
            "git+https://example.invalid/wharf",
        ],
    );
    assert!(!output.status.success());
    assert!(
        text(&output.stderr).contains("--engine-api is for a crate outside this workspace"),
        "{}",
        text(&output.stderr)
    );
    assert!(!root().join("engines").join("never-made").exists());
}
