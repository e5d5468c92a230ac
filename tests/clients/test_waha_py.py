"""A WAHA client library, generated from WAHA's OpenAPI and published on
PyPI (waha-py), used unchanged against wharf: only the base URL differs."""

import httpx
import pytest
from waha import WahaClient
from waha.generated.models import MeInfo, WASessionStatusBody

from conftest import API_KEY


@pytest.fixture(scope="module")
def client(wharf):
    client = WahaClient(base_url=wharf.url, api_key=API_KEY)
    yield client
    client.close()


@pytest.fixture(scope="module")
def session(client, wharf):
    created = client.sessions.create({"name": "py", "engine": "sandbox"})
    assert created["name"] == "py"
    wharf.wait_for_status("py", "WORKING")
    return "py"


def test_ping_and_version(client):
    assert client.ping.ping() == {"message": "pong"}
    assert client.version.get()["engine"] == "wharf"


def test_sessions(client, session):
    info = client.sessions.get(session)
    assert info["status"] == "WORKING"
    assert info["engine"]["engine"] == "sandbox"
    assert session in [s["name"] for s in client.sessions.list()]
    assert client.sessions.get_me(session) == {
        "id": "14155550199@c.us",
        "pushName": "Wharf Sandbox",
    }


def test_contacts(client, session):
    page = client.contacts.get_all(
        params={"session": session, "limit": 3, "sortBy": "name", "sortOrder": "asc"}
    )
    assert [c["name"] for c in page] == ["Ada Lovelace", "Ahmed Zewail", "Alan Turing"]

    ada = client.contacts.get(params={"contactId": "+1 415-555-0100", "session": session})
    assert ada["id"] == "14155550100@c.us"
    assert ada["isWAContact"] is True
    assert client.contacts_session.get(session, "14155550100") == ada

    assert client.contacts.check_exists(
        params={"phone": "551187654321", "session": session}
    ) == {"numberExists": True, "chatId": "5511987654321@c.us"}
    assert client.contacts.get_about(
        params={"contactId": "14155550100", "session": session}
    ) == {"about": "Analytical engines only"}
    assert client.contacts.get_profile_picture(
        params={"contactId": "14155550101", "session": session}
    ) == {"profilePictureURL": None}


def test_block_unblock_and_upsert(client, session):
    client.contacts.block({"contactId": "447700900101", "session": session})
    assert client.contacts_session.get(session, "447700900101")["isBlocked"] is True
    client.contacts.unblock({"contactId": "447700900101", "session": session})
    assert client.contacts_session.get(session, "447700900101")["isBlocked"] is False

    answer = client.contacts_session.put(
        session, "14155550140@c.us", {"firstName": "Py", "lastName": "Client"}
    )
    assert answer == {"success": True}
    assert client.contacts_session.get(session, "14155550140")["name"] == "Py Client"


def test_lids(client, session):
    ada = {"lid": "184216350900100@lid", "pn": "14155550100@c.us"}
    mappings = client.lids.get_all(session, params={"limit": 100})
    assert ada in mappings
    assert [m["lid"] for m in mappings] == sorted(m["lid"] for m in mappings)
    assert client.lids.get_lids_count(session) == {"count": len(mappings)}
    assert client.lids.find_pn_by_lid(session, "184216350900100@lid") == ada
    assert client.lids.find_lid_by_phone_number(session, "14155550100@c.us") == ada
    assert client.lids.find_pn_by_lid(session, "184216350900201@lid") == {
        "lid": "184216350900201@lid",
        "pn": None,
    }
    # One person: the LID finds the contact the number does.
    by_lid = client.contacts_session.get(session, "184216350900100@lid")
    assert by_lid["id"] == "14155550100@c.us"
    assert by_lid["lid"] == "184216350900100@lid"


def test_errors_reach_the_client_as_http_errors(client, wharf):
    client.sessions.create({"name": "web", "engine": "counting"})
    wharf.wait_for_status("web", "WORKING")
    with pytest.raises(httpx.HTTPStatusError) as unsupported:
        client.contacts_session.put("web", "14155550100", {"firstName": "A"})
    assert unsupported.value.response.status_code == 501
    assert unsupported.value.response.json()["feature"] == "contacts.upsert"

    with pytest.raises(httpx.HTTPStatusError) as bad:
        client.contacts.get(params={"contactId": "not a number", "session": "web"})
    assert bad.value.response.status_code == 400
    assert bad.value.response.json()["field"] == "contactId"

    anonymous = WahaClient(base_url=wharf.url)
    with pytest.raises(httpx.HTTPStatusError) as unauthorized:
        anonymous.sessions.list()
    assert unauthorized.value.response.status_code == 401
    anonymous.close()


def test_session_status_webhooks_fit_wahas_models(client, receiver):
    client.sessions.create(
        {
            "name": "hooked",
            "engine": "sandbox",
            "config": {"webhooks": [{"url": receiver.url, "events": ["session.status"]}]},
        }
    )
    receiver.wait_until(
        lambda envelopes: [e["payload"]["status"] for e in envelopes] == ["STARTING", "WORKING"],
        "STARTING then WORKING",
    )
    for envelope in receiver.envelopes:
        assert envelope["event"] == "session.status"
        assert envelope["session"] == "hooked"
        # The published models take the payload and the account as they are.
        # (Their envelope model cannot take WAHA's own: it types `event` as
        # an object and allows only WAHA's engine names.)
        body = WASessionStatusBody.model_validate(envelope["payload"])
        assert body.name == "hooked"
        if envelope["me"] is not None:
            MeInfo.model_validate(envelope["me"])
