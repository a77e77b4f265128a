"""A patient signs in, records today and sees it in her history, in a real browser."""

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone

from diary.entries.models import DiaryEntry
from tests.factories import PASSWORD, EnrollmentFactory, PatientFactory, make_arm

# live_server serves from another thread: the tests' rows must be committed.
pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

TZ = "America/Los_Angeles"


def local_today():
    return timezone.now().astimezone(ZoneInfo(TZ)).date()


@pytest.fixture
def enrollment():
    # An own protocol, not the built-in ones: transactional tests flush those away.
    arm = make_arm([("baseline", 14), ("ldn", 84)], blinding="open")
    return EnrollmentFactory(
        patient=PatientFactory(),
        arm=arm,
        protocol=arm.protocol,
        timezone=TZ,
        start_date=local_today() - dt.timedelta(days=3),  # baseline, day 4
    )


def sign_in(page, expect, live_server, user):
    page.goto(f"{live_server.url}/accounts/login/")
    page.fill("#id_username", user.username)
    page.fill("#id_password", PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(f"{live_server.url}/diary/")


def choose(page, field, value):
    """Click the label of a radio: the input itself is visually hidden (opacity 0)."""
    page.click(f"label[for=id_{field}_{value}]")


def test_patient_signs_in_records_today_and_sees_it_in_history(
    page, expect, live_server, enrollment, artifacts
):
    sign_in(page, expect, live_server, enrollment.patient)
    today = enrollment.local_today()
    assert today == local_today()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Today,")
    expect(page.get_by_text("Study day 4 · Baseline, day 4")).to_be_visible()
    # No dose questions in a baseline phase.
    expect(page.locator("[name=dose_taken]")).to_have_count(0)
    expect(page.locator("[name=tolerability]")).to_have_count(0)

    choose(page, "pain", 3)
    choose(page, "fatigue", 5)
    choose(page, "sleep_quality", 7)
    choose(page, "vivid_dreams", 1)  # No
    choose(page, "headache", 0)  # Yes
    page.fill("#id_notes", "Long walk in the morning.")
    expect(page.locator("#id_pain_3")).to_be_checked()
    expect(page.locator("#id_headache_0")).to_have_value("yes")
    page.screenshot(path=str(artifacts / "diary.png"), full_page=True)
    page.get_by_role("button", name="Save today's entry").click()

    expect(page.get_by_role("status")).to_contain_text("saved")
    expect(page).to_have_url(f"{live_server.url}/diary/")
    expect(page.locator("#id_pain_3")).to_be_checked()  # the saved answers are shown

    page.goto(f"{live_server.url}/diary/history/")
    first_row = page.locator("table tbody tr").first
    expect(first_row.locator("th")).to_have_text(f"{today:%a} {today.day} {today:%b}")
    cells = first_row.locator("td")
    expect(cells.nth(0)).to_have_text("Baseline")
    expect(cells.nth(1)).to_have_text("3")  # pain
    assert cells.all_inner_texts()[1:6] == ["3", "5", "7", "No", "Yes"]

    entries = list(DiaryEntry.objects.filter(enrollment=enrollment))
    assert len(entries) == 1
    entry = entries[0]
    assert (entry.date, entry.pain, entry.fatigue, entry.sleep_quality) == (today, 3, 5, 7)
    assert (entry.vivid_dreams, entry.headache) == (False, True)
    assert entry.notes == "Long walk in the morning."


def test_missing_answer_is_shown_next_to_its_question_and_nothing_is_saved(
    page, expect, live_server, enrollment
):
    sign_in(page, expect, live_server, enrollment.patient)
    choose(page, "fatigue", 5)
    choose(page, "sleep_quality", 7)
    choose(page, "vivid_dreams", 1)
    choose(page, "headache", 1)
    page.get_by_role("button", name="Save today's entry").click()

    expect(page.get_by_role("alert")).to_contain_text("Nothing was saved")
    error = page.locator("#div_id_pain #id_pain_error")
    expect(error).to_have_text("Choose your pain score from 0 to 10.")
    expect(error).to_be_visible()
    expect(page.locator("#id_pain_0")).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#div_id_fatigue .invalid-feedback")).to_have_count(0)
    expect(page.locator("#id_fatigue_5")).to_be_checked()  # the other answers are kept
    assert not DiaryEntry.objects.filter(enrollment=enrollment).exists()
