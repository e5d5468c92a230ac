"""The dashboard in a real browser: Debian's headless Chromium, driven by
Playwright, against the real wharf binary. Screenshots of each page go to
target/dashboard-screenshots/ for a person to look at.

Without Chromium at /usr/bin/chromium (`apt install chromium`) the tests are
skipped, unless WHARF_REQUIRE_BROWSER is set, as CI sets it."""

import os
import shutil
import time
from pathlib import Path

import httpx
import pytest

from conftest import API_KEY, Wharf

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
SCREENSHOTS = Path(os.environ.get("WHARF_BUILD_DIR", "target/debug")).parent / "dashboard-screenshots"
AUTH = {"X-Api-Key": API_KEY}

if not Path(CHROMIUM).exists():
    if os.environ.get("WHARF_REQUIRE_BROWSER"):
        raise RuntimeError(f"the dashboard tests need Chromium at {CHROMIUM}: apt install chromium")
    pytest.skip("no Chromium (apt install chromium) for the dashboard tests", allow_module_level=True)

from playwright.sync_api import expect, sync_playwright  # noqa: E402


@pytest.fixture(scope="module")
def host(tmp_path_factory):
    server = Wharf(
        tmp_path_factory.mktemp("dashboard"),
        ["wharf_sandbox", "wharf_test_counting", "wharf_cloudapi"],
    )
    yield server
    server.stop()


@pytest.fixture(scope="module")
def browser():
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            # The machine's network is closed: no background connections.
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
            ],
        )
        yield browser
        browser.close()


@pytest.fixture
def page(browser, host):
    context = browser.new_context(viewport={"width": 1200, "height": 900})
    page = context.new_page()
    errors = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    # A refused request is logged by the browser itself; the page's own
    # errors are what count.
    page.on(
        "console",
        lambda line: errors.append(line.text)
        if line.type == "error" and not line.text.startswith("Failed to load resource")
        else None,
    )
    yield page
    context.close()
    assert errors == [], "the page logged errors"


def shot(page, name):
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=SCREENSHOTS / f"{name}.png", full_page=True)


def sign_in(page, host):
    page.goto(f"{host.url}/dashboard")
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    shot(page, "sign-in")
    page.get_by_label("API key").fill("not-the-key")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_contain_text("not one this server takes")
    page.get_by_label("API key").fill("süper")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_contain_text("only visible ASCII characters")
    page.get_by_label("API key").fill(API_KEY)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Sessions")).to_be_visible()


def test_the_key_stays_out_of_urls_and_storage_outlives_no_tab(page, host):
    requests = []
    page.on("request", lambda request: requests.append(request.url))
    page.on("websocket", lambda socket: requests.append(socket.url))
    sign_in(page, host)
    assert page.evaluate("sessionStorage.getItem('wharf.apiKey')") == API_KEY
    assert page.evaluate("localStorage.length") == 0
    assert not [url for url in requests if API_KEY in url]
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    assert page.evaluate("sessionStorage.getItem('wharf.apiKey')") is None


