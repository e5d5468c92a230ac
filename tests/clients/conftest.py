"""Starts the real wharf binary for the client tests.

`cargo xtask test` builds the binary and the engine libraries and sets
WHARF_BUILD_DIR to where they are.
"""

import json
import os
import shutil
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

API_KEY = "client-test-key"


def _build_dir() -> Path:
    build = os.environ.get("WHARF_BUILD_DIR")
    if not build:
        pytest.exit("run the client tests with `cargo xtask test`, which builds wharf first", 2)
    return Path(build)


def _library(name: str) -> str:
    if sys.platform == "darwin":
        return f"lib{name}.dylib"
    return f"lib{name}.so"


LISTENING = "wharf listening on http://"


class Wharf:
    """A running `wharf serve` on a loopback port."""

    def __init__(self, root: Path, libraries: list[str]):
        build = _build_dir()
        engines = root / "engines"
        engines.mkdir()
        for library in libraries:
            shutil.copy(build / _library(library), engines / _library(library))
        self.root = root
        self.log = open(root / "wharf.log", "w")
        env = {**os.environ, "WHARF_API_KEY": API_KEY, "RUST_LOG": "info"}
        env.pop("WAHA_API_KEY", None)
        self.process = subprocess.Popen(
            [
                str(build / "wharf"),
                "serve",
                # The host picks its port and logs it: a port the test found
                # free could be taken by another process before the host binds it.
                "--listen",
                "127.0.0.1:0",
                "--engines-dir",
                str(engines),
                "--data-dir",
                str(root / "data"),
            ],
            stdout=self.log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
        )
        deadline = time.monotonic() + 30
        self.url = self._listening_url(deadline)
        while True:
            try:
                if httpx.get(f"{self.url}/ping", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"wharf did not start:\n{(root / 'wharf.log').read_text()}")
            time.sleep(0.05)

    def _listening_url(self, deadline: float) -> str:
        log = self.root / "wharf.log"
        while True:
            for line in log.read_text().splitlines():
                if LISTENING in line:
                    address = line.split(LISTENING, 1)[1].split()[0]
                    return f"http://{address}"
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"wharf did not say where it listens:\n{log.read_text()}")
            time.sleep(0.02)

    def wait_for_status(self, session: str, wanted: str) -> dict:
        deadline = time.monotonic() + 30
        while True:
            info = httpx.get(
                f"{self.url}/api/sessions/{session}", headers={"X-Api-Key": API_KEY}
            ).json()
            if info.get("status") == wanted:
                return info
            assert time.monotonic() < deadline, f"session {session} is {info}, not {wanted}"
            time.sleep(0.02)

    def stop(self) -> None:
        self.process.kill()
        self.process.wait()
        self.log.close()


@pytest.fixture(scope="module")
def wharf(tmp_path_factory):
    server = Wharf(
        tmp_path_factory.mktemp("wharf"),
        ["wharf_sandbox", "wharf_test_counting"],
    )
    yield server
    server.stop()


class Receiver:
    """A webhook receiver on loopback, in a thread: keeps each envelope it
    is sent, and answers 200."""

    def __init__(self):
        self.envelopes: list[dict] = []
        envelopes = self.envelopes

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                envelopes.append(json.loads(body))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def wait_until(self, done, what: str) -> None:
        """Waits until `done(envelopes)` holds."""
        deadline = time.monotonic() + 30
        while not done(self.envelopes):
            assert time.monotonic() < deadline, f"no {what}: {self.envelopes}"
            time.sleep(0.02)


@pytest.fixture
def receiver():
    receiver = Receiver()
    yield receiver
    receiver.server.shutdown()
