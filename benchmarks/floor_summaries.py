"""The floor of the summaries export: what the database alone needs for the same figures.

A bare Python process with psycopg2 (no Django): it loads the entries (a CSV written
beforehand from the benchmark's study) and the arms' phases into plain temporary
tables with COPY, computes the per-patient phase figures and the cohort with two
hand-written SQL queries, and writes them as JSON. `benchmarks/run.py` times this whole
process against `manage.py export_summaries --format json`, and its two queries alone
against the cohort page.

    python benchmarks/floor_summaries.py URL ENTRIES.csv PHASES.csv AS_OF OUT.json

It prints the two queries' time (seconds) on stdout.
"""

from __future__ import annotations

import json
import sys
import time

import psycopg2

TABLES = """
CREATE TEMPORARY TABLE floor_entries (
    enrollment_id int, arm_id int, day_offset int, day date, pain int, fatigue int,
    sleep_quality int, tolerability int, vivid_dreams boolean, headache boolean,
    late boolean, voided boolean
);
CREATE TEMPORARY TABLE floor_phases (arm_id int, ord int, kind text, first_offset int,
                                     last_offset int);
"""

# The patients' phase figures, kept for the cohort (means in double precision, as the
# app's).
PATIENT_PHASES = """
CREATE TEMPORARY TABLE floor_figures AS
SELECT e.enrollment_id, p.ord, p.kind, COUNT(*) AS entries,
       AVG(e.pain::float8) AS pain_mean, STDDEV_SAMP(e.pain::float8) AS pain_sd,
       AVG(e.fatigue::float8) AS fatigue_mean,
       AVG(e.sleep_quality::float8) AS sleep_quality_mean,
       AVG(e.tolerability::float8) AS tolerability_mean,
       COUNT(*) FILTER (WHERE e.vivid_dreams) AS vivid_dreams_days,
       COUNT(*) FILTER (WHERE e.headache) AS headache_days,
       COUNT(*) FILTER (WHERE e.late) AS late_entries
FROM floor_entries e
JOIN floor_phases p ON p.arm_id = e.arm_id
    AND e.day_offset BETWEEN p.first_offset AND p.last_offset
WHERE NOT e.voided AND e.day <= %(as_of)s
GROUP BY e.enrollment_id, p.ord, p.kind;
SELECT * FROM floor_figures ORDER BY enrollment_id, ord
"""

COHORT = """
SELECT kind, COUNT(*) AS patients, AVG(pain_mean) AS pain_mean,
       STDDEV_SAMP(pain_mean) AS pain_sd, AVG(fatigue_mean) AS fatigue_mean,
       AVG(sleep_quality_mean) AS sleep_quality_mean,
       AVG(tolerability_mean) AS tolerability_mean,
       COUNT(*) FILTER (WHERE vivid_dreams_days > 0) AS with_dreams,
       COUNT(*) FILTER (WHERE headache_days > 0) AS with_headache
FROM floor_figures
GROUP BY kind
"""


def main(url: str, entries_csv: str, phases_csv: str, as_of: str, out: str) -> None:
    connection = psycopg2.connect(url)
    with connection, connection.cursor() as cursor:
        cursor.execute(TABLES)
        with open(entries_csv) as stream:
            cursor.copy_expert("COPY floor_entries FROM STDIN WITH (FORMAT csv)", stream)
        with open(phases_csv) as stream:
            cursor.copy_expert("COPY floor_phases FROM STDIN WITH (FORMAT csv)", stream)
        cursor.execute("ANALYZE floor_entries")
        started = time.perf_counter()
        cursor.execute(PATIENT_PHASES, {"as_of": as_of})
        patients = cursor.fetchall()
        cursor.execute(COHORT, {"as_of": as_of})
        cohort = cursor.fetchall()
        queries = time.perf_counter() - started
    connection.close()
    with open(out, "w") as stream:
        json.dump({"patients": patients, "cohort": cohort}, stream, default=float)
    print(f"{queries:.4f}")


if __name__ == "__main__":
    main(*sys.argv[1:6])
