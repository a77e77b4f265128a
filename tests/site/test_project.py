"""Project-wide guards: migrations, health check, demo data, production settings."""

import os
import subprocess
import sys
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from diary.entries import window
from diary.entries.models import DiaryEntry
from diary.people.models import User
from diary.trial.models import Enrollment

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parents[2]


def test_no_pending_migrations():
    out = StringIO()
    try:
        call_command("makemigrations", "--check", "--dry-run", stdout=out, stderr=StringIO())
    except SystemExit:  # pragma: no cover - makes the failure readable
        pytest.fail(f"Model changes without a migration:\n{out.getvalue()}")


def test_healthz_answers_ok_after_one_select_1(client, django_assert_num_queries):
    with django_assert_num_queries(1):
        response = client.get("/healthz")
    assert response.status_code == 200
    assert response.content == b"ok"


def test_seed_demo_creates_the_demo_accounts_once(settings):
    settings.DEBUG = True
    out = StringIO()
    call_command("seed_demo", stdout=out)
    counts = (User.objects.count(), Enrollment.objects.count(), DiaryEntry.objects.count())
    call_command("seed_demo", stdout=StringIO())
    assert (User.objects.count(), Enrollment.objects.count(), DiaryEntry.objects.count()) == counts
    assert counts[0] == 14 and counts[1] == 9 and counts[2] > 100
    assert "ldn-demo-2026" in out.getvalue() and "patient1" in out.getvalue()
    # The coordinator is blinded; the statistician has allocation access; the superuser
    # who grants it is blinded too.
    rights = {
        user.username: (user.is_staff, user.is_superuser, user.has_allocation_access)
        for user in User.objects.filter(username__in=["admin", "coordinator", "statistician"])
    }
    assert rights == {
        "admin": (True, True, False),
        "coordinator": (True, False, False),
        "statistician": (True, False, True),
    }
    assert "statistician" in out.getvalue()


def test_seed_demo_gives_every_screen_something_to_show(settings, client):
    settings.DEBUG = True
    call_command("seed_demo", stdout=StringIO())
    patient1 = User.objects.get(username="patient1")
    assert patient1.check_password("ldn-demo-2026")
    enrollment = patient1.enrollments.get()
    assert enrollment.status == "active"
    assert (
        window.patient_refusal(enrollment, enrollment.local_today(), enrollment.local_today())
        is None
    )
    assert not enrollment.entries.filter(date=enrollment.local_today()).exists()
    assert set(Enrollment.objects.values_list("status", flat=True)) == {
        "active",
        "completed",
        "withdrawn",
    }
    assert set(Enrollment.objects.values_list("physician__username", flat=True)) == {
        "physician1",
        "physician2",
    }
    assert User.objects.get(username="coordinator").is_staff
    client.force_login(patient1)
    response = client.post(
        "/diary/",
        {
            "pain": "3",
            "fatigue": "4",
            "sleep_quality": "6",
            "vivid_dreams": "no",
            "headache": "no",
            "dose_taken": "yes",
            "tolerability": "90",
        },
    )
    assert response.status_code == 302
    assert enrollment.entries.filter(date=enrollment.local_today()).exists()


def test_seed_demo_refuses_to_run_with_debug_off(settings):
    settings.DEBUG = False
    with pytest.raises(CommandError, match="DEBUG"):
        call_command("seed_demo", stdout=StringIO())
    assert not User.objects.exists()


def test_seed_demo_runs_with_debug_off_when_forced(settings):
    settings.DEBUG = False
    call_command("seed_demo", "--force", stdout=StringIO())
    assert User.objects.filter(username="coordinator").exists()


def test_check_deploy_is_clean_with_production_values():
    env = {
        **{k: v for k, v in os.environ.items() if k != "DJANGO_ALLOW_ASYNC_UNSAFE"},
        "DEBUG": "0",
        "SECRET_KEY": "x" * 60 + "production-secret-for-the-check",
        "ALLOWED_HOSTS": "diary.example.org",
        "SITE_ROOT": "https://diary.example.org",
    }
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_production_refuses_to_start_without_a_secret_key():
    env = {**os.environ, "DEBUG": "0", "SECRET_KEY": ""}
    result = subprocess.run(
        [sys.executable, "manage.py", "check"], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert result.returncode != 0
    assert "SECRET_KEY" in result.stderr


def test_a_yes_no_setting_that_is_not_understood_stops_the_start():
    import os
    import subprocess
    import sys
    from pathlib import Path

    env = {**os.environ, "DEBUG": "flase"}
    result = subprocess.run(
        [sys.executable, "-c", "import config.settings"],
        cwd=Path(__file__).resolve().parents[2],
        env=env,
        capture_output=True,
        text=True,
    )
    assert result.returncode != 0
    assert "DEBUG='flase' is not understood" in result.stderr


def test_the_repository_stands_on_its_own():
    """Every relative link of the README and docs/ resolves inside the repository, and
    nothing refers to documents outside it."""
    import re
    import subprocess
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    for page in [root / "README.md", *sorted((root / "docs").glob("*.md"))]:
        for target in re.findall(r"\]\(([^)#\s]+)", page.read_text(encoding="utf-8")):
            if "://" in target or target.startswith("mailto:"):
                continue
            resolved = (page.parent / target).resolve()
            assert resolved.is_relative_to(root), (page.name, target)
            assert resolved.exists(), (page.name, target)
    outside = "|".join([r"DOMAIN" + r"\.md", r"\.\./" + "shared"])  # not a match itself
    tracked = subprocess.run(
        ["git", "grep", "-lIE", outside, "--", "."],
        cwd=root,
        capture_output=True,
        text=True,
    )
    assert tracked.stdout == ""
