"""The OpenAPI document is valid OpenAPI 3.1, describes every route, and
requests built from it get the responses it documents (schemathesis)."""

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from jsonschema import Draft202012Validator
from openapi_spec_validator import validate
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    negative_data_rejection,
    positive_data_acceptance,
)

from conftest import API_KEY

AUTH = {"x-api-key": API_KEY}


@pytest.fixture(scope="module")
def document(wharf):
    return httpx.get(f"{wharf.url}/openapi.json").json()


def test_the_document_is_valid_openapi_3_1(document):
    assert document["openapi"].startswith("3.1")
    validate(document)


def test_the_document_describes_every_route_with_its_errors(document):
    paths = document["paths"]
    for path in [
        "/api/{session}/contacts/all",
        "/api/contacts/all",
        "/api/contacts",
        "/api/{session}/contacts/{contactId}",
        "/api/contacts/check-exists",
        "/api/contacts/about",
        "/api/contacts/profile-picture",
        "/api/contacts/block",
        "/api/contacts/unblock",
        "/api/sessions",
        "/api/sessions/{session}",
        "/api/sessions/{session}/start",
        "/api/sessions/{session}/stop",
        "/api/sessions/{session}/restart",
        "/api/sessions/{session}/logout",
        "/api/sessions/{session}/me",
        "/api/{session}/lids",
        "/api/{session}/lids/count",
        "/api/{session}/lids/{lid}",
        "/api/{session}/lids/pn/{phoneNumber}",
        "/api/{session}/auth/qr",
        "/api/{session}/auth/request-code",
        "/api/server/engines",
        "/api/server/version",
        "/api/server/status",
        "/ping",
        "/health",
    ]:
        assert path in paths, path
    upsert = paths["/api/{session}/contacts/{contactId}"]["put"]
    assert {"200", "400", "401", "404", "422", "501", "504"} <= set(upsert["responses"])
    lids = paths["/api/{session}/lids/{lid}"]["get"]
    assert {"200", "400", "401", "404", "422", "501", "504"} <= set(lids["responses"])
    mapping = document["components"]["schemas"]["LidMapping"]["properties"]
    assert set(mapping) == {"lid", "pn"}
    assert document["components"]["securitySchemes"]["api_key"]["name"] == "x-api-key"


def test_webhook_deliveries_fit_the_schemas_the_document_gives_them(wharf, document, receiver):
    contact_events = ["contact.added", "contact.renamed", "contact.blocked", "contact.unblocked"]
    hook = {"url": receiver.url, "events": ["session.status", *contact_events]}
    created = httpx.post(
        f"{wharf.url}/api/sessions",
        json={"name": "documented", "engine": "sandbox", "config": {"webhooks": [hook]}},
        headers=AUTH,
    )
    assert created.status_code == 201, created.text
    wharf.wait_for_status("documented", "WORKING")
    contact = "/api/documented/contacts/14155550150@c.us"
    for first_name in ["Nova", "Nina"]:
        saved = httpx.put(f"{wharf.url}{contact}", json={"firstName": first_name}, headers=AUTH)
        assert saved.status_code == 200, saved.text
    for action in ["block", "unblock"]:
        done = httpx.post(
            f"{wharf.url}/api/contacts/{action}",
            json={"contactId": "14155550150", "session": "documented"},
            headers=AUTH,
        )
        assert done.status_code == 201, done.text

    def told(envelopes):
        return [e["event"] for e in envelopes if e["event"].startswith("contact.")]

    receiver.wait_until(lambda envelopes: told(envelopes) == contact_events, "contact events")
    assert {e["event"] for e in receiver.envelopes} == {"session.status", *contact_events}
    def validator(event):
        delivery = document["webhooks"][event]["post"]
        schema = delivery["requestBody"]["content"]["application/json"]["schema"]
        # The document is the root, so the $ref finds its components.
        return Draft202012Validator({**document, **schema})

    for envelope in receiver.envelopes:
        validator(envelope["event"]).validate(envelope)
    last = receiver.envelopes[-1]
    # Each event's schema holds its own `change`, not any string.
    assert not validator("contact.blocked").is_valid(last)
    told_wrong = {**last, "payload": {**last["payload"], "change": "blocked"}}
    assert not validator("contact.unblocked").is_valid(told_wrong)
    assert last["payload"] == {
        "change": "unblocked",
        "contact": httpx.get(f"{wharf.url}{contact}", headers=AUTH).json(),
    }


def test_swagger_ui_is_served_without_a_network(wharf):
    page = httpx.get(f"{wharf.url}/", follow_redirects=True)
    assert page.status_code == 200
    assert "swagger-ui" in page.text
    assert "https://" not in page.text.split("<body")[0], "no assets from a CDN"


@pytest.fixture(scope="module")
def api_schema(wharf):
    httpx.post(
        f"{wharf.url}/api/sessions",
        json={"name": "default", "engine": "sandbox"},
        headers=AUTH,
    )
    wharf.wait_for_status("default", "WORKING")
    return schemathesis.openapi.from_url(f"{wharf.url}/openapi.json")


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    database=None,
)
def test_requests_built_from_the_document_get_documented_answers(case):
    # Every answer must be documented (status, content type, body schema),
    # no input may cause a 5xx, and schema-invalid input must get a 4xx.
    # Schema-valid input may still be refused by rules that depend on state
    # (an engine that is not loaded, a session that is stopped), so
    # positive_data_acceptance is not asked for; but every rule behind a
    # 400 is in the document, so schema-valid input is never a 400
    # (schema_valid_input_is_never_a_400). Like WAHA, wharf ignores
    # query parameters it does not know, so that clients written for newer
    # WAHA versions keep working; a case whose only fault is such a
    # parameter is not negative data for wharf. A 501 is the documented
    # answer for a feature the session's engine lacks (the sandbox cannot
    # pair), not a server error (no_server_error_but_a_documented_501).
    excluded = [positive_data_acceptance, not_a_server_error]
    declared = {parameter.name for parameter in case.operation.query}
    if set(case.query or {}) - declared:
        excluded.append(negative_data_rejection)
    case.call_and_validate(
        headers=AUTH,
        excluded_checks=excluded,
        additional_checks=[schema_valid_input_is_never_a_400, no_server_error_but_a_documented_501],
    )


def no_server_error_but_a_documented_501(ctx, response, case):
    """No input causes a 5xx, except the 501 that names the engine and the
    feature it does not support."""
    if response.status_code < 500:
        return None
    if response.status_code == 501 and {"engine", "feature"} <= set(response.json()):
        return None
    raise AssertionError(f"a server error: {response.status_code} {response.text}")


def schema_valid_input_is_never_a_400(ctx, response, case):
    """A request the document allows is not refused as malformed: the
    server's input rules (patterns, enums, lengths) are all in the schema.
    A 400 from an engine about what it cannot do with a valid id is a
    refusal of that engine, named by `engine` in the body."""
    if case.meta is None or not case.meta.generation.mode.is_positive:
        return None
    if response.status_code != 400:
        return None
    body = response.json()
    message = body.get("message", "")
    # Rules no schema can state: which engines are loaded changes at run
    # time, a session's name in a PUT body must be the one in the path, and
    # a masked secret may be kept only by a config that changes nothing else.
    beyond_the_schema = (
        (body.get("field") == "engine" and "loaded engines" in message)
        or (body.get("field") == "name" and "cannot be renamed" in message)
        or "stored secret" in message
    )
    if "engine" not in body and not beyond_the_schema:
        raise AssertionError(f"a schema-valid request was refused as malformed: {response.text}")
    return None
