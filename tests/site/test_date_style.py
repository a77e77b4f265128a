"""One date style on every staff page and in the admin (config/formats/en: DATE_FORMAT
"Y-m-d", DATETIME_FORMAT "Y-m-d H:i"); the patient's pages keep her language's words."""

import datetime as dt
import re
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from django.urls import reverse

from diary.figures.models import Alert
from tests.factories import CoordinatorFactory, EnrollmentFactory, EntryFactory, make_arm

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("frozen_clock")]

LA = ZoneInfo("America/Los_Angeles")
NOW = dt.datetime(2026, 11, 25, 14, 5, tzinfo=LA)
TODAY = dt.date(2026, 11, 25)
TEMPLATES = Path(__file__).resolve().parents[2] / "templates"
MONTHS = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
    "Jan.",
    "Feb.",
    "Aug.",
    "Sept.",
    "Oct.",
    "Nov.",
    "Dec.",
]
OTHER_STYLES = re.compile(
    r"\b(" + "|".join(re.escape(m) for m in MONTHS) + r")(?!\w)|\d{1,2}/\d{1,2}/\d{2,4}|[ap]\.m\."
)


@pytest.fixture
def enrollment():
    arm = make_arm([("baseline", 14), ("ldn", 28)])
    enrollment = EnrollmentFactory(
        arm=arm, protocol=arm.protocol, start_date=TODAY - dt.timedelta(days=20)
    )
    for back in range(1, 8):
        EntryFactory(enrollment=enrollment, date=TODAY - dt.timedelta(days=back), pain=4)
    Alert.objects.create(enrollment=enrollment, kind="missed_days", raised_on=TODAY)
    return enrollment


def text_of(response) -> str:
    assert response.status_code == 200
    html = response.content.decode()
    html = re.sub(r"<(script|style)\b.*?</\1>", " ", html, flags=re.S)
    return re.sub(r"<[^>]+>", " ", html)


@pytest.mark.parametrize(
    "name, query",
    [
        ("diary:physician_home", ""),
        ("diary:patient_detail", ""),
        ("diary:calendar", ""),
        ("diary:alerts", ""),
        ("diary:cohort", ""),
        ("admin:diary_diaryentry_changelist", ""),
        ("admin:diary_diaryentry_changelist", "?date__year=2026"),
        ("admin:diary_diaryentry_changelist", "?date__year=2026&date__month=11"),
    ],
)
def test_staff_pages_and_the_admin_show_one_date_style(client, enrollment, name, query):
    client.force_login(CoordinatorFactory())
    args = [enrollment.study_id] if name == "diary:patient_detail" else []
    text = text_of(client.get(reverse(name, args=args) + query))
    assert not OTHER_STYLES.findall(text), OTHER_STYLES.findall(text)
    assert re.search(r"\b2026-11-\d\d\b", text)


def test_a_date_and_time_is_in_datetime_format(client, enrollment):
    client.force_login(CoordinatorFactory())
    alerts = text_of(client.get(reverse("diary:alerts")))
    assert "2026-11-25 14:05" in alerts  # DATETIME_FORMAT, in the site's time zone


@pytest.mark.parametrize(
    "language, day", [("en", "Tuesday 24 November 2026"), ("es", "martes 24 de noviembre")]
)
def test_the_patient_pages_keep_her_languages_words(client, enrollment, language, day):
    enrollment.patient.language = language
    enrollment.patient.save()
    client.force_login(enrollment.patient)
    text = text_of(client.get(reverse("diary:day", args=[TODAY - dt.timedelta(days=1)])))
    assert day in text
    assert "2026-11-24" not in text


def test_no_template_writes_a_literal_date_format():
    literal = re.compile(r"""\|\s*date\s*:\s*["'][^"']*[Ymdy]-[^"']*["']""")
    found = [
        f"{path.relative_to(TEMPLATES)}: {match.group()}"
        for path in TEMPLATES.rglob("*")
        if path.is_file()
        for match in literal.finditer(path.read_text())
    ]
    assert not found, found
