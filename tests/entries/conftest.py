"""The diary tests' open-label enrollment and its signed-in patient."""

import datetime as dt

import pytest

from tests.factories import EnrollmentFactory, make_arm


@pytest.fixture
def enrollment():
    """Open-label arm: baseline days 1-14, LDN 15-42, follow-up 43-56.
    Day 1 is 2026-02-20, so today (2026-03-10) is study day 19, LDN day 5."""
    arm = make_arm([("baseline", 14), ("ldn", 28), ("followup", 14)])
    return EnrollmentFactory(arm=arm, protocol=arm.protocol, start_date=dt.date(2026, 2, 20))


@pytest.fixture
def patient_client(client, enrollment):
    client.force_login(enrollment.patient)
    return client
