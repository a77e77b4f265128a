"""Two saves of the same day at the same moment leave one entry (PostgreSQL)."""

import threading

import pytest
from django.db import connection, connections

from diary.models import DiaryEntry, Enrollment
from tests.factories import EnrollmentFactory, make_arm

pytestmark = pytest.mark.django_db(transaction=True)

VALUES = {
    "pain": 4,
    "fatigue": 5,
    "sleep_quality": 6,
    "vivid_dreams": False,
    "headache": True,
    "dose_taken": None,
    "tolerability": None,
    "notes": "",
}


@pytest.mark.skipif(
    connection.vendor != "postgresql", reason="needs PostgreSQL's row locks (CI runs it)"
)
def test_concurrent_saves_of_the_same_day_create_one_entry():
    arm = make_arm([("baseline", 28)])
    enrollment = EnrollmentFactory(arm=arm, protocol=arm.protocol)
    day = enrollment.local_today()
    barrier = threading.Barrier(4)
    errors = []

    def save(pain):
        try:
            mine = Enrollment.objects.with_schedule().get(pk=enrollment.pk)
            barrier.wait()
            mine.record_patient_entry(day, {**VALUES, "pain": pain}, enrollment.patient)
        except Exception as error:  # pragma: no cover - reported below
            errors.append(error)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=save, args=(pain,)) for pain in (1, 2, 3, 4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert DiaryEntry.objects.filter(enrollment=enrollment, date=day).count() == 1
    # Every save happened whole: one creation and three corrections in the history.
    history = DiaryEntry.history.filter(enrollment_id=enrollment.pk).order_by("history_date")
    assert [h.history_type for h in history] == ["+", "~", "~", "~"]
