"""The diary on a phone (360x740): by taps, by keyboard only, without JavaScript, in
Spanish; accessible (axe-core, 0 violations) and light (page weight of /diary/)."""

import datetime as dt
import json

import pytest
from django.core.management import call_command
from django.db import connections
from django.test.testcases import LiveServerThread

from diary.entries.models import DiaryEntry
from tests.browser.checks import assert_no_axe_violations
from tests.browser.conftest import TIMEOUT_MS
from tests.factories import PASSWORD, EnrollmentFactory, EntryFactory, PatientFactory, make_arm

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PHONE = {"width": 360, "height": 740}
PAGE_WEIGHT_LIMIT = 80 * 1024


@pytest.fixture
def enrollment():
    """Study day 18, in the LDN phase (treatment questions asked), blinded to her, with
    a few days recorded and yesterday still to fill in."""
    arm = make_arm([("baseline", 14), ("ldn", 84)], blinding="single")
    patient = PatientFactory()
    enrollment = EnrollmentFactory(arm=arm, protocol=arm.protocol, patient=patient)
    today = enrollment.local_today()
    enrollment.start_date = today - dt.timedelta(days=17)
    enrollment.save()
    for back, pain in [(17, 7), (16, 6), (15, 6), (12, 5), (8, 5), (5, 4), (3, 4), (2, 3)]:
        EntryFactory(enrollment=enrollment, date=today - dt.timedelta(days=back), pain=pain)
    return enrollment


def phone_context(browser, **options):
    context = browser.new_context(
        viewport=PHONE, device_scale_factor=2, is_mobile=True, has_touch=True, **options
    )
    context.set_default_timeout(TIMEOUT_MS)
    return context


@pytest.fixture
def phone(browser):
    context = phone_context(browser)
    yield context.new_page()
    context.close()


def sign_in(page, expect, base_url, user, *, tap=True):
    page.goto(f"{base_url}/accounts/login/")
    page.fill("#id_username", user.username)
    page.fill("#id_password", PASSWORD)
    button = page.get_by_role("button", name="Sign in")
    button.tap() if tap else button.click()
    expect(page).to_have_url(f"{base_url}/diary/")


def assert_fits_the_screen(page):
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"], f"the page scrolls sideways: {width}px wide"


def test_patient_fills_and_saves_a_day_by_taps_on_a_phone(
    phone, expect, live_server, enrollment, artifacts
):
    page = phone
    sign_in(page, expect, live_server.url, enrollment.patient)
    assert_fits_the_screen(page)
    expect(page.get_by_text("Study day 18")).to_be_visible()
    expect(page.get_by_text("Treatment, day 4 of 84")).to_be_visible()
    expect(page.get_by_text("LDN")).to_have_count(0)  # blinded: no treatment names
    # The last 7 days: yesterday is missing and still open, 4 days ago is missing and
    # locked, today is not recorded yet.
    week = page.locator(".week-day")
    expect(week).to_have_count(7)
    expect(week.nth(5)).to_have_class("week-day state-open")
    expect(week.nth(2)).to_have_class("week-day state-missed")
    expect(week.nth(4)).to_have_class("week-day state-done")
    yesterday = enrollment.local_today() - dt.timedelta(days=1)
    expect(page.locator(f"a[href='/diary/{yesterday}/']").first).to_be_visible()
    expect(page.get_by_role("img", name="Your pain so far")).to_be_visible()

    # Every answer is a large target: 11 of them across a 360 px screen.
    for value in range(11):
        box = page.locator(f"label[for=id_pain_{value}]").bounding_box()
        assert box["height"] >= 44 and box["width"] >= 24, (value, box)
    yes = page.locator("label[for=id_headache_0]").bounding_box()
    assert yes["height"] >= 44 and yes["width"] >= 100

    for field, value in [
        ("pain", 4),
        ("fatigue", 6),
        ("sleep_quality", 3),
        ("vivid_dreams", 0),  # Yes
        ("headache", 1),  # No
        ("dose_taken", 0),  # Yes
    ]:
        page.locator(f"label[for=id_{field}_{value}]").tap()
    page.locator("#id_tolerability").tap()
    page.keyboard.type("85")
    expect(page.locator("#id_pain_4")).to_be_checked()
    assert_fits_the_screen(page)
    page.screenshot(path=str(artifacts / "phone-diary-360.png"), full_page=True)
    page.get_by_role("button", name="Save today's entry").tap()

    expect(page.get_by_role("status").first).to_contain_text("Your entry for today is saved")
    entry = DiaryEntry.objects.get(enrollment=enrollment, date=enrollment.local_today())
    assert (entry.pain, entry.fatigue, entry.sleep_quality) == (4, 6, 3)
    assert (entry.vivid_dreams, entry.headache, entry.dose_taken) == (True, False, True)
    assert entry.tolerability == 85
    expect(page.locator(".week-day").nth(6)).to_have_class("week-day state-done week-today")