def test_a_sandbox_session_is_created_works_and_its_contacts_are_browsed_and_blocked(page, host):
    frames = []
    page.on(
        "websocket",
        lambda socket: socket.on("framereceived", lambda frame: frames.append(frame)),
    )
    sign_in(page, host)
    page.get_by_label("Name", exact=True).fill("browser")
    page.get_by_label("Engine").select_option(label="sandbox 0.1.0")
    features = page.get_by_role("list", name="Features of sandbox 0.1.0")
    expect(features).to_contain_text("contacts.block")
    page.get_by_role("button", name="Create and start").click()
    row = page.locator("tr[data-session=browser]")
    expect(row).to_contain_text("WORKING")
    expect(row).to_contain_text("14155550199@c.us")
    assert any('"session.status"' in str(frame) for frame in frames), "status comes live over /ws"
    shot(page, "sessions")

    row.get_by_role("link", name="Contacts of browser").click()
    expect(page.get_by_role("heading", name="Contacts of browser")).to_be_visible()
    table = page.locator("#contacts")
    expect(table.locator("tbody tr")).to_have_count(25)
    page.get_by_label("Sort by").select_option("name")
    page.get_by_label("Order").select_option("desc")
    expect(table.locator("caption")).to_contain_text("Contacts 1–25")
    shown = table.locator("tbody tr").evaluate_all(
        "rows => rows.map(row => row.getAttribute('data-contact'))"
    )
    asked = httpx.get(
        f"{host.url}/api/contacts/all",
        params={"session": "browser", "limit": 25, "sortBy": "name", "sortOrder": "desc"},
        headers=AUTH,
    ).json()
    assert shown == [contact["id"] for contact in asked], "the page shows the API's order"
    shot(page, "contacts")

    page.get_by_label("Search name or number").fill("14155550100")
    page.get_by_role("button", name="Search", exact=True).click()
    ada = table.locator('tr[data-contact="14155550100@c.us"]')
    expect(ada).to_contain_text("Ada Lovelace")
    block = ada.get_by_role("button", name="Block 14155550100@c.us", exact=True)
    unblock = ada.get_by_role("button", name="Unblock 14155550100@c.us", exact=True)
    block.click()
    expect(unblock).to_be_focused()
    expect(ada).to_contain_text("Blocked")
    blocked = httpx.get(f"{host.url}/api/browser/contacts/14155550100", headers=AUTH).json()
    assert blocked["isBlocked"] is True
    unblock.click()
    expect(block).to_be_visible()
    unblocked = httpx.get(f"{host.url}/api/browser/contacts/14155550100", headers=AUTH).json()
    assert unblocked["isBlocked"] is False

    page.get_by_label("Search name or number").fill("grace")
    page.get_by_role("button", name="Search", exact=True).click()
    expect(table.locator("caption")).to_contain_text("matching “grace”")
    expect(table.locator("tbody tr").first).to_contain_text("Grace")


def test_upsert_is_disabled_with_cloudapis_reason_before_anything_is_tried(page, host):
    created = httpx.post(
        f"{host.url}/api/sessions",
        json={
            "name": "business",
            "engine": "cloudapi",
            "config": {
                "accessToken": "dashboard-token",
                "phoneNumberId": "100000000000000",
                "graphApiUrl": "http://127.0.0.1:9",
            },
        },
        headers=AUTH,
    )
    assert created.status_code == 201, created.text
    reason = httpx.get(f"{host.url}/api/server/engines", headers=AUTH).json()
    cloudapi = next(engine for engine in reason if engine["name"] == "cloudapi")
    why = cloudapi["features"]["contacts.upsert"]["reason"]
    requests = []
    page.on("request", lambda request: requests.append((request.method, request.url)))
    sign_in(page, host)
    page.goto(f"{host.url}/dashboard#/sessions/business/contacts")
    expect(page.get_by_role("heading", name="Contacts of business")).to_be_visible()
    save = page.get_by_role("button", name="Save contact")
    expect(save).to_be_disabled()
    expect(save).to_have_attribute("title", why)
    expect(page.locator("#upsert-reason")).to_contain_text(why)
    expect(page.get_by_text("Listing contacts:")).to_be_visible()
    expect(page.get_by_label("Sort by")).to_be_disabled()
    # The Cloud API has no book, but blocks numbers: that stays possible.
    expect(page.get_by_role("button", name="Block", exact=True)).to_be_enabled()
    shot(page, "contacts-cloudapi")
    assert not [r for r in requests if r[0] == "PUT"], "nothing was tried"


def test_engines_show_the_feature_grid_with_reasons_and_reload(page, host):
    sign_in(page, host)
    page.get_by_role("link", name="Engines").click()
    grid = page.locator("#feature-grid")
    expect(grid).to_contain_text("cloudapi 0.1.0")
    engines = httpx.get(f"{host.url}/api/server/engines", headers=AUTH).json()
    cloudapi = next(engine for engine in engines if engine["name"] == "cloudapi")
    why = cloudapi["features"]["contacts.upsert"]["reason"]
    row = grid.locator("tbody tr", has=page.get_by_role("rowheader", name="contacts.upsert"))
    expect(row.locator(f'[title="{why}"]')).to_have_count(1)
    expect(row).to_contain_text(f"not supported: {why}")
    page.get_by_text("What cloudapi 0.1.0 cannot do, and why").click()
    expect(page.locator("details[open]")).to_contain_text(f"contacts.upsert: {why}")
    shot(page, "engines")
    page.get_by_role("button", name="Reload engines").click()
    expect(page.locator("#reload-result")).to_contain_text("Reloaded: nothing changed.")

    # A library built for another ABI, dropped in: rejected, with why.
    build = Path(os.environ["WHARF_BUILD_DIR"])
    incompatible = "libwharf_test_incompatible.so"
    shutil.copy(build / incompatible, host.root / "engines" / incompatible)
    try:
        page.get_by_role("button", name="Reload engines").click()
        result = page.locator("#reload-result")
        expect(result).to_contain_text("Rejected: ")
        expect(result).to_contain_text(incompatible)
        expect(result).to_contain_text("incompatible engine ABI")
        library = page.locator("tr", has_text=incompatible)
        expect(library).to_contain_text("rejected")
        expect(library).to_contain_text("incompatible engine ABI")
        shot(page, "engines-rejected")
    finally:
        (host.root / "engines" / incompatible).unlink()


