//! Every WAHA contacts operation against the sandbox engine, loaded into the
//! real host from its library, over HTTP.

use reqwest::StatusCode;
use serde_json::{Value, json};
use wharf_e2e::{Host, engines};

fn sandbox_host() -> Host {
    let host = Host::start(&[engines::SANDBOX]);
    host.create_session("default", "sandbox", json!({}));
    host
}

fn ada() -> Value {
    json!({
        "id": "14155550100@c.us",
        "number": "14155550100",
        "name": "Ada Lovelace",
        "pushname": "Ada L.",
        "shortName": "Ada",
        "isMe": false,
        "isGroup": false,
        "isWAContact": true,
        "isMyContact": true,
        "isBlocked": false,
        "lid": ADA_LID
    })
}

/// Ada's LID in the sandbox's bundled book.
const ADA_LID: &str = "184216350900100@lid";

fn ids(list: &Value) -> Vec<&str> {
    list.as_array()
        .expect("a JSON array")
        .iter()
        .map(|c| c["id"].as_str().expect("an id"))
        .collect()
}

#[test]
fn get_contact_by_path_and_by_query_in_any_id_form() {
    let host = sandbox_host();
    for path in [
        "/api/default/contacts/14155550100",
        "/api/default/contacts/14155550100@c.us",
        "/api/default/contacts/%2B1%20415-555-0100",
        "/api/contacts?contactId=14155550100&session=default",
        "/api/contacts?contactId=14155550100@s.whatsapp.net&session=default",
    ] {
        assert_eq!(host.get(path), (StatusCode::OK, ada()), "{path}");
    }
    let (status, group) =
        host.get("/api/contacts?contactId=120363021234567890@g.us&session=default");
    assert_eq!(status, StatusCode::OK);
    assert_eq!(group["isGroup"], true);
    assert_eq!(group["name"], "Family");
    assert_eq!(group["number"], Value::Null);

    let (status, body) = host.get("/api/default/contacts/19999999999");
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert_eq!(body["statusCode"], 404);
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("19999999999@c.us")
    );
}

#[test]
fn list_sorts_and_pages_in_both_route_forms() {
    let host = sandbox_host();
    let (status, all) = host.get("/api/default/contacts/all");
    assert_eq!(status, StatusCode::OK);
    let all_ids = ids(&all);
    assert!(
        all_ids.len() >= 50,
        "the bundled book has 50 or more contacts"
    );
    let mut sorted = all_ids.clone();
    sorted.sort();
    assert_eq!(all_ids, sorted, "the default order is by id, ascending");
    assert_eq!(
        all.as_array()
            .unwrap()
            .iter()
            .filter(|c| c["isMe"] == true)
            .count(),
        1
    );

    let (_, by_query) = host.get("/api/contacts/all?session=default");
    assert_eq!(by_query, all);

    let (_, desc) = host.get("/api/default/contacts/all?sortBy=id&sortOrder=desc");
    sorted.reverse();
    assert_eq!(ids(&desc), sorted);

    let (_, by_name) = host.get("/api/default/contacts/all?sortBy=name&sortOrder=asc&limit=3");
    assert_eq!(
        by_name
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["name"].as_str().unwrap())
            .collect::<Vec<_>>(),
        ["Ada Lovelace", "Ahmed Zewail", "Alan Turing"]
    );
    let (_, z_to_a) = host.get("/api/default/contacts/all?sortBy=name&sortOrder=desc&limit=1");
    assert_eq!(z_to_a[0]["name"], "Yukihiro Matsumoto");

    let (_, page) = host.get("/api/contacts/all?session=default&limit=5&offset=10");
    assert_eq!(ids(&page), all_ids[10..15]);
    let (_, past_end) = host.get("/api/default/contacts/all?offset=1000");
    assert_eq!(past_end, json!([]));
}

