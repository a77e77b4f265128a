"""factory-boy factories: the minimum to build each object."""

import datetime as dt
from decimal import Decimal
from zoneinfo import ZoneInfo

import factory
from django.utils import timezone

from diary.entries.models import DiaryEntry, EntrySource
from diary.people.models import Role, User
from diary.trial.models import Arm, Enrollment, Phase, Protocol
from diary.visits.models import Visit, VisitSource

PASSWORD = "correct-horse-battery"


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda u: f"{u.username}@example.org")
    role = Role.PATIENT
    password = factory.PostGenerationMethodCall("set_password", PASSWORD)

    @factory.post_generation
    def _save(obj, create, extracted, **kwargs):
        if create:
            obj.save()


class PatientFactory(UserFactory):
    username = factory.Sequence(lambda n: f"patient{n}")
    role = Role.PATIENT


class PhysicianFactory(UserFactory):
    username = factory.Sequence(lambda n: f"physician{n}")
    role = Role.PHYSICIAN


class CoordinatorFactory(UserFactory):
    username = factory.Sequence(lambda n: f"coordinator{n}")
    role = Role.COORDINATOR


class ProtocolFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Protocol

    slug = factory.Sequence(lambda n: f"protocol-{n}")
    name = factory.LazyAttribute(lambda p: p.slug)
    blinding = "open"


class ArmFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Arm

    protocol = factory.SubFactory(ProtocolFactory)
    code = factory.Sequence(lambda n: f"ARM{n}")


class PhaseFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Phase

    arm = factory.SubFactory(ArmFactory)
    order = factory.Sequence(lambda n: n + 1)
    kind = "baseline"
    days = 14


def make_arm(phases, blinding="open", code="A", protocol=None):
    """An arm with phases given as [(kind, days), ...], on a new protocol unless given."""
    protocol = protocol or ProtocolFactory(blinding=blinding)
    arm = ArmFactory(protocol=protocol, code=code)
    for order, (kind, days) in enumerate(phases, start=1):
        PhaseFactory(arm=arm, order=order, kind=kind, days=days)
    return arm


def builtin_arm(slug="ldn-fm-2013", code="A"):
    return Arm.objects.get(protocol__slug=slug, code=code)


class EnrollmentFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Enrollment

    study_id = factory.Sequence(lambda n: f"FM-{n:03d}")
    patient = factory.SubFactory(PatientFactory)
    physician = factory.SubFactory(PhysicianFactory)
    arm = factory.LazyFunction(builtin_arm)
    protocol = factory.LazyAttribute(lambda e: e.arm.protocol)
    timezone = "America/Los_Angeles"
    status = "active"
    # Started 20 days ago in the patient's time zone: day 15 to 20 are LDN (arm A).
    start_date = factory.LazyAttribute(
        lambda e: timezone.now().astimezone(ZoneInfo(e.timezone)).date() - dt.timedelta(days=20)
    )


class EntryFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = DiaryEntry

    enrollment = factory.SubFactory(EnrollmentFactory)
    date = factory.LazyAttribute(lambda e: e.enrollment.start_date)
    pain = 5
    fatigue = 5
    sleep_quality = 5
    vivid_dreams = False
    headache = False
    source = EntrySource.PATIENT


class VisitFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Visit

    enrollment = factory.SubFactory(EnrollmentFactory)
    visit_date = factory.LazyAttribute(lambda v: v.enrollment.start_date)
    esr = 20
    pressure_threshold = Decimal("3.5")
    heat_threshold = Decimal("44.0")
    source = VisitSource.STAFF
