"""Demo accounts and a realistic diary history, for local use only.

Idempotent: running it twice creates nothing twice. Refuses to run with DEBUG off
unless told --force, so it never plants known passwords in a production database.
"""

from __future__ import annotations

import datetime as dt
import random
from base64 import b32decode
from decimal import Decimal

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.utils import timezone
from django_otp.plugins.otp_totp.models import TOTPDevice
from simple_history.utils import bulk_create_with_history

from diary.entries.models import DiaryEntry, EntrySource
from diary.figures import alerts
from diary.figures.models import Alert
from diary.people.models import Role, User
from diary.queries import rules as query_rules
from diary.queries.models import DataQuery
from diary.signoff import locking, signing
from diary.signoff.models import PhaseSignature
from diary.signoff.phases import review_phases
from diary.trial import blinding
from diary.trial.models import Enrollment, Protocol
from diary.trial.travel import change_zone
from diary.visits.models import Visit, VisitSource

PASSWORD = "ldn-demo-2026"
# The demo staff accounts' second factor (RFC 6238 defaults: SHA-1, 6 digits, 30 s). Add
# it to an authenticator app, or get the current code with `manage.py demo_totp`.
DEMO_TOTP_SECRET = "JBSWY3DPEHPK3PXP"
# username, role, rights. The coordinator is blinded like the physicians; only the
# statistician has allocation access; the superuser manages accounts (and is blinded).
DEMO_ACCOUNTS = [
    ("admin", Role.COORDINATOR, {"is_superuser": True}),
    ("coordinator", Role.COORDINATOR, {"first_name": "Casey", "last_name": "Morgan"}),
    (
        "statistician",
        Role.COORDINATOR,
        {"allocation_access": True, "first_name": "Sam", "last_name": "Patel"},
    ),
    # Physicians sign phase reviews under their full names.
    ("physician1", Role.PHYSICIAN, {"first_name": "Ana", "last_name": "Reyes"}),
    ("physician2", Role.PHYSICIAN, {"first_name": "Lena", "last_name": "Park"}),
    *((f"patient{n}", Role.PATIENT, {}) for n in range(1, 10)),
]
SPANISH_SPEAKING = {"patient2": "es"}

# study_id, patient, physician, protocol, arm, days since start (day 1 = 0),
# status, withdrawn after N days, time zone
DEMO_ENROLLMENTS = [
    (
        "DEMO-001",
        "patient1",
        "physician1",
        "ldn-fm-2013",
        "A",
        40,
        "active",
        None,
        "America/Los_Angeles",
    ),
    (
        "DEMO-002",
        "patient2",
        "physician2",
        "ldn-fm-2013",
        "B",
        20,
        "active",
        None,
        "America/New_York",
    ),
    (
        "DEMO-003",
        "patient3",
        "physician1",
        "ldn-fm-2009",
        "P",
        60,
        "active",
        None,
        "America/Chicago",
    ),
    (
        "DEMO-004",
        "patient4",
        "physician2",
        "ldn-fm-2013",
        "B",
        170,
        "completed",
        None,
        "America/Los_Angeles",
    ),
    (
        "DEMO-005",
        "patient5",
        "physician1",
        "ldn-fm-2013",
        "A",
        50,
        "withdrawn",
        33,
        "Europe/Madrid",
    ),
    ("DEMO-006", "patient6", "physician2", "ldn-fm-2009", "P", 5, "active", None, "America/Denver"),
    # The pilot's finished patients: with DEMO-003 they put points on the cohort page's
    # baseline ESR against pain reduction on LDN.
    (
        "DEMO-007",
        "patient7",
        "physician1",
        "ldn-fm-2009",
        "P",
        112,
        "completed",
        None,
        "America/Los_Angeles",
    ),
    (
        "DEMO-008",
        "patient8",
        "physician2",
        "ldn-fm-2009",
        "P",
        126,
        "completed",
        None,
        "America/Los_Angeles",
    ),
    (
        "DEMO-009",
        "patient9",
        "physician1",
        "ldn-fm-2009",
        "P",
        140,
        "completed",
        None,
        "America/Chicago",
    ),
]

# What the sign-off demo shows (seed_signoff), in the printed list of logins.
SIGNOFF_NOTES = {
    "DEMO-001": ", baseline signed, a question waiting 9 days",
    "DEMO-002": ", a question to answer",
    "DEMO-004": ", every phase signed, locked for analysis",
    "DEMO-007": ", one phase changed after signing: sign again",
}