#[test]
fn list_rejects_bad_paging_naming_the_field() {
    let host = sandbox_host();
    for (query, field) in [
        ("limit=-1", "limit"),
        ("offset=x", "offset"),
        ("sortBy=phone", "sortBy"),
        ("sortOrder=up", "sortOrder"),
        // Which of two values would count is anyone's guess: neither.
        ("offset=1&offset=0", "offset"),
    ] {
        let (status, body) = host.get(&format!("/api/default/contacts/all?{query}"));
        assert_eq!(status, StatusCode::BAD_REQUEST, "{query}: {body}");
        assert_eq!(body["field"], field);
        assert!(body["message"].as_str().unwrap().starts_with(field));
    }
    let (status, body) = host.get("/api/contacts/all");
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["field"], "session");
    let (status, body) = host.get("/api/contacts/all?session=default&session=nosuch");
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["field"], "session");
    // Percent-encoded values are decoded as before.
    let (status, page) = host.get("/api/contacts/all?session=%64efault&limit=%31");
    assert_eq!(status, StatusCode::OK, "{page}");
    assert_eq!(page.as_array().unwrap().len(), 1);
}

#[test]
fn check_exists_returns_the_chat_id_whatsapp_uses() {
    let host = sandbox_host();
    let check = |phone: &str| {
        host.get(&format!(
            "/api/contacts/check-exists?phone={phone}&session=default"
        ))
    };
    assert_eq!(
        check("14155550100"),
        (
            StatusCode::OK,
            json!({"numberExists": true, "chatId": "14155550100@c.us"})
        )
    );
    // Brazil: registered with the 9th digit, asked without it, and the reverse.
    assert_eq!(
        check("551187654321").1,
        json!({"numberExists": true, "chatId": "5511987654321@c.us"})
    );
    assert_eq!(
        check("%2B55%2011%2098765-4322").1,
        json!({"numberExists": true, "chatId": "551187654322@c.us"})
    );
    assert_eq!(
        check("19999999999"),
        (
            StatusCode::OK,
            json!({"numberExists": false, "chatId": null})
        )
    );
    let (status, body) = check("call-me");
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["field"], "phone");
}

#[test]
fn about_and_profile_picture_are_null_when_private() {
    let host = sandbox_host();
    let get = |what: &str, id: &str| {
        host.get(&format!(
            "/api/contacts/{what}?contactId={id}&session=default"
        ))
    };
    assert_eq!(
        get("about", "14155550100"),
        (StatusCode::OK, json!({"about": "Analytical engines only"}))
    );
    assert_eq!(
        get("about", "14155550109"),
        (StatusCode::OK, json!({"about": null}))
    );
    assert_eq!(
        get("profile-picture", "14155550100"),
        (
            StatusCode::OK,
            json!({"profilePictureURL": "https://pps.whatsapp.net/v/t61/sandbox/14155550100.jpg"})
        )
    );
    assert_eq!(
        get("profile-picture", "14155550101@c.us"),
        (StatusCode::OK, json!({"profilePictureURL": null}))
    );
    let (status, _) = host
        .get("/api/contacts/profile-picture?contactId=14155550100&session=default&refresh=true");
    assert_eq!(status, StatusCode::OK);
    let (status, body) = get("about", "not-a-number");
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["field"], "contactId");
}

#[test]
fn block_and_unblock_change_the_contact() {
    let host = sandbox_host();
    let body = json!({"contactId": "+1 415 555 0100", "session": "default"});
    assert_eq!(
        host.post("/api/contacts/block", body.clone()),
        (StatusCode::CREATED, json!({"success": true}))
    );
    assert_eq!(
        host.get("/api/default/contacts/14155550100").1["isBlocked"],
        true
    );
    assert_eq!(
        host.post("/api/contacts/unblock", body),
        (StatusCode::CREATED, json!({"success": true}))
    );
    assert_eq!(host.get("/api/default/contacts/14155550100").1, ada());

    let (status, body) = host.post("/api/contacts/block", json!({"session": "default"}));
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        body["message"].as_str().unwrap().contains("contactId"),
        "{body}"
    );
}

