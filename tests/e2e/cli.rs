//! The operator and engine-author tools of the `wharf` binary:
//! `wharf engines list`, `wharf engines inspect` and `wharf conformance`.

use std::fs;

use wharf_e2e::{Ran, artifact, engines, library_file, run, wharf};

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
    ran.shows("  reason:      incompatible engine ABI (this host speaks 2.3.0): the library was built for ABI 1.0.0\n");
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
    ran.shows("  abi:         2.3.0 (this host speaks 2.3.0)\n");

    let ran = run(&["engines", "inspect", &library(engines::INCOMPATIBLE)]);
    assert_eq!(ran.code, Some(1));
    ran.shows(": rejected\n");
    ran.shows("the library was built for ABI 1.0.0");

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

/// The lines of a report that start with `prefix`.
fn lines_starting<'a>(ran: &'a Ran, prefix: &str) -> Vec<&'a str> {
    ran.stdout
        .lines()
        .filter(|line| line.starts_with(prefix))
        .collect()
}

/// The chat id of the contact conformance created, as its plan names it.
fn own_contact(ran: &Ran) -> String {
    let plan = lines_starting(
        ran,
        "  PLAN  writes go to one contact that conformance creates, ",
    );
    let first = plan
        .first()
        .unwrap_or_else(|| panic!("no plan in\n{}", ran.stdout));
    let id = first.split(", ").nth(1).unwrap().to_owned();
    assert!(id.starts_with("10") && id.ends_with("@c.us"), "{id}");
    id
}

/// The writes a report lists at its end.
fn writes_made(ran: &Ran) -> Vec<String> {
    let Some((_, writes)) = ran.stdout.split_once("\nwrites made:\n") else {
        return Vec::new();
    };
    writes
        .lines()
        .map_while(|line| line.strip_prefix("  "))
        .map(str::to_owned)
        .collect()
}

#[test]
fn conformance_passes_a_good_engine() {
    let ran = run(&["conformance", &library(engines::SANDBOX)]);
    assert_eq!(ran.code, Some(0), "{}{}", ran.stdout, ran.stderr);
    let own = own_contact(&ran);
    for line in [
        "  PASS  a session opens: WORKING",
        "  PASS  contacts.list: 58 contact(s), valid and unique ids; paging and sorting keep the contract",
        "  PASS  contacts.get, ids no one has: ",
        "  PASS  contacts.check_exists, numbers no one has: ",
        "  PASS  contacts.check_exists, a contact's number: 14155550100 → numberExists: true, chatId: 14155550100@c.us",
        &format!(
            "  PASS  contacts.upsert, a new contact: created {own} as \"Émile Wharf Conformance\"; contacts.get and contacts.list show that name"
        ),
        &format!(
            "  PASS  contacts.upsert, a rename: renamed {own} to \"zoë Wharf Conformance\"; contacts.get and contacts.list show that name"
        ),
        &format!(
            "  PASS  contacts.block: blocked {own}; contacts.get and contacts.list show isBlocked: true"
        ),
        &format!(
            "  PASS  contacts.upsert, a blocked contact: saved {own} as \"zoë Wharf Conformance\" while it was blocked; contacts.get and contacts.list show it still blocked"
        ),
        &format!(
            "  PASS  contacts.unblock: unblocked {own}; contacts.get and contacts.list show isBlocked: false"
        ),
        &format!(
            "  PASS  contact events: told contact.added, contact.renamed, contact.blocked, contact.unblocked for {own}, in order, the last with the contact as contacts.get shows it"
        ),
        "  PASS  contacts.get, a contact it has: 14155550100@c.us → that contact",
        "  PASS  contacts.list agrees with contacts.get: the same record from both for 20 listed contact(s)",
        "  PASS  contacts.get, a person by their LID: 184216350900100@lid → 14155550100@c.us, the same contact",
        "  PASS  lids.list: 6 mapping(s), complete, sorted by lid, paged alike",
        "  PASS  lids.count: 6, as lids.list has",
        "  PASS  lids.find_pn: 184216350900100@lid → {lid: \"184216350900100@lid\", pn: \"14155550100@c.us\"}; ",
        "  PASS  lids.find_pn agrees with the contact book: 3 listed person(s): their lid stands for their number",
        "  PASS  lids.find_lid: 14155550100 → {lid: \"184216350900100@lid\", pn: \"14155550100@c.us\"}; ",
        "  PASS  contacts.list, after the writes: 59 contact(s)",
        "  PASS  contacts conformance did not create are unchanged: 58 contact(s) listed as they were before the writes",
        "  PASS  concurrent calls: 200 × contacts.get at once, all answered",
        "  SKIP  auth.qr: unsupported, so never called (sandbox sessions need no pairing: they start WORKING)",
        "  PASS  sessions close cleanly",
        "  PASS  a session reopens on its data: WORKING",
        "30 passed, 0 failed, 2 skipped",
    ] {
        ran.shows(line);
    }
}

