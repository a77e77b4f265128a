"""The benchmarks keep working: `python -m benchmarks.run` on a tiny study prints every
row of its table. Nothing here is timed (speed is judged by `make bench`, never by a
test); this only catches a benchmark broken by a change to the app."""

import os
import re
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from django.db import connection

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="the benchmarks run on PostgreSQL scratch databases (CI runs it)",
)


def test_make_bench_prints_every_figure_on_a_tiny_study():
    parts = urlsplit(os.environ["DATABASE_URL"])
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "benchmarks.run",
            "--patients",
            "4",
            "--rounds",
            "1",
            "--save-seconds",
            "2",
        ],
        cwd=ROOT,
        env={**os.environ, "BENCH_DATABASE_SERVER": f"{parts.scheme}://{parts.netloc}"},
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    rows = [line for line in result.stdout.splitlines() if line.startswith("| ")][1:]
    figures = [re.sub(r"\(.*", "", row.split("|")[1]).strip() for row in rows]
    assert figures == [
        "export_summaries json, whole process",
        "cohort page, HTTP round trip",
        "export_entries peak RSS",
        "diary saves/s, 40 patients at once through gunicorn",
        "a whole diary save at the 95th percentile, same run",
        "import_enrollments + import_entries, whole processes, against COPY",
    ]
    # Every save the benchmark made was stored as the server acknowledged it.
    assert "errors" not in result.stdout
    assert "INCOMPLETE" not in result.stdout
    assert "Machine: " in result.stdout
