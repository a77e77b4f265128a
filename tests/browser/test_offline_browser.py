"""The offline diary in a phone-sized Chromium: answers saved without a network wait on
the phone (through a reload and a browser restart), are sent once the network is back,
and are stored once each with the moment she answered and the moment they arrived."""

import datetime as dt
import io

import pytest
from django.core.management import call_command

from diary.entries.models import DiaryEntry
from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS, TIMEOUT_MS
from tests.factories import PASSWORD, EnrollmentFactory, PatientFactory, make_arm

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PHONE = {"width": 360, "height": 740}


@pytest.fixture
def enrollment():
    arm = make_arm([("baseline", 14), ("ldn", 84)], blinding="single")
    enrollment = EnrollmentFactory(
        arm=arm, protocol=arm.protocol, patient=PatientFactory(), timezone="America/Los_Angeles"
    )
    enrollment.start_date = enrollment.local_today() - dt.timedelta(days=3)
    enrollment.save()
    return enrollment


def phone(browser, profile):
    context = browser.browser_type.launch_persistent_context(
        str(profile),
        timezone_id="America/Los_Angeles",
        executable_path=CHROMIUM,
        headless=True,
        args=CHROMIUM_ARGS,
        viewport=PHONE,
        is_mobile=True,
        has_touch=True,
        service_workers="allow",
    )
    context.set_default_timeout(TIMEOUT_MS)
    return context


def answer(page, pain):
    for field, value in [("pain", pain), ("fatigue", 5), ("sleep_quality", 6),
                         ("vivid_dreams", 0), ("headache", 1)]:  # fmt: skip
        page.locator(f"label[for=id_{field}_{value}]").tap()
    page.locator("form.diary-form [type=submit]").first.tap()


def sign_in(context, base, enrollment):
    page = context.pages[0] if context.pages else context.new_page()
    page.goto(f"{base}/accounts/login/")
    page.fill("#id_username", enrollment.patient.username)
    page.fill("#id_password", PASSWORD)
    page.get_by_role("button", name="Sign in").tap()
    page.wait_for_url(f"{base}/diary/")
    page.evaluate("navigator.serviceWorker.ready.then(() => true)")
    page.reload()  # her pages are kept once the service worker controls them
    assert page.evaluate("!!navigator.serviceWorker.controller")
    return page


def test_answers_saved_offline_are_sent_once_when_the_network_returns(
    browser, expect, live_server, enrollment, tmp_path
):
    base = live_server.url
    today = enrollment.local_today()
    yesterday = today - dt.timedelta(days=1)
    context = phone(browser, tmp_path / "profile")
    page = sign_in(context, base, enrollment)
    page.goto(f"{base}/diary/{yesterday}/")
    page.goto(f"{base}/diary/")

    context.set_offline(True)
    answer(page, 4)
    status = page.locator("#offline-status")
    expect(status).to_contain_text("1 answer is waiting on this phone to be sent.")
    page.goto(f"{base}/diary/{yesterday}/")  # from the phone, without a network
    answer(page, 7)
    expect(status).to_contain_text("2 answers are waiting on this phone to be sent.")
    page.reload()
    expect(status).to_contain_text("2 answers are waiting")
    assert not DiaryEntry.objects.exists()
    context.close()

    # The browser closed and opened again, still without a network.
    context = phone(browser, tmp_path / "profile")
    context.set_offline(True)
    page = context.pages[0] if context.pages else context.new_page()
    page.goto(f"{base}/diary/")
    status = page.locator("#offline-status")
    expect(status).to_contain_text("2 answers are waiting")
    expect(page.locator(f'.week-day[data-day="{yesterday}"]')).to_have_class(
        "week-day state-open state-queued"
    )
    context.set_offline(False)
    expect(status).to_contain_text("Sent: your answers for")
    expect(status).not_to_contain_text("waiting")
    entries = {e.date: e for e in DiaryEntry.objects.filter(enrollment=enrollment)}
    assert sorted(entries) == [yesterday, today]
    assert (entries[yesterday].pain, entries[today].pain) == (7, 4)
    for entry in entries.values():
        assert entry.answered_at < entry.received_at and entry.source == "patient"
    out = io.StringIO()
    call_command("export_entries", stdout=out, stderr=io.StringIO())
    header, *rows = out.getvalue().splitlines()
    names = header.split(",")
    for row in rows:
        cells = dict(zip(names, row.split(","), strict=True))
        assert cells["answered_at"] and cells["received_at"]
        assert cells["answered_at"] <= cells["received_at"]  # (to the second)
    # Signing out clears her kept pages.
    page.get_by_role("button", name="Sign out").tap()
    expect(page).not_to_have_url(f"{base}/diary/")
    kept = page.evaluate(
        "caches.keys().then(names => names.filter(n => n.startsWith('diary-pages')))"
    )
    pages_left = page.evaluate(
        "Promise.all(" + str(kept).replace("'", '"') + ".map(n => caches.open(n)"
        ".then(c => c.keys()))).then(lists => lists.flat().length)"
    )
    assert pages_left == 0
    context.close()