#[test]
fn upsert_adds_and_renames_contacts() {
    let host = sandbox_host();
    let (status, body) = host.put(
        "/api/default/contacts/14155550140@c.us",
        json!({"firstName": "Nova", "lastName": "Pessoa"}),
    );
    assert_eq!((status, body), (StatusCode::OK, json!({"success": true})));
    let (_, added) = host.get("/api/default/contacts/14155550140");
    assert_eq!(
        added,
        json!({
            "id": "14155550140@c.us",
            "number": "14155550140",
            "name": "Nova Pessoa",
            "pushname": null,
            "shortName": "Nova",
            "isMe": false,
            "isGroup": false,
            "isWAContact": true,
            "isMyContact": true,
            "isBlocked": false,
            "lid": null
        })
    );
    host.put(
        "/api/default/contacts/14155550100",
        json!({"firstName": "Augusta"}),
    );
    assert_eq!(
        host.get("/api/default/contacts/14155550100").1["name"],
        "Augusta"
    );

    let (status, body) = host.put(
        "/api/default/contacts/14155550100",
        json!({"firstName": " "}),
    );
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["field"], "firstName");
}

#[test]
fn a_blocked_contact_stays_blocked_after_the_host_crashes() {
    let mut host = sandbox_host();
    let (status, _) = host.post(
        "/api/contacts/block",
        json!({"contactId": "447700900100", "session": "default"}),
    );
    assert_eq!(status, StatusCode::CREATED);
    host.put(
        "/api/default/contacts/14155550141",
        json!({"firstName": "Kept"}),
    );

    host.crash_and_restart();
    // The session was running, so the host starts it again by itself.
    host.wait_for_status("default", "WORKING");
    let (_, tim) = host.get("/api/default/contacts/447700900100");
    assert_eq!(tim["isBlocked"], true);
    assert_eq!(
        host.get("/api/default/contacts/14155550141").1["name"],
        "Kept"
    );
}

#[test]
fn requests_for_unknown_sessions_are_404_naming_the_session() {
    let host = sandbox_host();
    let (status, body) = host.get("/api/nobody/contacts/all");
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["session"], "nobody");
    assert!(body["message"].as_str().unwrap().contains("nobody"));
}

#[test]
fn a_session_can_start_from_its_own_fixture() {
    let fixtures = tempfile::tempdir().unwrap();
    std::fs::write(
        fixtures.path().join("tiny.json"),
        r#"{"contacts": [{"id": "10000000000@c.us", "number": "10000000000", "name": "Only One", "isWAContact": true}]}"#,
    )
    .unwrap();
    let host = Host::builder()
        .engines(&[engines::SANDBOX])
        .args(&["--config-files-dir", fixtures.path().to_str().unwrap()])
        .start();
    host.create_session("tiny", "sandbox", json!({"fixture": "tiny.json"}));
    let (_, list) = host.get("/api/tiny/contacts/all");
    assert_eq!(ids(&list), ["10000000000@c.us"]);

    let (status, _) = host.post(
        "/api/sessions",
        json!({"name": "broken", "engine": "sandbox", "config": {"fixture": "nonexistent.json"}}),
    );
    assert_eq!(status, StatusCode::CREATED);
    let failed = host.wait_for_status("broken", "FAILED");
    assert!(
        failed["reason"]
            .as_str()
            .unwrap()
            .contains("config.fixture"),
        "{failed}"
    );
    let (status, body) = host.get("/api/broken/contacts/all");
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["status"], "FAILED");
}

