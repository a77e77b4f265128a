"""Input the diary cannot read is refused with 400 and a message that says what to fix,
never a server error: forms in another charset than UTF-8, bodies and uploads over the
limit, too long randomization lists, files sent with a diary entry, scores written with
other digits than 0-9. A database that does not answer gives 503 with a retry message.
A password reset does the same work in the request whether the address has an account
or not."""

import datetime as dt
import html
import time
from io import BytesIO
from unittest import mock
from zoneinfo import ZoneInfo

import pytest
from django.core import mail
from django.db import InterfaceError, OperationalError, connection
from django.db.backends.base.base import BaseDatabaseWrapper
from django.http.response import HttpResponseBase
from django.template import loader
from django.test import Client, RequestFactory
from django.test.utils import CaptureQueriesContext
from django.views import defaults

from diary.audit.models import AuditEvent
from diary.entries.models import DiaryEntry
from diary.files import imports
from diary.people.signin import RationedPasswordResetForm
from diary.trial.models import Protocol, RandomizationSlot
from tests.entries.test_diary_views import TREATMENT
from tests.factories import (
    CoordinatorFactory,
    EnrollmentFactory,
    PatientFactory,
    make_arm,
)
from tests.site.test_admin import entry_form

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("frozen_clock")]

LA = ZoneInfo("America/Los_Angeles")
NOW = dt.datetime(2026, 3, 10, 12, 0, tzinfo=LA)
TODAY = dt.date(2026, 3, 10)
ANSWERS = {**TREATMENT, "notes": ""}
MB = 1024 * 1024


@pytest.fixture
def production(settings, client):
    """DEBUG off, as under gunicorn, and errors answered instead of raised in the test."""
    settings.DEBUG = False
    client.raise_request_exception = False
    return client


@pytest.fixture
def enrollment():
    """Baseline days 1-14, LDN 15-42 from 2026-02-20: today is an LDN day."""
    arm = make_arm([("baseline", 14), ("ldn", 28), ("followup", 14)])
    return EnrollmentFactory(arm=arm, protocol=arm.protocol, start_date=dt.date(2026, 2, 20))


@pytest.fixture
def statistician(client):
    user = CoordinatorFactory(allocation_access=True)
    client.force_login(user)
    return user


def text(response) -> str:
    return html.unescape(response.content.decode())


def multipart(fields: dict[str, str], boundary="BOUNDARY") -> bytes:
    parts = [
        f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'
        for name, value in fields.items()
    ]
    return ("".join(parts) + f"--{boundary}--\r\n").encode("latin-1")


# Charsets ---------------------------------------------------------------------------


@pytest.mark.parametrize("charset", ["latin-1", "ISO-8859-1", "utf-16", "foo"])
def test_a_form_in_another_charset_than_utf8_is_a_400_that_says_so(production, charset):
    client = Client(enforce_csrf_checks=True, raise_request_exception=False)
    for body, content_type in [
        (b"username=j\xf6rg&password=x", "application/x-www-form-urlencoded"),
        (multipart({"username": "j\xf6rg", "password": "x"}), "multipart/form-data"),
    ]:
        if content_type == "multipart/form-data":
            content_type += "; boundary=BOUNDARY"
        response = client.generic(
            "POST", "/accounts/login/", body, content_type=f"{content_type}; charset={charset}"
        )
        assert response.status_code == 400, (charset, content_type)
        assert response["Content-Type"] == "text/plain; charset=utf-8"
        assert text(response).startswith("Send the form as UTF-8"), text(response)
        assert f'"{charset}"' in text(response)


def test_utf8_in_any_spelling_or_no_charset_is_read(client):
    for charset in ("", "; charset=utf-8", "; charset=UTF8", '; charset="UTF-8"'):
        response = client.generic(
            "POST",
            "/accounts/login/",
            "username=jörg&password=x".encode(),
            content_type=f"application/x-www-form-urlencoded{charset}",
        )
        assert response.status_code == 200, charset  # the sign-in form, with its error


def test_with_debug_on_the_refusal_is_the_same_400(settings, client):
    settings.DEBUG = True
    client.raise_request_exception = False
    response = client.generic(
        "POST",
        "/accounts/login/",
        b"username=a",
        content_type="application/x-www-form-urlencoded; charset=latin-1",
    )
    assert response.status_code == 400
    assert text(response).startswith("Send the form as UTF-8")


