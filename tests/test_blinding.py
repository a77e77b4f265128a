"""DOMAIN.md blinding on every patient and physician page and in blinded downloads:
nothing rendered names the treatment or the arm until a coordinator unblinds."""

import datetime as dt
import re

import pytest

from tests.factories import CoordinatorFactory, EnrollmentFactory, EntryFactory, builtin_arm

pytestmark = pytest.mark.django_db

# Words that would name a treatment or an arm. The protocol's slug ("ldn-fm-2013") and
# DOMAIN.md's JSON key "ldn_vs_placebo" (null while blinded) name neither.
LEAKS = re.compile(r"\bLDN\b(?!-fm)|\bplacebo\b|Arm [AB]\b|naltrexone", re.IGNORECASE)


def leaks(text: str) -> list[str]:
    return sorted(set(LEAKS.findall(text)))


@pytest.fixture
def blinded():
    """Two patients of the double-blind protocol, one per arm, with entries in every
    phase so far (baseline and the first treatment period)."""
    enrollments = [
        EnrollmentFactory(arm=builtin_arm("ldn-fm-2013", code), study_id=f"FM-B{code}")
        for code in "AB"
    ]
    for enrollment in enrollments:
        today = enrollment.local_today()
        for offset in range(0, (today - enrollment.start_date).days + 1, 3):
            day = enrollment.start_date + dt.timedelta(days=offset)
            treatment = offset >= 14
            EntryFactory(
                enrollment=enrollment,
                date=day,
                dose_taken=True if treatment else None,
                tolerability=90 if treatment else None,
            )
    return enrollments


def test_patient_pages_do_not_name_the_treatment(client, blinded):
    enrollment = blinded[0]
    client.force_login(enrollment.patient)
    today = enrollment.local_today()
    for url in ["/diary/", "/diary/history/", f"/diary/{today - dt.timedelta(days=1):%Y-%m-%d}/"]:
        page = client.get(url).content.decode()
        assert leaks(page) == [], url


def test_physician_pages_do_not_name_the_treatment(client, blinded):
    client.force_login(blinded[0].physician)
    urls = ["/physician/", "/physician/cohort/", f"/physician/patients/{blinded[0].study_id}/"]
    for url in urls:
        response = client.get(url)
        assert response.status_code == 200, url
        assert leaks(response.content.decode()) == [], url


def test_blinded_downloads_do_not_name_the_treatment(client, blinded):
    client.force_login(CoordinatorFactory())
    for what in ["entries.csv", "summaries.csv", "summaries.json"]:
        response = client.get("/exports/", {"what": what, "protocol": "ldn-fm-2013"})
        assert response.status_code == 200, what
        body = b"".join(response.streaming_content) if response.streaming else response.content
        assert leaks(body.decode()) == [], what
        if what.endswith(".csv"):
            assert "placebo" not in body.decode(), what  # not even a column name


def test_unblinding_one_patient_reveals_only_her(client, blinded):
    first, second = blinded
    first.unblinded_at = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    first.unblinding_reason = "Emergency"
    first.save()
    client.force_login(first.physician)
    assert leaks(client.get(f"/physician/patients/{first.study_id}/").content.decode())
    second_page = client.get(f"/physician/patients/{second.study_id}/").content.decode()
    assert leaks(second_page) == []