# A patient who travelled: her diary follows this zone since a change made N days ago.
TRAVELS = {"DEMO-002": ("Europe/Madrid", 6)}

# Patients who have not written for a few days before today.
STOPPED_WRITING = {"DEMO-003": 3}

# Typical daily pain level by phase kind (0-10): LDN lowers pain more than placebo.
PAIN_LEVEL = {"baseline": 6.5, "placebo": 6.0, "ldn": 4.5, "washout": 5.8, "followup": 5.5}
# On LDN, pain falls more the higher her ESR (the pilot's finding): by this much per
# mm/h above LDN_ESR_PIVOT, around PAIN_LEVEL["ldn"].
LDN_EFFECT_PER_ESR = 0.06
LDN_ESR_PIVOT = 20
# Her screening visit, this many days before day 1.
SCREENING_DAYS_BEFORE = 7
# Pain thresholds rise on LDN by about this much (kg/cm2, degrees C).
THRESHOLD_GAIN_ON_LDN = {"pressure_threshold": 0.5, "heat_threshold": 1.0}


def tenths(value: float) -> Decimal:
    return Decimal(f"{value:.1f}")


class Command(BaseCommand):
    help = "Create the demo accounts and diary history (local use only)."

    def add_arguments(self, parser):
        parser.add_argument(
            "--force", action="store_true", help="Run even with DEBUG off (never in production)."
        )

    def handle(self, *args, force: bool = False, **options):
        if not settings.DEBUG and not force:
            raise CommandError(
                "seed_demo creates accounts with a published password; it runs only with "
                "DEBUG on. Use --force if you really mean it (never in production)."
            )
        with transaction.atomic():
            created = self.seed()
        # The physicians' alert lists start filled; the job worker sends the e-mails.
        result = alerts.RunResult()
        alerts.refresh(timezone.now(), result)
        open_alerts = Alert.objects.open().count()
        self.stdout.write(f"Demo data ready ({created} new records, {open_alerts} open alerts).")
        self.stdout.write(f"Demo logins (local use only), password for all: {PASSWORD}")
        self.stdout.write("  coordinator  study coordinator (blinded), admin at /admin/")
        self.stdout.write(
            "  statistician coordinator with allocation access (unblinded: arms, seeds, "
            "unblinding, unblinded files)"
        )
        self.stdout.write("  admin        superuser (blinded): grants allocation access")
        self.stdout.write(
            f"  Staff sign in with a second factor: TOTP secret {DEMO_TOTP_SECRET} (any "
            "authenticator app), or get the current 6-digit code with:"
        )
        self.stdout.write("      .venv/bin/python manage.py demo_totp")
        for physician in ("physician1", "physician2"):
            ids = ", ".join(row[0] for row in DEMO_ENROLLMENTS if row[2] == physician)
            self.stdout.write(f"  {physician}   physician of {ids}")
        for row in DEMO_ENROLLMENTS:
            note = row[6] + (", can record today" if row[6] == "active" else "")
            if row[1] in SPANISH_SPEAKING:
                note += ", e-mails in Spanish"
            note += SIGNOFF_NOTES.get(row[0], "")
            self.stdout.write(f"  {row[1]}     {row[0]} ({row[3]}, {note})")

    def seed(self) -> int:
        created = 0
        users = {}
        for username, role, rights in DEMO_ACCOUNTS:
            user, new = User.objects.get_or_create(
                username=username,
                defaults={"role": role, "email": f"{username}@example.org", **rights},
            )
            if new:
                user.set_password(PASSWORD)
                # A Spanish-speaking patient: her reminder e-mails are in Spanish.
                user.language = SPANISH_SPEAKING.get(username, "")
                user._change_reason = "Demo data"
                user.save()
                created += 1
            if role != Role.PATIENT and not TOTPDevice.objects.filter(user=user).exists():
                TOTPDevice.objects.create(
                    user=user,
                    name="Demo authenticator",
                    key=b32decode(DEMO_TOTP_SECRET).hex(),
                    confirmed=True,
                )
            users[username] = user

        for (
            study_id,
            patient,
            physician,
            slug,
            arm_code,
            days_ago,
            status,
            withdrawn_after,
            tz,
        ) in DEMO_ENROLLMENTS:
            if Enrollment.objects.filter(study_id=study_id).exists():
                continue
            protocol = Protocol.objects.get(slug=slug)
            enrollment = Enrollment(
                study_id=study_id,
                patient=users[patient],
                physician=users[physician],
                protocol=protocol,
                arm=protocol.arms.get(code=arm_code),
                status=status,
                timezone=tz,
            )
            today = enrollment.local_today()
            enrollment.start_date = today - dt.timedelta(days=days_ago)
            if withdrawn_after is not None:
                enrollment.withdrawn_on = enrollment.start_date + dt.timedelta(days=withdrawn_after)
                enrollment.withdrawal_reason = "Moved away from the study site."
            enrollment._change_reason = "Demo data"
            enrollment.save()
            created += 1
            esr = random.Random(f"{study_id} esr").randint(6, 48)
            created += self.seed_entries(enrollment, today, study_id, esr)
            created += self.seed_visits(enrollment, today, study_id, esr)
            if study_id in TRAVELS:
                zone, days_before = TRAVELS[study_id]
                change_zone(
                    enrollment,
                    zone,
                    by=users[patient],
                    reason="Demo data: she travels",
                    now=timezone.now() - dt.timedelta(days=days_before),
                )
        created += self.seed_signoff(users)
        return created

    def seed_signoff(self, users: dict) -> int:
        """Sign-off to look at: DEMO-004 reviewed, every phase approved by her physician
        and locked for analysis; DEMO-007 signed, then a coordinator's correction that
        invalidated one signature (sign again); DEMO-001's baseline signed and a query
        waiting 9 days (query_waiting); a question for DEMO-002 (in Spanish) to answer;
        a visit query of DEMO-003, answered and closed."""
        if PhaseSignature.objects.exists() or DataQuery.objects.exists():
            return 0
        created = 0
        coordinator = users["coordinator"]
        by_id = {e.study_id: e for e in Enrollment.objects.with_schedule()}

        def sign_ended(enrollment, meaning, only_first=False):
            physician = enrollment.physician
            schedule = blinding.schedule_for(enrollment, physician)
            phases = [p for p in review_phases(enrollment, schedule, enrollment.local_today())]
            count = 0
            for phase in phases[:1] if only_first else phases:
                if phase.signable:
                    signing.record_signature(enrollment, physician, phase, meaning)
                    count += 1
            return count

        def ask(enrollment, by, days_ago, **where):
            query = query_rules.raise_query(enrollment, by, **where)
            # Raised earlier (the demo's past); no e-mail goes out for it.
            at = timezone.now() - dt.timedelta(days=days_ago)
            DataQuery.objects.filter(pk=query.pk).update(raised_at=at, emailed_at=at)
            query.refresh_from_db()
            return query

        created += sign_ended(by_id["DEMO-004"], "approved")
        locking.lock_enrollment(by_id["DEMO-004"], coordinator)
        seven = by_id["DEMO-007"]
        created += sign_ended(seven, "reviewed")
        entry = seven.entries.order_by("date")[20]
        entry.fatigue = min(10, entry.fatigue + 1)
        entry._history_user = coordinator
        entry._change_reason = "Demo data: the paper back-up of that day says one point more"
        entry.save()
        one = by_id["DEMO-001"]
        created += sign_ended(one, "reviewed", only_first=True)
        day = one.local_today() - dt.timedelta(days=12)
        ask(
            one,
            one.physician,
            9,
            date=day,
            text="Your notes on this day mention a fall. Could you tell us a little more?",
        )
        two = by_id["DEMO-002"]
        ask(
            two,
            coordinator,
            2,
            date=two.local_today() - dt.timedelta(days=4),
            text="This day has no entry. Could you tell us how your pain was that day, if you "
            "remember?",
        )
        three = by_id["DEMO-003"]
        visit = three.visits.filter(voided=False).order_by("visit_date").first()
        query = ask(
            three,
            coordinator,
            20,
            visit=visit,
            text="Is this ESR the lab's final value?",
        )
        query_rules.answer_query(query, coordinator, "Yes: the lab confirmed it by phone.")
        query_rules.close_query(query, three.physician, "Confirmed by the lab.")
        return created + 3

    def seed_visits(self, enrollment: Enrollment, today: dt.date, seed: str, esr: int) -> int:
        """A screening visit a week before day 1 and a visit on the last day of each
        phase she has finished (or on her withdrawal): ESR, pressure and heat pain
        thresholds, the thresholds a little higher after LDN; now and then a measure
        not done. One visit of DEMO-003 was entered twice: the copy is voided."""
        rng = random.Random(f"{seed} visits")
        pressure, heat = rng.uniform(2.2, 3.8), rng.uniform(41.5, 44.5)
        last = min(enrollment.last_data_day(), today - dt.timedelta(days=1))
        days = [(enrollment.start_date - dt.timedelta(days=SCREENING_DAYS_BEFORE), "baseline")]
        days += [(span.end, span.kind) for span in enrollment.schedule if span.end <= last]
        if enrollment.withdrawn_on and enrollment.withdrawn_on <= last:
            days.append((enrollment.withdrawn_on, enrollment.schedule.span_on(last).kind))
        visits = []
        for day, kind in dict(days).items():
            on_ldn = kind == "ldn"
            gain = THRESHOLD_GAIN_ON_LDN if on_ldn else dict.fromkeys(THRESHOLD_GAIN_ON_LDN, 0)
            visits.append(
                Visit(
                    enrollment=enrollment,
                    visit_date=day,
                    esr=max(0, min(150, esr + rng.randint(-3, 3))),
                    pressure_threshold=round(
                        pressure + gain["pressure_threshold"] + rng.gauss(0, 0.2), 1
                    ),
                    heat_threshold=(
                        None
                        if rng.random() < 0.15
                        else tenths(heat + gain["heat_threshold"] + rng.gauss(0, 0.4))
                    ),
                    source=VisitSource.STAFF,
                )
            )
        if enrollment.study_id == "DEMO-003" and visits:
            first = visits[0]
            visits.append(
                Visit(
                    enrollment=enrollment,
                    visit_date=first.visit_date,
                    esr=first.esr + 10,
                    pressure_threshold=first.pressure_threshold,
                    heat_threshold=first.heat_threshold,
                    source=VisitSource.STAFF,
                    voided=True,
                    void_reason="Entered twice; the other record is the lab's.",
                )
            )
        for visit in visits:
            if visit.heat_threshold is None and not visit.voided:
                visit.notes = "Heat threshold not done: the thermode was out of service."
        bulk_create_with_history(visits, Visit, default_change_reason="Demo data")
        return len(visits)

    def seed_entries(self, enrollment: Enrollment, today: dt.date, seed: str, esr: int) -> int:
        """Entries up to yesterday (today is left for the patient), about 1 day in 8
        missed, a few entered late; one patient stopped writing 3 days ago (her
        physician gets a missed_days alert)."""
        rng = random.Random(seed)
        now = timezone.now()
        stopped = STOPPED_WRITING.get(enrollment.study_id, 0)
        last = min(enrollment.last_data_day(), today - dt.timedelta(days=1 + stopped))
        entries = []
        for span in enrollment.schedule:
            for day in span.dates(until=last):
                if rng.random() < 0.12:
                    continue
                level = PAIN_LEVEL[span.kind] + rng.gauss(0, 1.0)
                if span.kind == "ldn":
                    level -= LDN_EFFECT_PER_ESR * (esr - LDN_ESR_PIVOT)
                pain = max(0, min(10, round(level)))
                on_ldn = span.kind == "ldn"
                late = rng.random() < 0.05
                # Answered in her evening (the next morning when late); about 1 in 30
                # answered offline and received hours later, as a phone without a
                # network sends it.
                answered = dt.datetime.combine(
                    day + dt.timedelta(days=1 if late else 0),
                    dt.time(8 if late else 20, rng.randrange(60)),
                    enrollment.zoneinfo,
                )
                offline = rng.random() < 1 / 30
                received = answered + dt.timedelta(hours=rng.randint(2, 14) if offline else 0)
                answered, received = min(answered, now), min(received, now)
                entries.append(
                    DiaryEntry(
                        enrollment=enrollment,
                        date=day,
                        pain=pain,
                        fatigue=max(0, min(10, round(level + rng.gauss(0.5, 1.0)))),
                        sleep_quality=max(0, min(10, round(10 - level + rng.gauss(0, 1.2)))),
                        vivid_dreams=rng.random() < (0.3 if on_ldn else 0.1),
                        headache=rng.random() < (0.15 if on_ldn else 0.05),
                        dose_taken=(rng.random() < 0.95) if span.is_treatment else None,
                        tolerability=(
                            max(0, min(100, round(rng.gauss(88, 6)))) if span.is_treatment else None
                        ),
                        notes="Slept badly after a long day." if rng.random() < 0.04 else "",
                        source=EntrySource.PATIENT,
                        late=late,
                        answered_at=answered,
                        received_at=received,
                    )
                )
        bulk_create_with_history(entries, DiaryEntry, default_change_reason="Demo data")
        return len(entries)