# Error pages ------------------------------------------------------------------------


def test_the_error_pages_need_no_database_and_no_form(rf):
    from diary.security import database_unavailable_response

    request = rf.generic(
        "POST", "/", b"a=1", content_type="application/x-www-form-urlencoded; charset=latin-1"
    )
    down = OperationalError("the database is down")
    with (
        mock.patch.object(BaseDatabaseWrapper, "cursor", side_effect=down),
        CaptureQueriesContext(connection) as queries,
    ):
        bad = defaults.bad_request(request, ValueError("unreadable"))
        failed = defaults.server_error(request)
        unavailable = database_unavailable_response()
    assert len(queries) == 0
    assert (bad.status_code, failed.status_code, unavailable.status_code) == (400, 500, 503)
    assert "The request could not be read" in text(bad)
    assert "Something went wrong on our side" in text(failed)
    assert "The service is briefly unavailable; try again in a minute" in text(unavailable)
    # They extend error_page.html, never base.html (which reads the account).
    for name in ("400.html", "500.html", "503.html"):
        source = loader.get_template(name).template.source
        assert '{% extends "error_page.html" %}' in source and "user" not in source, name
    source = loader.get_template("error_page.html").template.source
    assert "extends" not in source and "user" not in source


def test_a_suspicious_request_gets_our_400_page(production):
    response = production.get("/", HTTP_HOST="attacker.example")
    assert response.status_code == 400
    assert "The request could not be read" in text(response)
    assert "Nothing was saved" in text(response)


# Body size, fields, files -----------------------------------------------------------


def test_a_body_over_the_limit_is_refused_from_its_length_before_it_is_read(production):
    declared = 25 * MB
    response = production.generic(
        "POST",
        "/accounts/login/",
        b"username=a&password=b",
        content_type="application/x-www-form-urlencoded",
        CONTENT_LENGTH=str(declared),
    )
    assert response.status_code == 400
    assert "The request is 25 MB, larger than the limit" in text(response)
    assert "at most 20 MB" in text(response)