def test_a_session_is_paired_by_qr_and_code_and_the_page_moves_on(page, host):
    sign_in(page, host)
    page.get_by_label("Name", exact=True).fill("paired")
    page.get_by_label("Engine").select_option(label="counting 0.1.0")
    page.get_by_label("Config (JSON, optional)").fill('{"pairing": true}')
    page.get_by_role("button", name="Create and start").click()
    row = page.locator("tr[data-session=paired]")
    expect(row).to_contain_text("SCAN_QR_CODE")
    row.get_by_role("link", name="Pair paired").click()
    qr = page.get_by_role("img", name="QR code to pair paired: scan it with WhatsApp on the phone")
    expect(qr).to_be_visible()
    # A PNG the browser decoded, not a broken image. (The page's policy
    # forbids eval, so wait_for_function cannot ask.)
    deadline = time.monotonic() + 10
    while qr.evaluate("image => image.naturalWidth") == 0:
        assert time.monotonic() < deadline, "the QR image did not decode"
        time.sleep(0.05)
    shot(page, "pairing")
    page.get_by_label("Phone number, with country code").fill("14155550123")
    page.get_by_role("button", name="Get a pairing code").click()
    expect(page.get_by_role("heading", name="Sessions")).to_be_visible()
    expect(page.get_by_text("paired is paired and WORKING.")).to_be_visible()
    expect(page.locator("tr[data-session=paired]")).to_contain_text("WORKING")


def test_destructive_actions_ask_first(page, host):
    sign_in(page, host)
    page.get_by_label("Name", exact=True).fill("doomed")
    page.get_by_label("Engine").select_option(label="sandbox 0.1.0")
    page.get_by_role("button", name="Create and start").click()
    row = page.locator("tr[data-session=doomed]")
    expect(row).to_contain_text("WORKING")
    # A stopped session stays, to be started again.
    row.get_by_role("button", name="Stop doomed").click()
    expect(row).to_contain_text("STOPPED")
    row.get_by_role("button", name="Start doomed", exact=True).click()
    expect(row).to_contain_text("WORKING")
    row.get_by_role("button", name="Delete doomed").click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_contain_text("Delete doomed and its data?")
    dialog.get_by_role("button", name="Cancel").click()
    expect(row).to_be_visible()
    row.get_by_role("button", name="Delete doomed").click()
    page.get_by_role("dialog").get_by_role("button", name="Delete").click()
    expect(row).to_have_count(0)
    gone = httpx.get(f"{host.url}/api/sessions/doomed", headers=AUTH)
    assert gone.status_code == 404


def test_the_pages_fit_a_375_pixel_screen(browser, host):
    context = browser.new_context(viewport={"width": 375, "height": 812})
    page = context.new_page()
    try:
        sign_in(page, host)
        for hash_, name in [("#/sessions", "sessions-375"), ("#/engines", "engines-375")]:
            page.goto(f"{host.url}/dashboard{hash_}")
            page.wait_for_load_state("networkidle")
            overflow = page.evaluate("document.documentElement.scrollWidth")
            shot(page, name)
            assert overflow <= 375, f"{hash_} is {overflow} px wide"
    finally:
        context.close()


def test_the_dashboard_works_from_the_keyboard(page, host):
    sign_in(page, host)
    skip = page.get_by_role("link", name="Skip to content")
    skip.focus()
    page.keyboard.press("Enter")
    expect(page.locator("main")).to_be_focused()
    skip.focus()
    page.keyboard.press("Tab")
    expect(page.get_by_role("link", name="Sessions")).to_be_focused()
    page.keyboard.press("Tab")
    expect(page.get_by_role("link", name="Engines")).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="Engines")).to_be_visible()
    expect(page.locator("main")).to_be_focused()
    assert page.evaluate("location.hash") == "#/engines"
