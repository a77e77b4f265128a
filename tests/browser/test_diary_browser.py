"""A patient signs in, records today and sees it in her history, in a real browser."""

import datetime as dt

import pytest

from diary.models import DiaryEntry
from tests.factories import PASSWORD, EnrollmentFactory, make_arm

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def enrollment():
    # Own protocol: transactional tests flush the built-in ones.
    arm = make_arm([("baseline", 14), ("ldn", 28)])
    enrollment = EnrollmentFactory(arm=arm, protocol=arm.protocol)
    enrollment.start_date = enrollment.local_today() - dt.timedelta(days=3)
    enrollment.save()
    return enrollment


def sign_in(page, live_server, user):
    page.goto(f"{live_server.url}/accounts/login/")
    page.fill("#id_username", user.username)
    page.fill("#id_password", PASSWORD)
    page.get_by_role("button", name="Sign in").click()


def test_patient_signs_in_records_today_and_sees_it_in_history(
    page, live_server, enrollment, artifacts
):
    sign_in(page, live_server, enrollment.patient)
    page.wait_for_url(f"{live_server.url}/diary/")
    assert "Study day 4" in page.content()
    assert page.get_by_text("Baseline, day 4").is_visible()

    page.click("label[for=id_pain_3]")
    page.click("label[for=id_fatigue_5]")
    page.click("label[for=id_sleep_quality_7]")
    page.click("label[for=id_vivid_dreams_1]")  # No
    page.click("label[for=id_headache_0]")  # Yes
    page.fill("#id_notes", "Long walk in the morning.")
    page.screenshot(path=str(artifacts / "diary.png"), full_page=True)
    page.get_by_role("button", name="Save today's entry").click()

    page.wait_for_url(f"{live_server.url}/diary/")
    assert page.get_by_role("status").filter(has_text="is saved").is_visible()
    assert page.locator("#id_pain_3").is_checked()

    page.get_by_role("link", name="History").click()
    first_row = page.locator("table tbody tr").first
    cells = first_row.locator("td").all_inner_texts()
    assert cells[1:4] == ["3", "5", "7"]
    assert cells[4:6] == ["No", "Yes"]

    entry = DiaryEntry.objects.get(enrollment=enrollment)
    assert (entry.date, entry.pain, entry.headache) == (enrollment.local_today(), 3, True)


def test_missing_answer_is_shown_next_to_its_question_and_nothing_is_saved(
    page, live_server, enrollment
):
    sign_in(page, live_server, enrollment.patient)
    page.wait_for_url(f"{live_server.url}/diary/")
    page.click("label[for=id_fatigue_5]")
    page.click("label[for=id_sleep_quality_7]")
    page.click("label[for=id_vivid_dreams_1]")
    page.click("label[for=id_headache_1]")
    page.get_by_role("button", name="Save today's entry").click()

    error = page.locator("#div_id_pain").get_by_text("Choose your pain score from 0 to 10.")
    assert error.is_visible()
    assert page.locator("#id_fatigue_5").is_checked()  # other answers are kept
    assert not DiaryEntry.objects.exists()