#[test]
fn conformance_says_its_writes_before_it_starts_and_lists_them_at_the_end() {
    let ran = run(&["conformance", &library(engines::SANDBOX)]);
    assert_eq!(ran.code, Some(0), "{}{}", ran.stdout, ran.stderr);
    let own = own_contact(&ran);
    let plan = lines_starting(&ran, "  PLAN  ");
    assert_eq!(
        plan[1..],
        [
            format!(
                "  PLAN  contacts.upsert: create {own} as \"Émile Wharf Conformance\", then rename it \"zoë Wharf Conformance\""
            ),
            format!(
                "  PLAN  contacts.block, contacts.unblock: block {own}, save its name again while blocked, then unblock it"
            ),
            format!("  PLAN  {own} stays in the book afterwards: no operation deletes a contact"),
        ]
    );
    // The plan comes before the session that takes the writes opens.
    let plan_at = ran.stdout.find("  PLAN  ").unwrap();
    assert!(plan_at < ran.stdout.find("  PASS  a session opens").unwrap());
    // Every write went to that one contact, and it was unblocked again.
    assert_eq!(
        writes_made(&ran),
        [
            format!("created {own} as \"Émile Wharf Conformance\""),
            format!("renamed {own} to \"zoë Wharf Conformance\""),
            format!("blocked {own}"),
            format!("saved {own} as \"zoë Wharf Conformance\" while it was blocked"),
            format!("unblocked {own}"),
        ]
    );

    // With --read-only it makes none, and says which checks that leaves out.
    let ran = run(&["conformance", &library(engines::SANDBOX), "--read-only"]);
    assert_eq!(ran.code, Some(0), "{}{}", ran.stdout, ran.stderr);
    ran.shows("  PLAN  --read-only: no writes\n");
    ran.shows("  PLAN  so contacts.block and contacts.unblock go unchecked: conformance blocks no contact it did not create\n");
    for feature in ["upsert", "block", "unblock"] {
        ran.shows(&format!(
            "  SKIP  contacts.{feature}: --read-only: no writes\n"
        ));
    }
    ran.shows("\nwrites made: none\n");
    ran.shows("  PASS  contacts.list agrees with contacts.get");

    // An engine that blocks but cannot create a contact (as WhatsApp Web):
    // conformance blocks nothing, since every contact there is the author's.
    let ran = run(&["conformance", &library(engines::COUNTING)]);
    ran.shows("  PLAN  no writes: contacts.upsert is unsupported, and conformance writes only to a contact it creates itself\n");
    ran.shows("  SKIP  contacts.block: no writes: contacts.upsert is unsupported, and conformance writes only to a contact it creates itself\n");
    ran.shows("\nwrites made: none\n");
}

#[test]
fn conformance_fails_each_wrong_engine_in_the_check_its_mistake_breaks() {
    // Each of these passed conformance before it compared answers (16
    // passed, 0 failed); now each fails exactly the checks named here.
    let cases: [(&str, &[&str]); 11] = [
        (
            engines::WRONG_UPSERT,
            &["contacts.upsert, a new contact: asked to create 10"],
        ),
        (
            engines::WRONG_EXISTS,
            &["contacts.check_exists, numbers no one has: asked about 10"],
        ),
        (
            engines::WRONG_CHAT_ID,
            &[
                "contacts.check_exists, a contact's number: asked about 14155550100, the number of 14155550100@c.us (isWAContact: true): it answered chatId 100000000000001@lid, not the contact's id",
            ],
        ),
        (
            engines::WRONG_GET_UNKNOWN,
            &["contacts.get, ids no one has: asked for 10"],
        ),
        (
            engines::WRONG_GET_KNOWN,
            &[
                "contacts.get, a contact it has: asked for 14155550100@c.us, which the engine has: it answered another contact, 120363000000000001@g.us",
                "contacts.get, a person by their LID: asked for 100000000000001@lid, the lid of 14155550100@c.us: it answered 120363000000000001@g.us",
                "contacts.list agrees with contacts.get: contacts.list has 120363000000000001@g.us, and contacts.get, asked for it, answered another contact, 10",
            ],
        ),
        (engines::WRONG_BLOCK, &["contacts.block: asked to block 10"]),
        (
            engines::WRONG_UNBLOCK,
            &["contacts.unblock: asked to unblock 10"],
        ),
        (
            engines::WRONG_LIST,
            &["contacts.list agrees with contacts.get: 10"],
        ),
        (
            engines::WRONG_UPSERT_UNBLOCKS,
            &["contacts.upsert, a blocked contact: asked to save 10"],
        ),
        (
            engines::WRONG_LID_TWICE,
            &[
                "contacts.list: one person is listed twice: 100000000000001@lid and 14155550100@c.us",
            ],
        ),
        (
            engines::WRONG_TOLD_RENAMED,
            &["contact events: the writes to 10"],
        ),
    ];
    for (engine, expected) in cases {
        let ran = run(&["conformance", &library(engine)]);
        assert_eq!(ran.code, Some(1), "{engine}: {}{}", ran.stdout, ran.stderr);
        let failures = lines_starting(&ran, "  FAIL  ");
        assert_eq!(failures.len(), expected.len(), "{engine}: {}", ran.stdout);
        for (failure, expected) in failures.iter().zip(expected) {
            assert!(
                failure.starts_with(&format!("  FAIL  {expected}")),
                "{engine}: {failure:?} is not {expected:?}"
            );
        }
        ran.shows(&format!("{} failed, ", expected.len()));
    }
}