def test_patient_fills_and_saves_a_day_by_keyboard_only(phone, expect, live_server, enrollment):
    page = phone
    page.goto(f"{live_server.url}/accounts/login/")
    # Sign in without a pointer: Tab to the username, type, Tab, type, Enter.
    for _ in range(10):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.name") == "username":
            break
    page.keyboard.type(enrollment.patient.username)
    page.keyboard.press("Tab")
    page.keyboard.type(PASSWORD)
    page.keyboard.press("Enter")
    expect(page).to_have_url(f"{live_server.url}/diary/")

    # Tab to the first question; arrows choose within a question, Tab moves on.
    for _ in range(40):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.name") == "pain":
            break
    assert page.evaluate("document.activeElement.id") == "id_pain_0"
    # The focused answer shows a visible focus ring.
    outline = page.evaluate(
        "getComputedStyle(document.querySelector('label[for=id_pain_0]')).outlineStyle"
    )
    assert outline == "solid"
    for _ in range(4):
        page.keyboard.press("ArrowRight")
    page.keyboard.press("Tab")  # fatigue
    page.keyboard.press("Space")
    for _ in range(6):
        page.keyboard.press("ArrowRight")
    page.keyboard.press("Tab")  # sleep quality
    page.keyboard.press("Space")
    page.keyboard.press("ArrowRight")
    page.keyboard.press("Tab")  # vivid dreams: Yes
    page.keyboard.press("Space")
    page.keyboard.press("Tab")  # headache: No
    page.keyboard.press("ArrowRight")
    page.keyboard.press("Tab")  # dose taken: Yes
    page.keyboard.press("Space")
    page.keyboard.press("Tab")  # tolerability
    page.keyboard.type("90")
    page.keyboard.press("Tab")  # notes
    page.keyboard.type("Slept badly.")
    page.keyboard.press("Tab")  # save
    assert page.evaluate("document.activeElement.value") == "Save today's entry"
    page.keyboard.press("Enter")

    expect(page.get_by_role("status").first).to_contain_text("Your entry for today is saved")
    entry = DiaryEntry.objects.get(enrollment=enrollment, date=enrollment.local_today())
    assert (entry.pain, entry.fatigue, entry.sleep_quality) == (4, 6, 1)
    assert (entry.vivid_dreams, entry.headache, entry.dose_taken) == (True, False, True)
    assert (entry.tolerability, entry.notes) == (90, "Slept badly.")


def test_the_diary_works_with_javascript_off(browser, expect, live_server, enrollment):
    context = phone_context(browser, java_script_enabled=False)
    page = context.new_page()
    sign_in(page, expect, live_server.url, enrollment.patient)
    for field, value in [
        ("pain", 2),
        ("fatigue", 2),
        ("sleep_quality", 8),
        ("vivid_dreams", 1),
        ("headache", 1),
        ("dose_taken", 0),
    ]:
        page.locator(f"label[for=id_{field}_{value}]").tap()
    page.fill("#id_tolerability", "100")
    page.get_by_role("button", name="Save today's entry").tap()
    expect(page.get_by_role("status").first).to_contain_text("saved")
    assert DiaryEntry.objects.get(enrollment=enrollment, date=enrollment.local_today()).pain == 2
    context.close()


