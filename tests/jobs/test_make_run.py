"""`make run` starts a job worker beside the server, both with the server's SITE_ROOT;
a command that sends e-mails says where their links point."""

import subprocess
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command

ROOT = Path(__file__).resolve().parents[2]


def test_make_run_starts_a_worker_with_the_site_s_address():
    recipe = subprocess.run(
        ["make", "-n", "run", "PORT=8123"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout
    lines = recipe[recipe.index("export SITE_ROOT") :]
    assert "export SITE_ROOT=${SITE_ROOT:-http://127.0.0.1:8123}" in lines
    # The worker and the server come after the export, in the same shell.
    assert lines.index("manage.py qcluster &") < lines.index("manage.py runserver 127.0.0.1:8123")
    assert "trap 'kill $worker" in lines


@pytest.mark.django_db
@pytest.mark.parametrize("command", ["send_alerts", "send_reminders"])
def test_commands_say_where_links_point(command, settings, monkeypatch):
    monkeypatch.delenv("SITE_ROOT", raising=False)
    settings.SITE_ROOT = "http://127.0.0.1:8000"
    out = StringIO()
    call_command(command, stdout=out)
    assert "point to http://127.0.0.1:8000, SITE_ROOT's default: set SITE_ROOT" in out.getvalue()
    monkeypatch.setenv("SITE_ROOT", "http://127.0.0.1:8123")
    settings.SITE_ROOT = "http://127.0.0.1:8123"
    out = StringIO()
    call_command(command, stdout=out)
    assert "Links in e-mails point to http://127.0.0.1:8123 (SITE_ROOT)." in out.getvalue()