def test_too_large_or_too_many_fields_or_files_are_a_400_with_a_message(production, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    response = production.post("/accounts/login/", {"username": "a" * 2000, "password": "b"})
    assert response.status_code == 400
    assert "The form is larger than the limit" in text(response)
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 2_621_440
    settings.DATA_UPLOAD_MAX_NUMBER_FIELDS = 3
    response = production.post("/accounts/login/", {f"f{n}": "x" for n in range(5)})
    assert response.status_code == 400
    assert "The form has more than 3 fields" in text(response)
    files = [BytesIO(b"a"), BytesIO(b"b")]
    for number, file in enumerate(files):
        file.name = f"{number}.csv"
    response = production.post("/accounts/login/", {"file": files})
    assert response.status_code == 400
    assert "more than 1 file(s)" in text(response)
    response = production.generic(
        "POST", "/accounts/login/", b"--X\r\nbroken", content_type="multipart/form-data"
    )
    assert response.status_code == 400
    assert "The form could not be read" in text(response)


def upload(client, protocol, content: bytes, name="list.csv"):
    file = BytesIO(content)
    file.name = name
    return client.post(f"/admin/diary/protocol/{protocol.pk}/randomization-list/", {"file": file})


def test_a_randomization_list_over_20_mb_is_refused_with_the_limit(client, statistician):
    protocol = Protocol.objects.get(slug="ldn-fm-2013")
    # Over the body limit: refused from the request's length, before it is read.
    response = upload(client, protocol, b"sequence,arm\n" + b"1,A\n" * (6 * MB))
    assert response.status_code == 400
    assert "at most 20 MB" in text(response)
    # Under the body limit but over the file's: the form says so.
    response = upload(client, protocol, b"sequence,arm\n" + b"1,A\n" * (5 * MB + 100))
    assert response.status_code == 400
    assert "The file is 20 MB; a randomization list may be at most 20 MB" in text(response)
    assert not RandomizationSlot.objects.exists()
    assert not AuditEvent.objects.exists()


def test_a_too_long_randomization_list_is_refused_fast_with_one_message(
    client, statistician, monkeypatch
):
    monkeypatch.setattr("diary.files.imports.randomization.LIST_ROWS_MAX", 1000)
    protocol = Protocol.objects.get(slug="ldn-fm-2013")
    rows = "".join(f"{n},{'AB'[n % 2]}\n" for n in range(1, 500_001))
    started = time.perf_counter()
    response = upload(client, protocol, f"sequence,arm\n{rows}".encode())
    elapsed = time.perf_counter() - started
    assert response.status_code == 400
    page = text(response)
    assert "line 1002: the file has more than 1,000 rows; a randomization list has at most " in (
        page
    )
    assert page.count("line ") == 1
    # Reading stops at the cap: 500,000 rows would take several seconds to check.
    assert elapsed < 3, elapsed
    assert not RandomizationSlot.objects.exists()


def test_the_row_cap_counts_rows_that_cannot_be_read_too(tmp_path, monkeypatch):
    monkeypatch.setattr("diary.files.imports.randomization.LIST_ROWS_MAX", 10)
    path = tmp_path / "list.csv"
    path.write_text("sequence,arm\n" + "1,A,extra\n" * 50_000, encoding="utf-8")
    with pytest.raises(imports.ImportFailed) as failed:
        imports.import_randomization_list(path, Protocol.objects.get(slug="ldn-fm-2013"))
    assert failed.value.problems == [
        "line 12: the file has more than 10 rows; a randomization list has at most 10. "
        "Check that this is the right file."
    ]


def test_a_latin1_randomization_list_gets_only_the_encoding_message(tmp_path):
    path = tmp_path / "list.csv"
    path.write_bytes("séquence,arm\n1,A\n".encode("latin-1"))
    with pytest.raises(imports.ImportFailed) as failed:
        imports.import_randomization_list(path, Protocol.objects.get(slug="ldn-fm-2013"))
    assert failed.value.problems == [
        "line 1: the file is not UTF-8 text; save it as CSV UTF-8 and import it again"
    ]


# Diary posts carry no files ---------------------------------------------------------


def test_a_diary_post_with_a_file_is_refused_and_nothing_is_saved(client, enrollment):
    client.force_login(enrollment.patient)
    for url in ("/diary/", f"/diary/{TODAY - dt.timedelta(days=1):%Y-%m-%d}/"):
        file = BytesIO(b"%PDF-1.4")
        file.name = "scan.pdf"
        response = client.post(url, {**ANSWERS, "attachment": file})
        assert response.status_code == 400, url
        assert "the diary takes no files" in text(response)
    assert not DiaryEntry.objects.exists()
    assert client.post("/diary/", ANSWERS).status_code == 302


# Scores: digits 0-9 only ------------------------------------------------------------

OTHER_DIGITS = ["٥", "５", "۵", "५", "+5", "5.0"]


@pytest.mark.parametrize("digits", OTHER_DIGITS)
def test_the_diary_takes_scores_in_the_digits_0_to_9_only(client, enrollment, digits):
    client.force_login(enrollment.patient)
    response = client.post("/diary/", {**ANSWERS, "pain": digits})
    assert response.status_code == 400
    assert "Pain must be a whole number between 0 and 10." in text(response)
    response = client.post("/diary/", {**ANSWERS, "tolerability": digits + "0"})
    assert response.status_code == 400
    assert "Tolerability must be a whole number between 0 and 100." in text(response)
    assert not DiaryEntry.objects.exists()


@pytest.mark.parametrize("digits", ["٥", "５"])
def test_the_staff_entry_form_takes_the_digits_0_to_9_only(client, digits):
    client.force_login(CoordinatorFactory())
    enrollment = EnrollmentFactory()
    day = enrollment.start_date + dt.timedelta(days=2)
    response = client.post(
        "/admin/diary/diaryentry/add/", entry_form(enrollment, day, sleep_quality=digits)
    )
    assert response.status_code == 200
    assert "Sleep quality must be a whole number from 0 to 10, written with the digits 0-9." in (
        text(response)
    )
    assert not DiaryEntry.objects.exists()
    response = client.post("/admin/diary/diaryentry/add/", entry_form(enrollment, day))
    assert response.status_code == 302


def test_the_entry_import_takes_the_digits_0_to_9_only(tmp_path):
    EnrollmentFactory(study_id="FM-001", start_date=dt.date(2026, 2, 1))
    path = tmp_path / "entries.csv"
    path.write_text(
        "study_id,date,pain,fatigue,sleep_quality,vivid_dreams,headache\n"
        "FM-001,2026-02-02,٥,5,5,no,no\n"
        "FM-001,2026-02-03,5,５,5,no,no\n",
        encoding="utf-8",
    )
    with pytest.raises(imports.ImportFailed) as failed:
        imports.import_entries(path)
    assert failed.value.problems == [
        'line 2: pain "٥" must be a whole number from 0 to 10, written with the digits 0-9',
        'line 3: fatigue "５" must be a whole number from 0 to 10, written with the digits 0-9',
    ]
    assert not DiaryEntry.objects.exists()


# Password reset ---------------------------------------------------------------------


def test_a_password_reset_does_the_same_work_in_the_request_for_any_address(client, monkeypatch):
    patient = PatientFactory(email="known@example.org")
    events = []
    close, get_users = HttpResponseBase.close, RationedPasswordResetForm.get_users

    def closing(response):
        events.append(("response sent", len(queries)))
        close(response)

    def looking_up(form, email):
        events.append(("lookup", None))
        return get_users(form, email)

    monkeypatch.setattr(HttpResponseBase, "close", closing)
    monkeypatch.setattr(RationedPasswordResetForm, "get_users", looking_up)
    seen = {}
    for email in ("known@example.org", "nobody@example.org"):
        events.clear()
        with CaptureQueriesContext(connection) as queries:
            response = client.post("/accounts/password_reset/", {"email": email})
        assert response["Location"] == "/accounts/password_reset/done/"
        seen[email] = list(events)
    # The address is looked up only once the response has been sent, after the same
    # number of queries for both (none: the form is only checked).
    assert seen["known@example.org"] == seen["nobody@example.org"]
    assert seen["known@example.org"] == [("response sent", 0), ("lookup", None)]
    # The e-mail still goes out, to the account's address only.
    assert [message.to for message in mail.outbox] == [[patient.email]]
    assert AuditEvent.objects.filter(user=patient, action="password_link_sent").count() == 1


def test_a_reset_outside_a_request_sends_at_once():
    patient = PatientFactory(email="known@example.org")
    form = RationedPasswordResetForm({"email": patient.email})
    assert form.is_valid()
    form.save(request=RequestFactory().get("/"))
    assert [message.to for message in mail.outbox] == [[patient.email]]


# The database does not answer -------------------------------------------------------


@pytest.mark.parametrize("error", [OperationalError, InterfaceError])
def test_a_database_outage_is_a_503_with_a_retry_message(production, enrollment, error):
    production.force_login(enrollment.patient)
    with mock.patch.object(BaseDatabaseWrapper, "cursor", side_effect=error("down")):
        # Signed in: the session's load fails. Signed out: the sign-in page's POST does.
        signed_in = production.get("/diary/")
        signed_out = Client(raise_request_exception=False).post(
            "/accounts/login/", {"username": "a", "password": "b"}
        )
    for response in (signed_in, signed_out):
        assert response.status_code == 503
        assert response["Retry-After"] == "60"
        assert "The service is briefly unavailable; try again in a minute" in text(response)
        assert "Content-Security-Policy" in response


def test_other_server_errors_stay_500(production, enrollment, monkeypatch):
    production.force_login(enrollment.patient)
    with mock.patch("diary.views.patient._entry_page", side_effect=RuntimeError("a bug")):
        response = production.get("/diary/")
    assert response.status_code == 500
    assert "Something went wrong on our side" in text(response)


def test_healthz_says_when_the_database_does_not_answer(client):
    with CaptureQueriesContext(connection) as queries:
        assert client.get("/healthz").content == b"ok"
    assert [q["sql"] for q in queries] == ["SELECT 1"]
    down = OperationalError("connection refused")
    with mock.patch.object(BaseDatabaseWrapper, "cursor", side_effect=down):
        response = client.get("/healthz")
        head = client.head("/healthz")
    assert (response.status_code, head.status_code) == (503, 503)
    assert response["Retry-After"] == "60"
    assert response.content == b"unavailable: the database does not answer"


def test_the_sign_in_page_still_reads_its_form(client):
    response = client.post("/accounts/login/", {"username": "nobody", "password": "x"})
    assert response.status_code == 200