def test_the_day_follows_the_moment_she_answered_and_a_refusal_waits_for_her(
    browser, expect, live_server, enrollment, tmp_path
):
    """Answered offline at 23:50 and sent the next day: stored for the day she answered.
    An answer kept longer than DIARY_OFFLINE_DAYS (7) is refused, and the refusal stays
    on her page until she dismisses it."""
    base = live_server.url
    today = enrollment.local_today()
    yesterday = today - dt.timedelta(days=1)
    context = phone(browser, tmp_path / "profile")
    page = sign_in(context, base, enrollment)
    page.goto(f"{base}/diary/{yesterday}/")
    context.set_offline(True)
    zone = enrollment.zoneinfo
    page.clock.set_fixed_time(dt.datetime.combine(yesterday, dt.time(23, 50), zone))
    answer(page, 3)
    status = page.locator("#offline-status")
    expect(status).to_contain_text("1 answer is waiting")
    page.clock.set_fixed_time(dt.datetime.combine(today - dt.timedelta(days=8), dt.time(12), zone))
    page.goto(f"{base}/diary/")
    answer(page, 5)
    expect(status).to_contain_text("2 answers are waiting")
    page.clock.set_fixed_time(dt.datetime.now(zone))
    context.set_offline(False)
    expect(status).to_contain_text("Sent: your answers for")
    refused = status.locator(".offline-refused")
    expect(refused).to_contain_text("more than 7 days")
    entry = DiaryEntry.objects.get(enrollment=enrollment)
    assert entry.date == yesterday and entry.pain == 3
    assert entry.answered_at == dt.datetime.combine(yesterday, dt.time(23, 50), zone)
    assert not entry.late
    page.reload()
    expect(refused).to_contain_text("more than 7 days")  # until she dismisses it
    refused.get_by_role("button", name="Dismiss").tap()
    expect(refused).to_have_count(0)
    page.reload()
    expect(status.locator(".offline-refused")).to_have_count(0)
    context.close()


def test_a_save_that_fails_on_the_way_is_kept_by_the_service_worker(
    browser, expect, live_server, enrollment, tmp_path
):
    """The page believes it is online (a captive or dropping network), so the form is
    posted; the post cannot reach the server and the service worker keeps it."""
    base = live_server.url
    context = phone(browser, tmp_path / "profile")
    page = sign_in(context, base, enrollment)
    context.set_offline(True)
    page.evaluate("Object.defineProperty(navigator, 'onLine', {get: () => true})")
    answer(page, 6)
    expect(page).to_have_url(f"{base}/diary/?kept={enrollment.local_today()}")
    expect(page.locator("#offline-status")).to_contain_text("1 answer is waiting")
    assert not DiaryEntry.objects.exists()
    context.set_offline(False)  # the page hears "online" and sends it
    expect(page.locator("#offline-status")).to_contain_text("Sent: your answers for")
    assert DiaryEntry.objects.get(enrollment=enrollment).pain == 6
    context.close()
