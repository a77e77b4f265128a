"""Time the cohort summary against one hand-written SQL aggregate over the same rows.

Run from the project folder (a development tool, not part of the app):

    .venv/bin/python -m benchmarks.bench_summaries --patients 1000

Builds a synthetic cohort of N patients over the full 154-day ldn-fm-2013 schedule in a
scratch database (created and dropped here; the real database is never touched), then
times `summaries.cohort_summaries` (best of 5) against a hand-written SQL aggregate of
the same per-patient, per-phase sums (best of 5). The last line is the ratio; the goal is
at most 1.2.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import random
import sys
import time

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
django.setup()

from django.conf import settings  # noqa: E402
from django.contrib.auth.hashers import make_password  # noqa: E402
from django.db import connection  # noqa: E402

from diary import blinding, summaries  # noqa: E402
from diary.models import DiaryEntry, Enrollment, EntrySource, Protocol, Role, User  # noqa: E402

# The per-patient, per-phase sums under summaries.FIGURES_CTES, written by hand: phases
# placed by a window function over the arm's phase lengths, entries joined by day offset.
HAND_WRITTEN_SQL = """
WITH spans AS (
    SELECT arm_id, "order",
           SUM(days) OVER (PARTITION BY arm_id ORDER BY "order") - days AS first_offset,
           SUM(days) OVER (PARTITION BY arm_id ORDER BY "order") - 1 AS last_offset
    FROM diary_phase
), placed AS (
    SELECT e.enrollment_id, s."order", e.pain, e.fatigue, e.sleep_quality, e.tolerability,
           e.vivid_dreams, e.headache, e.late,
           {offset} >= s.last_offset - 2 AS in_endpoint
    FROM diary_diaryentry e
    JOIN diary_enrollment en ON en.id = e.enrollment_id
    JOIN spans s ON s.arm_id = en.arm_id AND {offset} BETWEEN s.first_offset AND s.last_offset
    WHERE NOT e.voided AND e.date <= %s AND en.protocol_id = %s AND en.status <> 'screening'
)
SELECT enrollment_id, "order", COUNT(*), SUM(pain), SUM(pain * pain), SUM(fatigue),
       SUM(sleep_quality), SUM(tolerability), COUNT(tolerability),
       COUNT(*) FILTER (WHERE vivid_dreams), COUNT(*) FILTER (WHERE headache),
       COUNT(*) FILTER (WHERE late),
       SUM(pain) FILTER (WHERE in_endpoint), COUNT(*) FILTER (WHERE in_endpoint)
FROM placed
GROUP BY enrollment_id, "order"
"""
DAY_OFFSET = {
    "postgresql": "(e.date - en.start_date)",
    "sqlite": "CAST(julianday(e.date) - julianday(en.start_date) AS INTEGER)",
}
ROUNDS = 5


def best_of(rounds: int, run) -> float:
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        run()
        times.append(time.perf_counter() - started)
    return min(times)


class Benchmark:
    """Build a scratch database, time both, print the ratio last."""

    def handle(self, *, patients: int, seed: int):
        if patients < 1:
            sys.exit("--patients must be at least 1.")
        if connection.vendor not in DAY_OFFSET:
            sys.exit(f"No hand-written baseline for {connection.vendor}.")
        test_settings = settings.DATABASES["default"].setdefault("TEST", {})
        if connection.vendor == "postgresql":
            test_settings["NAME"] = f"{connection.settings_dict['NAME']}_bench"
        old_name = connection.creation.create_test_db(
            verbosity=0, autoclobber=True, serialize=False
        )
        try:
            print(f"Scratch database: {connection.settings_dict['NAME']}")
            as_of = self.build(patients, seed)
            self.measure(as_of)
        finally:
            connection.creation.destroy_test_db(old_name, verbosity=0)

    def build(self, count: int, seed: int) -> dt.date:
        rng = random.Random(seed)
        protocol = Protocol.objects.get(slug="ldn-fm-2013")
        arms = list(protocol.arms.order_by("code"))
        as_of = dt.date(2026, 6, 30)
        start = as_of - dt.timedelta(days=153)  # the whole schedule has elapsed
        password = make_password(None)
        physician = User.objects.create(username="bench-physician", role=Role.PHYSICIAN)
        users = User.objects.bulk_create(
            User(username=f"bench-{n:05d}", role=Role.PATIENT, password=password)
            for n in range(count)
        )
        enrollments = Enrollment.objects.bulk_create(
            Enrollment(
                study_id=f"BENCH-{n:05d}",
                patient=user,
                physician=physician,
                protocol=protocol,
                arm=arms[n % len(arms)],
                start_date=start,
                timezone="America/Los_Angeles",
            )
            for n, user in enumerate(users)
        )
        treatment = {arm.pk: self.treatment_days(arm, start) for arm in arms}
        batch = []
        for enrollment in enrollments:
            for offset in range(154):
                if rng.random() < 0.1:
                    continue  # a missed day
                day = start + dt.timedelta(days=offset)
                in_treatment = day in treatment[enrollment.arm_id]
                batch.append(
                    DiaryEntry(
                        enrollment=enrollment,
                        date=day,
                        pain=rng.randint(0, 10),
                        fatigue=rng.randint(0, 10),
                        sleep_quality=rng.randint(0, 10),
                        vivid_dreams=rng.random() < 0.2,
                        headache=rng.random() < 0.1,
                        dose_taken=True if in_treatment else None,
                        tolerability=rng.randint(60, 100) if in_treatment else None,
                        source=EntrySource.IMPORT,
                    )
                )
                if len(batch) >= 20000:
                    DiaryEntry.objects.bulk_create(batch)
                    batch = []
        DiaryEntry.objects.bulk_create(batch)
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("ANALYZE")
        print(f"Built {count} patients, {DiaryEntry.objects.count()} entries, as of {as_of}.")
        return as_of

    @staticmethod
    def treatment_days(arm, start) -> set[dt.date]:
        schedule = Enrollment(start_date=start, arm=arm, protocol=arm.protocol).schedule
        return {day for span in schedule if span.is_treatment for day in span.dates()}

    def measure(self, as_of: dt.date) -> None:
        protocol = Protocol.objects.get(slug="ldn-fm-2013")
        enrollments = Enrollment.objects.filter(protocol=protocol)
        sql = HAND_WRITTEN_SQL.format(offset=DAY_OFFSET[connection.vendor])

        def ours():
            results = summaries.cohort_summaries(enrollments, as_of, blinding.UNBLINDED_FILE)
            assert results[0].cohort

        def hand_written():
            with connection.cursor() as cursor:
                cursor.execute(sql, [as_of, protocol.pk])
                assert cursor.fetchall()

        ours()  # warm caches on both sides before timing
        hand_written()
        ours_time = best_of(ROUNDS, ours)
        sql_time = best_of(ROUNDS, hand_written)
        print(f"cohort summary (best of {ROUNDS}): {ours_time * 1000:.1f} ms")
        print(f"hand-written SQL (best of {ROUNDS}): {sql_time * 1000:.1f} ms")
        print(f"ratio: {ours_time / sql_time:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=2013)
    arguments = parser.parse_args()
    Benchmark().handle(patients=arguments.patients, seed=arguments.seed)


if __name__ == "__main__":
    main()