#[test]
fn conformance_names_the_mistake_and_undoes_what_it_did() {
    let ran = run(&["conformance", &library(engines::WRONG_UPSERT)]);
    let own = own_contact(&ran);
    ran.shows(&format!(
        "  FAIL  contacts.upsert, a new contact: asked to create {own} as \"Émile Wharf Conformance\", it answered success, but contacts.get then answers: not_found: no contact {own}\n"
    ));
    // Blocking needs a contact of its own, which it could not make.
    ran.shows("  SKIP  contacts.block: conformance blocks only a contact it created itself, and it could not create one (see contacts.upsert)\n");
    assert_eq!(
        writes_made(&ran),
        [format!("created {own} as \"Émile Wharf Conformance\"")]
    );

    let ran = run(&["conformance", &library(engines::WRONG_EXISTS)]);
    let own = own_contact(&ran);
    let number = own.trim_end_matches("@c.us");
    ran.shows(&format!(
        "  FAIL  contacts.check_exists, numbers no one has: asked about {number}, which no one has (+1, area code {}): it says the number exists, with chatId {own}\n",
        &number[1..4]
    ));

    let ran = run(&["conformance", &library(engines::WRONG_GET_UNKNOWN)]);
    let own = own_contact(&ran);
    ran.shows(&format!("  FAIL  contacts.get, ids no one has: asked for {own}, which no one has: it answered another contact, 120363000000000001@g.us, not 404 (not found)\n"));

    let ran = run(&["conformance", &library(engines::WRONG_BLOCK)]);
    let own = own_contact(&ran);
    ran.shows(&format!("  FAIL  contacts.block: asked to block {own}, it answered success, but contacts.get then shows isBlocked: false\n"));
    // The block answered success, so it unblocks all the same.
    assert_eq!(
        writes_made(&ran)[2..],
        [format!("blocked {own}"), format!("unblocked {own}")]
    );

    let ran = run(&["conformance", &library(engines::WRONG_UNBLOCK)]);
    let own = own_contact(&ran);
    ran.shows(&format!("  FAIL  contacts.unblock: asked to unblock {own}, it answered success, but contacts.get then shows isBlocked: true\n"));

    let ran = run(&["conformance", &library(engines::WRONG_LIST)]);
    let own = own_contact(&ran);
    ran.shows(&format!("  FAIL  contacts.list agrees with contacts.get: {own} differs: shortName is null on contacts.list, \"zoë\" on contacts.get\n"));

    let ran = run(&["conformance", &library(engines::WRONG_UPSERT_UNBLOCKS)]);
    let own = own_contact(&ran);
    ran.shows(&format!("  FAIL  contacts.upsert, a blocked contact: asked to save {own} as \"zoë Wharf Conformance\" while it is blocked, it answered success, but contacts.get then shows isBlocked: false\n"));
}

#[test]
fn conformance_fails_when_no_session_works_unless_told_that_none_can() {
    let not_working = [
        "conformance",
        &library(engines::SANDBOX),
        "--config",
        r#"{"fixture": 5}"#,
    ];
    let ran = run(&not_working);
    assert_eq!(ran.code, Some(1), "{}{}", ran.stdout, ran.stderr);
    ran.shows("  PASS  a session opens: FAILED after ");
    ran.shows("  SKIP  contacts.list: the session is FAILED, not WORKING");
    ran.shows("  FAIL  contacts features are checked: none of the 12 the engine supports could be checked: the session is FAILED, not WORKING; pass a --config (or --config-file) it can work with; or pass --allow-not-working to check only the rest\n");

    let ran = run(&[&not_working[..], &["--allow-not-working"]].concat());
    assert_eq!(ran.code, Some(0), "{}{}", ran.stdout, ran.stderr);
    assert!(
        lines_starting(&ran, "  FAIL  ").is_empty(),
        "{}",
        ran.stdout
    );
}

#[test]
fn conformance_fails_a_panicking_engine_and_a_rejected_library() {
    let ran = run(&["conformance", &library(engines::PANICKY)]);
    assert_eq!(ran.code, Some(1), "{}{}", ran.stdout, ran.stderr);
    ran.shows("  FAIL  contacts.list: the engine failed: internal: the engine panicked: panicky engine: listing contacts always panics");
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