#[test]
fn names_longer_than_the_documented_limit_or_with_control_characters_are_refused_naming_the_field()
{
    let host = Host::start(&[engines::SANDBOX]);
    host.create_session("books", "sandbox", json!({}));
    let path = "/api/books/contacts/14155550140@c.us";
    let longest = "é".repeat(128);
    let (status, body) = host.put(path, json!({"firstName": longest, "lastName": longest}));
    assert_eq!(status, StatusCode::OK, "{body}");
    let (_, saved) = host.get("/api/books/contacts/14155550140@c.us");
    assert_eq!(saved["name"], format!("{longest} {longest}"));

    let too_long = "x".repeat(129);
    for (body, field) in [
        (json!({"firstName": too_long}), "firstName"),
        (json!({"firstName": "Ok", "lastName": too_long}), "lastName"),
        (
            json!({"firstName": "x".repeat(64 * 1024 - 100)}),
            "firstName",
        ),
        // A name that would forge a line of the host's log.
        (
            json!({"firstName": "Linus\n2026-11-26T11:00:00Z ERROR wharf: forged"}),
            "firstName",
        ),
        (json!({"firstName": "A", "lastName": "B\u{0}C"}), "lastName"),
    ] {
        let (status, answer) = host.put(path, body);
        assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");
        assert_eq!(answer["field"], field, "{answer}");
    }
    let (_, unchanged) = host.get("/api/books/contacts/14155550140@c.us");
    assert_eq!(unchanged["name"], saved["name"]);

    // Clients can know the limit before they send.
    let (_, document) = host.get("/openapi.json");
    let schema = &document["components"]["schemas"]["UpsertRequest"]["properties"];
    assert_eq!(schema["firstName"]["maxLength"], 128, "{schema}");
    assert_eq!(schema["lastName"]["maxLength"], 128, "{schema}");
}

#[test]
fn a_person_is_one_contact_found_by_phone_number_or_lid() {
    let host = sandbox_host();
    for path in [
        "/api/default/contacts/184216350900100@lid",
        "/api/contacts?contactId=184216350900100@lid&session=default",
    ] {
        assert_eq!(host.get(path), (StatusCode::OK, ada()), "{path}");
    }
    // Known only by LID: the LID is the id, and there is no number.
    let (status, lid_only) = host.get("/api/default/contacts/184216350900201@lid");
    assert_eq!(status, StatusCode::OK, "{lid_only}");
    assert_eq!(lid_only["id"], "184216350900201@lid");
    assert_eq!(lid_only["lid"], "184216350900201@lid");
    assert_eq!(lid_only["number"], Value::Null);

    // No one is listed twice: no contact's LID is another's id or LID.
    let (_, list) = host.get("/api/default/contacts/all");
    let mut seen = std::collections::HashSet::new();
    for contact in list.as_array().unwrap() {
        let id = contact["id"].as_str().unwrap();
        assert!(seen.insert(id.to_owned()), "{id} twice");
        if let Some(lid) = contact["lid"].as_str().filter(|lid| *lid != id) {
            assert!(
                seen.insert(lid.to_owned()),
                "{lid} is {id} and someone else"
            );
        }
    }
    assert!(ids(&list).contains(&"184216350900202@lid"));

    // Block by LID, read by number; unblock by number, read by LID.
    let block = json!({"contactId": ADA_LID, "session": "default"});
    assert_eq!(
        host.post("/api/contacts/block", block).0,
        StatusCode::CREATED
    );
    let (_, by_number) = host.get("/api/default/contacts/14155550100");
    assert_eq!(by_number["isBlocked"], true, "{by_number}");
    let unblock = json!({"contactId": "14155550100", "session": "default"});
    assert_eq!(
        host.post("/api/contacts/unblock", unblock).0,
        StatusCode::CREATED
    );
    let (_, by_lid) = host.get(&format!("/api/default/contacts/{ADA_LID}"));
    assert_eq!(by_lid["isBlocked"], false, "{by_lid}");

    // Details and saving by LID reach the same person.
    let (status, about) = host.get(&format!(
        "/api/contacts/about?contactId={ADA_LID}&session=default"
    ));
    assert_eq!(
        (status, about),
        (StatusCode::OK, json!({"about": "Analytical engines only"}))
    );
    let (status, saved) = host.put(
        &format!("/api/default/contacts/{ADA_LID}"),
        json!({"firstName": "Augusta", "lastName": "King"}),
    );
    assert_eq!(status, StatusCode::OK, "{saved}");
    let (_, ada) = host.get("/api/default/contacts/14155550100@c.us");
    assert_eq!(ada["name"], "Augusta King");
    let (_, list) = host.get("/api/default/contacts/all");
    assert!(
        !ids(&list).contains(&ADA_LID),
        "saving by LID made a second contact"
    );
    // A Brazilian mobile with or without its 9th digit is one person.
    let (status, ana) = host.get("/api/default/contacts/551187654321");
    assert_eq!(
        (status, &ana["id"]),
        (StatusCode::OK, &json!("5511987654321@c.us"))
    );
    let (_, mapping) = host.get("/api/default/lids/pn/551187654321");
    assert_eq!(mapping["pn"], "5511987654321@c.us", "{mapping}");
    assert_eq!(mapping["lid"], ana["lid"], "{mapping}");
    // The account cannot block itself, by either id.
    for me in ["14155550199", "184216350900199@lid"] {
        let block = json!({"contactId": me, "session": "default"});
        let (status, body) = host.post("/api/contacts/block", block);
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    }
    // Without a number there is nothing to save in the address book.
    let (status, body) = host.put(
        "/api/default/contacts/184216350900201@lid",
        json!({"firstName": "Someone"}),
    );
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(
        body["message"].as_str().unwrap().contains("contactId"),
        "{body}"
    );
}

