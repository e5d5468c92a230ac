"""`/metrics` read the way Prometheus reads it: the Prometheus project's own
Python client parses the OpenMetrics text wharf serves."""

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
from prometheus_client.openmetrics.parser import text_string_to_metric_families

from conftest import API_KEY

KEY = {"X-Api-Key": API_KEY}


def _samples(wharf):
    answer = httpx.get(f"{wharf.url}/metrics", headers=KEY)
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("application/openmetrics-text")
    families = {family.name: family for family in text_string_to_metric_families(answer.text)}
    return families, [s for family in families.values() for s in family.samples]


def _value(samples, name, **labels):
    """The sum of the samples called `name` whose labels include `labels`."""
    return sum(
        s.value
        for s in samples
        if s.name == name and all(s.labels.get(k) == v for k, v in labels.items())
    )


class _Refusing(BaseHTTPRequestHandler):
    """A webhook receiver that refuses the first request, then takes all."""

    calls = 0

    def do_POST(self):
        self.rfile.read(int(self.headers["Content-Length"]))
        type(self).calls += 1
        self.send_response(503 if type(self).calls == 1 else 200)
        self.end_headers()

    def log_message(self, *args):
        pass


def test_metrics_need_the_key(wharf):
    assert httpx.get(f"{wharf.url}/metrics").status_code == 401
    assert httpx.get(f"{wharf.url}/metrics", headers={"X-Api-Key": "wrong"}).status_code == 401


def test_requests_engine_calls_refusals_sessions_libraries_and_webhooks_are_counted(wharf):
    receiver = ThreadingHTTPServer(("127.0.0.1", 0), _Refusing)
    threading.Thread(target=receiver.serve_forever, daemon=True).start()
    hook = {
        "url": f"http://127.0.0.1:{receiver.server_address[1]}/hook",
        "events": ["session.status"],
        "retries": {"delaySeconds": 0.05, "attempts": 3},
    }
    try:
        created = httpx.post(
            f"{wharf.url}/api/sessions",
            headers=KEY,
            json={"name": "metered", "engine": "sandbox", "config": {"webhooks": [hook]}},
        )
        assert created.status_code == 201, created.text
        httpx.post(f"{wharf.url}/api/sessions", headers=KEY, json={"name": "plain", "engine": "counting"})
        wharf.wait_for_status("metered", "WORKING")
        wharf.wait_for_status("plain", "WORKING")
        contact = httpx.get(
            f"{wharf.url}/api/contacts",
            headers=KEY,
            params={"contactId": "14155550100", "session": "metered"},
        )
        assert contact.status_code == 200
        refused = httpx.put(
            f"{wharf.url}/api/plain/contacts/14155550100", headers=KEY, json={"firstName": "A"}
        )
        assert refused.status_code == 501

        deadline = time.monotonic() + 30
        while True:
            families, samples = _samples(wharf)
            delivered = _value(samples, "wharf_webhook_deliveries_total", outcome="delivered")
            if delivered >= 2:
                break
            assert time.monotonic() < deadline, json.dumps([str(s) for s in samples])
            time.sleep(0.05)
    finally:
        receiver.shutdown()

    assert families["wharf_http_requests"].type == "counter"
    assert _value(samples, "wharf_http_requests_total", route="/api/contacts", method="GET", status="200") >= 1
    assert _value(samples, "wharf_http_requests_total", route="/api/{session}/contacts/{contactId}", method="PUT", status="501") >= 1

    assert families["wharf_engine_call_seconds"].type == "histogram"
    calls = _value(samples, "wharf_engine_call_seconds_count", engine="sandbox", feature="contacts.get")
    assert calls >= 1
    assert _value(samples, "wharf_engine_call_seconds_bucket", engine="sandbox", feature="contacts.get", le="+Inf") == calls

    assert _value(samples, "wharf_unsupported_total", engine="counting", feature="contacts.upsert") >= 1
    assert _value(samples, "wharf_engine_call_seconds_count", engine="counting", feature="contacts.upsert") == 0

    assert _value(samples, "wharf_sessions", engine="sandbox", status="WORKING") >= 1
    assert _value(samples, "wharf_sessions", engine="counting", status="WORKING") >= 1
    assert _value(samples, "wharf_engine_libraries", status="loaded") == 2
    assert _value(samples, "wharf_engine_libraries", status="rejected") == 0

    assert _value(samples, "wharf_webhook_deliveries_total", outcome="retried") >= 1