def test_patient_pages_have_no_accessibility_violations(
    phone, expect, live_server, enrollment, artifacts
):
    page = phone
    page.goto(f"{live_server.url}/accounts/login/")
    assert_no_axe_violations(page, "sign-in")
    sign_in(page, expect, live_server.url, enrollment.patient)
    assert_no_axe_violations(page, "diary")

    # A day with validation errors: the errors are announced and tied to the questions.
    page.locator("label[for=id_fatigue_5]").tap()
    page.get_by_role("button", name="Save today's entry").tap()
    expect(page.get_by_role("alert")).to_contain_text("Nothing was saved")
    fieldset = page.locator("#div_id_pain fieldset")
    expect(fieldset).to_have_attribute("aria-describedby", "id_pain_helptext id_pain_error")
    expect(page.locator("#id_pain_error")).to_have_text("Choose your pain score from 0 to 10.")
    assert_fits_the_screen(page)
    assert_no_axe_violations(page, "diary with validation errors")

    page.goto(f"{live_server.url}/diary/history/")
    assert_fits_the_screen(page)
    assert_no_axe_violations(page, "history")
    page.goto(f"{live_server.url}/diary/settings/")
    assert_no_axe_violations(page, "settings")

    # The Spanish diary, through the switch at the foot of the page.
    page.goto(f"{live_server.url}/diary/")
    page.get_by_role("button", name="Español").tap()
    expect(page.locator("html")).to_have_attribute("lang", "es")
    expect(page.get_by_role("button", name="Guardar el registro de hoy")).to_be_visible()
    assert_fits_the_screen(page)
    assert_no_axe_violations(page, "Spanish diary")
    page.screenshot(path=str(artifacts / "phone-diary-360-es.png"), full_page=True)


def test_the_manifest_makes_the_diary_installable(phone, live_server, enrollment):
    response = phone.goto(f"{live_server.url}/manifest.webmanifest")
    manifest = json.loads(response.text())
    assert manifest["start_url"] == "/diary/"
    assert manifest["display"] == "standalone"
    sizes = {icon["sizes"] for icon in manifest["icons"]}
    assert {"192x192", "512x512"} <= sizes
    assert any(icon.get("purpose") == "maskable" for icon in manifest["icons"])
    for icon in manifest["icons"]:
        assert phone.goto(f"{live_server.url}{icon['src']}").status == 200


# Page weight, as a phone downloads it from a production server -----------------------


@pytest.fixture
def production_server(settings, tmp_path):
    """A live server that serves static files the way production does: collected,
    hashed and compressed, by WhiteNoise (the test live server would send them raw)."""
    settings.STATIC_ROOT = tmp_path / "static"
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
    }
    settings.WHITENOISE_USE_FINDERS = False
    settings.WHITENOISE_AUTOREFRESH = False
    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "localhost"]
    call_command("collectstatic", "--noinput", verbosity=0)
    shared = {
        conn.alias: conn
        for conn in connections.all()
        if conn.vendor == "sqlite" and conn.is_in_memory_db()
    }
    for conn in shared.values():
        conn.inc_thread_sharing()
    thread = LiveServerThread(
        "localhost", static_handler=lambda app: app, connections_override=shared, port=0
    )
    thread.daemon = True
    thread.start()
    thread.is_ready.wait()
    if thread.error:
        raise thread.error
    yield f"http://localhost:{thread.port}"
    thread.terminate()
    for conn in shared.values():
        conn.dec_thread_sharing()


def test_the_diary_page_weighs_under_80_kb_on_a_phone(
    browser, expect, production_server, enrollment
):
    context = phone_context(browser)
    page = context.new_page()
    sign_in(page, expect, production_server, enrollment.patient)
    # Count every byte that crosses the network for a fresh load of /diary/ (empty cache),
    # headers included, as Chromium's DevTools "transferred" does.
    cdp = context.new_cdp_session(page)
    cdp.send("Network.enable")
    cdp.send("Network.setCacheDisabled", {"cacheDisabled": True})
    transferred, urls = {}, {}
    cdp.on(
        "Network.responseReceived", lambda e: urls.__setitem__(e["requestId"], e["response"]["url"])
    )
    cdp.on(
        "Network.loadingFinished",
        lambda e: transferred.__setitem__(e["requestId"], e["encodedDataLength"]),
    )
    page.goto(f"{production_server}/diary/", wait_until="networkidle")
    expect(page.get_by_role("button", name="Save today's entry")).to_be_visible()
    total = sum(transferred.values())
    by_url = {urls.get(key, key): size for key, size in transferred.items()}
    report = "\n".join(f"{size:>8} {url}" for url, size in sorted(by_url.items()))
    print(f"\n/diary/ page weight: {total} bytes transferred\n{report}")
    assert all(url.startswith(production_server) for url in by_url), "third-party request"
    assert any("bootstrap" in url for url in by_url), "the stylesheet was not counted"
    assert total < PAGE_WEIGHT_LIMIT, report
    context.close()