#[test]
fn lid_routes_answer_as_waha_does() {
    let host = sandbox_host();
    let (status, all) = host.get("/api/default/lids");
    assert_eq!(status, StatusCode::OK, "{all}");
    let all = all.as_array().unwrap().clone();
    assert_eq!(all.len(), 6);
    assert!(all.contains(&json!({"lid": ADA_LID, "pn": "14155550100@c.us"})));
    let lids: Vec<&str> = all.iter().map(|m| m["lid"].as_str().unwrap()).collect();
    let mut sorted = lids.clone();
    sorted.sort_unstable();
    assert_eq!(lids, sorted);
    let (_, page) = host.get("/api/default/lids?limit=2&offset=1");
    assert_eq!(page, json!(all[1..3]));
    assert_eq!(
        host.get("/api/default/lids/count"),
        (StatusCode::OK, json!({"count": 6}))
    );

    let mapped = json!({"lid": ADA_LID, "pn": "14155550100@c.us"});
    for path in [
        "/api/default/lids/184216350900100@lid",
        "/api/default/lids/184216350900100",
        "/api/default/lids/pn/14155550100",
        "/api/default/lids/pn/14155550100@c.us",
        "/api/default/lids/pn/%2B1%20415%20555%200100",
    ] {
        assert_eq!(host.get(path), (StatusCode::OK, mapped.clone()), "{path}");
    }
    for (path, answer) in [
        // Known only by LID, and no one's LID.
        (
            "/api/default/lids/184216350900201@lid",
            json!({"lid": "184216350900201@lid", "pn": null}),
        ),
        (
            "/api/default/lids/999999999999999",
            json!({"lid": "999999999999999@lid", "pn": null}),
        ),
        // A number without a known LID; a LID asked as a number.
        (
            "/api/default/lids/pn/14155550102",
            json!({"lid": null, "pn": "14155550102@c.us"}),
        ),
        (
            "/api/default/lids/pn/184216350900201@lid",
            json!({"lid": "184216350900201@lid", "pn": null}),
        ),
    ] {
        assert_eq!(host.get(path), (StatusCode::OK, answer), "{path}");
    }
    for (path, field) in [
        ("/api/default/lids/14155550100@c.us", "lid"),
        ("/api/default/lids/abc", "lid"),
        (
            "/api/default/lids/pn/120363021234567890@g.us",
            "phoneNumber",
        ),
        ("/api/default/lids?limit=-1", "limit"),
        ("/api/default/lids/pn", "phoneNumber"),
        ("/api/default/lids/123456789012345678901", "lid"),
    ] {
        let (status, body) = host.get(path);
        assert_eq!(status, StatusCode::BAD_REQUEST, "{path}: {body}");
        assert!(
            body["message"].as_str().unwrap().contains(field),
            "{path}: {body}"
        );
    }
    let (status, body) = host.get("/api/nosuch/lids/count");
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
}
