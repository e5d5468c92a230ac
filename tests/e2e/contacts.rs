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
        "lid": null
    })
}

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
    ] {
        let (status, body) = host.get(&format!("/api/default/contacts/all?{query}"));
        assert_eq!(status, StatusCode::BAD_REQUEST, "{query}: {body}");
        assert_eq!(body["field"], field);
        assert!(body["message"].as_str().unwrap().starts_with(field));
    }
    let (status, body) = host.get("/api/contacts/all");
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["field"], "session");
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
    let host = Host::start_with(
        &[engines::SANDBOX],
        &["--config-files-dir", fixtures.path().to_str().unwrap()],
    );
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
fn names_longer_than_the_documented_limit_are_refused_naming_the_field() {
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
