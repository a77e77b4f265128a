"""The rules of a clinic visit (diary.visits.rules) at every door: dates, one visit per
date, ranges, reasons, voiding; the admin and the model."""

import datetime as dt
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError

from diary.trial.models import EnrollmentStatus
from diary.visits import rules
from diary.visits.measures import BY_NAME
from diary.visits.models import Visit
from tests.factories import CoordinatorFactory, EnrollmentFactory, VisitFactory

pytestmark = pytest.mark.django_db


def values(day, **measures):
    return {
        "visit_date": day,
        "esr": None,
        "pressure_threshold": None,
        "heat_threshold": None,
        "notes": "",
        **measures,
    }


def test_a_visit_is_saved_with_its_history_and_reason():
    enrollment = EnrollmentFactory()
    coordinator = CoordinatorFactory()
    visit = rules.save_visit(
        enrollment, values(enrollment.start_date, esr=31), by=coordinator, reason="Clinic"
    )
    record = visit.history.get()
    assert (record.history_user, record.history_change_reason, record.esr) == (
        coordinator,
        "Clinic",
        31,
    )
    corrected = rules.save_visit(
        enrollment, {"esr": 30}, by=coordinator, reason="Lab sheet re-read", visit=visit
    )
    assert corrected.esr == 30
    assert visit.history.count() == 2


def test_a_correction_needs_a_reason():
    visit = VisitFactory()
    with pytest.raises(ValidationError, match="reason"):
        rules.save_visit(visit.enrollment, {"esr": 3}, by=None, reason=" ", visit=visit)
    visit.refresh_from_db()
    assert visit.esr == 20


@pytest.mark.parametrize(
    "offset, words",
    [(-29, "more than 28 days before"), (1, "in the future"), (200, "after the end")],
)
def test_dates_outside_the_span_are_refused(offset, words):
    enrollment = EnrollmentFactory()
    today = enrollment.local_today()
    day = (
        today + dt.timedelta(days=offset)
        if offset > 0
        else enrollment.start_date + dt.timedelta(days=offset)
    )
    if offset == 200:
        enrollment.start_date = today - dt.timedelta(days=400)
        enrollment.save()
        day = enrollment.end_date + dt.timedelta(days=1)
    problems = rules.date_problems(enrollment, day)
    assert problems and words in problems[0] and "visit_date" in problems[0]
    with pytest.raises(ValidationError):
        rules.save_visit(enrollment, values(day), by=None, reason="x")
    assert not Visit.objects.exists()


def test_28_days_before_the_start_is_allowed():
    enrollment = EnrollmentFactory()
    assert rules.date_problems(enrollment, enrollment.start_date - dt.timedelta(days=28)) == []


def test_after_withdrawal_is_refused():
    enrollment = EnrollmentFactory()
    enrollment.status = EnrollmentStatus.WITHDRAWN
    enrollment.withdrawn_on = enrollment.start_date + dt.timedelta(days=3)
    enrollment.save()
    problems = rules.date_problems(enrollment, enrollment.start_date + dt.timedelta(days=4))
    assert "after" in problems[0] and "withdrawal" in problems[0]


def test_a_second_visit_on_the_same_date_is_refused_until_the_first_is_voided():
    visit = VisitFactory()
    with pytest.raises(ValidationError, match="already has a visit"):
        rules.save_visit(visit.enrollment, values(visit.visit_date), by=None, reason="x")
    rules.void_visit(visit, by=None, reason="Wrong patient")
    again = rules.save_visit(visit.enrollment, values(visit.visit_date, esr=5), by=None, reason="x")
    assert again.pk != visit.pk
    visit.refresh_from_db()
    assert visit.voided and visit.void_reason == "Wrong patient"


def test_voiding_needs_a_reason_and_a_voided_visit_is_not_corrected():
    visit = VisitFactory()
    with pytest.raises(ValidationError):
        rules.void_visit(visit, by=None, reason="")
    rules.void_visit(visit, by=None, reason="Duplicate")
    visit.refresh_from_db()
    with pytest.raises(ValidationError, match="voided"):
        rules.save_visit(visit.enrollment, {"esr": 1}, by=None, reason="x", visit=visit)


@pytest.mark.parametrize(
    "name, cell, words",
    [
        ("esr", "151", "out of range"),
        ("esr", "12.5", "too many decimals"),
        ("esr", "abc", "is not a number"),
        ("pressure_threshold", "15.1", "out of range"),
        ("pressure_threshold", "3.25", "too many decimals"),
        ("heat_threshold", "29.9", "out of range"),
        ("heat_threshold", "４４", "is not a number"),
    ],
)
def test_measures_refuse_bad_cells_naming_the_measure(name, cell, words):
    with pytest.raises(ValueError) as error:
        BY_NAME[name].parse(cell)
    assert name in str(error.value) and words in str(error.value)


def test_measures_read_good_cells():
    assert BY_NAME["esr"].parse("") is None
    assert BY_NAME["esr"].parse(" 42 ") == 42
    assert BY_NAME["heat_threshold"].parse("44") == Decimal("44.0")
    assert BY_NAME["pressure_threshold"].parse("0") == Decimal("0.0")


def test_the_database_refuses_out_of_range_measures():
    from django.db import IntegrityError, transaction

    visit = VisitFactory()
    with pytest.raises(IntegrityError), transaction.atomic():
        Visit.objects.filter(pk=visit.pk).update(esr=151)
