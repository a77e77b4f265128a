"""Every door, generated: each URL pattern of the project and every changelist
parameter a model's fields allow, requested as each role.

Nothing here lists pages or fields by hand: the URLs come from the resolver and the
parameters from the models registered on the admin site, so a new page, model or field
is covered the day it is added. Two patients of ldn-fm-2013 (tests.trial.test_blinding's
`pair`: same start, physician and entries, one in arm A and one in arm B) are the
data. For each role:
- no request answers with a server error;
- a blinded reader's responses are identical byte for byte (but the CSRF token) after
  the two patients' arms are swapped in the database;
- a blinded reader's changelists refuse every parameter they do not offer with one
  400 page, the same whatever the parameter names.
"""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.contrib import admin
from django.contrib.auth.tokens import default_token_generator
from django.db import models
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode

from diary.audit.models import DataAccess
from diary.entries import reminders
from diary.entries.models import DiaryEntry
from diary.figures.models import Alert
from diary.queries.models import DataQuery
from diary.trial import dates
from diary.trial.models import Enrollment
from diary.visits.models import Visit
from tests.factories import CoordinatorFactory, PatientFactory, PhysicianFactory
from tests.trial import test_blinding
from tests.trial.test_blinding import TODAY, swap_arms, without_csrf

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("frozen_clock")]

# The two patients and their physician of the blinding tests, at the same moment.
NOW = test_blinding.NOW
physician = test_blinding.physician
pair = test_blinding.pair

# Records that every request adds to (the access log, django-axes' sign-in log): they
# are removed before each request, so both passes read the same rows.
RECORDS_OF_READING = [DataAccess]


def records_of_reading():
    from axes.models import AccessAttempt, AccessLog

    return [*RECORDS_OF_READING, AccessLog, AccessAttempt]


# URL patterns -------------------------------------------------------------------------


def walk(patterns, prefix=""):
    """(route, pattern) for every URL pattern, admin and includes too."""
    for pattern in patterns:
        route = prefix + str(pattern.pattern)
        if isinstance(pattern, URLResolver):
            yield from walk(pattern.url_patterns, route)
        elif isinstance(pattern, URLPattern):
            yield route, pattern


def admin_object_for(model, x: Enrollment):
    """A row of `model` about patient X (or the first row) for its admin pages."""
    if model is Enrollment:
        return x
    if model is type(x.patient):
        return x.patient
    for field in model._meta.concrete_fields:
        if isinstance(field, models.ForeignKey) and field.related_model is Enrollment:
            row = model.objects.filter(**{field.name: x}).first()
            if row is not None:
                return row
    if model is type(x.protocol):
        return x.protocol
    return model.objects.order_by("pk").first()


def history_id(obj) -> str:
    history = getattr(type(obj), "history", None)
    if history is None:
        return "1"
    row = history.filter(**{type(obj)._meta.pk.attname: obj.pk}).order_by("-pk").first()
    return str(row.pk if row else 1)


def admin_urls(x: Enrollment) -> list[str]:
    """Every page of every registered admin, about patient X where it can be."""
    urls = ["/admin/", "/admin/diary/", "/admin/password_change/", "/admin/jsi18n/"]
    for model, model_admin in admin.site._registry.items():
        opts = model._meta
        base = f"/admin/{opts.app_label}/{opts.model_name}/"
        urls += [base, f"{base}add/", f"/admin/{opts.app_label}/"]
        obj = admin_object_for(model, x)
        if obj is None:
            continue
        pk = obj.pk
        urls += [f"{base}{pk}/change/", f"{base}{pk}/history/", f"{base}{pk}/delete/"]
        urls += [f"{base}{pk}/history/{history_id(obj)}/", f"{base}{pk}/"]
        for route, _ in walk(model_admin.urls):
            if "<int:pk>" in route:
                urls.append(base + route.replace("<int:pk>", str(pk)))
            elif "<str:study_id>" in route:
                urls.append(base + route.replace("<str:study_id>", x.study_id))
    return urls


def site_urls(x: Enrollment) -> list[str]:
    """Every other URL pattern, its parameters filled in for patient X."""
    patient = x.patient
    alert = Alert.objects.filter(enrollment=x).order_by("pk").first()
    alert_pk = alert.pk if alert else 1
    visit = Visit.objects.filter(enrollment=x, voided=False).order_by("pk").first()
    query = DataQuery.objects.filter(enrollment=x).order_by("pk").first()
    values = {
        "study_id": x.study_id,
        "day": (TODAY - dt.timedelta(days=1)).isoformat(),
        "pk": str(alert.pk if alert else 1),
        "token": reminders.reminder_link_token(x),
        "uidb64": urlsafe_base64_encode(force_bytes(patient.pk)),
        # Imports on the web and jobs: a real kind, and a job id no reader started
        # (each reader's own jobs are tested in tests/jobs and tests/files).
        "kind": "entries",
        "job_id": "3f2c6d1e-8b7a-4c5d-9e0f-1a2b3c4d5e6f",
    }
    urls = []
    for route, _ in walk(get_resolver().url_patterns):
        if route.startswith("admin/") or route.startswith("^"):
            continue
        if "invite/" in route or "reset/" in route:
            values["token"] = default_token_generator.make_token(patient)
        else:
            values["token"] = reminders.reminder_link_token(x)
        # A visit's pages take her visit's id, a query's or question's her query's, the
        # others an alert's.
        if "visits/" in route and visit:
            values["pk"] = str(visit.pk)
        elif ("queries/" in route or "questions/" in route) and query:
            values["pk"] = str(query.pk)
        else:
            values["pk"] = str(alert_pk)
        url = "/" + re.sub(r"<(?:\w+:)?(\w+)>", lambda m: values.get(m.group(1), "1"), route)
        urls.append(url)
    return urls


def readers(pair, physician) -> dict[str, object]:
    x, _ = pair
    return {
        "anonymous": None,
        "patient": x.patient,
        "another patient": PatientFactory(username="stranger"),
        "physician": physician,
        "another physician": PhysicianFactory(username="dr-other"),
        "blinded coordinator": CoordinatorFactory(username="coord-blind", is_staff=True),
        "blinded superuser": CoordinatorFactory(
            username="root-blind", is_staff=True, is_superuser=True
        ),
        "allocation access": CoordinatorFactory(
            username="statistician", is_staff=True, allocation_access=True
        ),
    }


BLINDED = {"patient", "physician", "blinded coordinator", "blinded superuser"}


def fetch(client: Client, url: str, baseline: dict) -> tuple[int, str]:
    for model in records_of_reading():
        model.objects.filter(pk__gt=baseline[model]).delete()
    response = client.get(url)
    assert response.status_code < 500, (url, response.status_code)
    content = b"".join(response.streaming_content) if response.streaming else response.content
    return response.status_code, without_csrf(content.decode("utf-8", "replace"))


def baseline_of_records() -> dict:
    return {
        model: (model.objects.order_by("-pk").values_list("pk", flat=True).first() or 0)
        for model in records_of_reading()
    }


@pytest.mark.parametrize(
    "role",
    [
        "anonymous",
        "patient",
        "another patient",
        "physician",
        "another physician",
        "blinded coordinator",
        "blinded superuser",
        "allocation access",
    ],
)
def test_every_url_answers_every_role_and_a_blinded_reader_cannot_tell_the_arms(
    pair, physician, role
):
    x, y = pair
    reader = readers(pair, physician)[role]
    client = Client()
    if reader is not None:
        client.force_login(reader)
    urls = list(dict.fromkeys(site_urls(x) + admin_urls(x)))
    assert len(urls) > 90  # every registered admin's pages, and the site's
    baseline = baseline_of_records()
    before = {url: fetch(client, url, baseline) for url in urls}
    if role not in BLINDED:
        return
    swap_arms(x, y)
    after = {url: fetch(client, url, baseline) for url in urls}
    for url in urls:
        assert before[url] == after[url], f"{role} tells the arms apart at {url}"


def test_strangers_reach_no_page_about_the_patient(pair, physician):
    """Anonymous visitors, another patient and another physician get no page that names
    her: every URL about her is a redirect to sign in, a 403 or a 404."""
    x, _ = pair
    everyone = readers(pair, physician)
    urls = [url for url in site_urls(x) + admin_urls(x) if x.study_id in url or "/admin/" in url]
    for role in ("anonymous", "another patient", "another physician"):
        client = Client()
        if everyone[role] is not None:
            client.force_login(everyone[role])
        for url in urls:
            response = client.get(url)
            assert response.status_code in (302, 403, 404), (role, url, response.status_code)
            if response.status_code == 302:
                assert "login" in response["Location"] or "two-factor" in response["Location"]


# Changelist parameters ----------------------------------------------------------------


def parameters_for(model, x: Enrollment) -> list[str]:
    """Every way a URL could name a field of `model`: its name, its column, a relation's
    key and its fields, lists and emptiness, with a value about patient X."""
    arm = x.arm
    value_for = {Enrollment: x.pk, type(arm): arm.pk, DiaryEntry: 1}
    params = []
    for field in model._meta.get_fields():
        name = getattr(field, "name", None)
        if not name:
            continue
        related = getattr(field, "related_model", None)
        value = str(value_for.get(related, arm.pk if related else "A"))
        spellings = [name, f"{name}__exact", f"{name}__in", f"{name}__isnull"]
        if related is not None:
            spellings += [f"{name}__pk", f"{name}__id", f"{name}__id__exact", f"{name}__in"]
            if related is type(arm):
                spellings += [f"{name}__code"]
            if related is Enrollment:
                spellings += [f"{name}__arm", f"{name}__arm_id", f"{name}__arm__code"]
        attname = getattr(field, "attname", None)
        if attname and attname != name:
            spellings += [attname, f"{attname}__in", f"{attname}__exact"]
        for spelling in dict.fromkeys(spellings):
            shown = "True" if spelling.endswith("__isnull") else value
            if spelling.endswith("__code"):
                shown = arm.code
            params.append(f"{spelling}={shown}")
    return params


@pytest.mark.parametrize("role", ["blinded coordinator", "blinded superuser"])
def test_changelists_refuse_every_parameter_they_do_not_offer(pair, physician, role):
    x, y = pair
    reader = readers(pair, physician)[role]
    client = Client()
    client.force_login(reader)
    baseline = baseline_of_records()
    answered = {}
    checked = 0
    for model in admin.site._registry:
        opts = model._meta
        base = f"/admin/{opts.app_label}/{opts.model_name}/"
        response = client.get(base)
        if response.status_code != 200:
            continue  # the list itself is not for this reader
        refusal = None  # one refusal page per list
        # What the list offers: its filters' parameters (a filter with one choice is
        # not shown, but takes its parameters all the same).
        changelist = response.context["cl"]
        links = {name for spec in changelist.filter_specs for name in spec.expected_parameters()}
        paths = [
            item if isinstance(item, str) else item[0] if isinstance(item, tuple) else None
            for item in changelist.list_filter
        ]
        for param in parameters_for(model, x):
            checked += 1
            url = f"{base}?{param}"
            status, page = fetch(client, url, baseline)
            key = param.split("=", 1)[0]
            if key in links:
                assert status in (200, 302), (url, status)
            offered = key in links or any(path and key.startswith(f"{path}__") for path in paths)
            if status != 400:
                # Only a filter of the list takes a parameter; what it shows must not
                # change when the arms do.
                assert offered, (url, status)
                answered[url] = (status, page)
                continue
            # One refusal, whatever the parameter names.
            same = page.replace(f"“{key}”", "“KEY”")
            refusal = refusal or same
            assert same == refusal, url
    assert checked > 300
    swap_arms(x, y)
    for url, seen in answered.items():
        assert fetch(client, url, baseline) == seen, f"{role} tells the arms apart at {url}"


def test_the_arm_filter_is_there_for_allocation_access_only(pair, physician):
    x, _ = pair
    everyone = readers(pair, physician)
    expected = {
        "allocation access": {"arm": 200, "arm_id": 400, "arm__id__exact": 400},
        "blinded coordinator": {"arm": 400, "arm_id": 400, "arm__id__exact": 400},
        "blinded superuser": {"arm": 400, "arm_id": 400, "arm__id__exact": 400},
    }
    for role, statuses in expected.items():
        client = Client()
        client.force_login(everyone[role])
        for key, status in statuses.items():
            response = client.get(f"/admin/diary/enrollment/?{key}={x.arm_id}")
            assert response.status_code == status, (role, key)


def test_every_admin_on_the_site_filters_only_as_it_offers():
    """Ours, the libraries' (django-otp, django-axes, auth) and any registered later."""
    from diary.admin_site import AllowListedChangelist

    assert get_resolver().url_patterns  # the URLs load the admin's modules
    assert len(admin.site._registry) >= 10
    for model, model_admin in admin.site._registry.items():
        assert isinstance(model_admin, AllowListedChangelist), model

    class Later(admin.ModelAdmin):
        pass

    site = type(admin.site._wrapped)()
    site.register(Alert, Later)
    assert isinstance(site._registry[Alert], AllowListedChangelist)


@pytest.mark.parametrize(
    "dates",
    [
        "{f}__year=9999",
        "{f}__year=9999&{f}__month=12",
        "{f}__year=9999&{f}__month=12&{f}__day=31",
        "{f}__year=0",
        "{f}__year=abc",
        "{f}__year=2026&{f}__month=13",
        "{f}__year=99999999999999999999",
    ],
)
def test_date_links_of_every_list_never_fail(admin_client, dates):
    assert get_resolver().url_patterns  # the URLs load the admin's modules
    lists = [(m, a) for m, a in admin.site._registry.items() if a.date_hierarchy]
    assert len(lists) >= 4
    for model, model_admin in lists:
        opts = model._meta
        query = dates.format(f=model_admin.date_hierarchy)
        response = admin_client.get(f"/admin/{opts.app_label}/{opts.model_name}/?{query}")
        assert response.status_code in (200, 302, 400), (model, query, response.status_code)


# Query strings of the site's own pages ------------------------------------------------

# What a curious reader might add to any URL to try the arm: none of it is a parameter
# of any page, and no page may answer it differently once the arms are swapped.
ARM_GUESSES = [
    {"arm": "A"},
    {"arm": "B"},
    {"arm": "1"},
    {"arm": "2"},
    {"kind": "ldn"},
    {"kind": "placebo"},
    {"phase": "ldn"},
    {"phase": "placebo"},
    {"phase": "treatment"},
    {"unblinded": "1"},
    {"allocation": "1"},
]


def boundary_days(x: Enrollment, y: Enrollment) -> list[dt.date]:
    """The first and last day of every phase of both arms' true schedules and the day
    before each: where a figure as of a day would first differ between the arms."""
    days = set()
    for enrollment in (x, y):
        for span in enrollment.schedule:
            days |= {span.start - dt.timedelta(days=1), span.start, span.end}
    return sorted(days)


def one_by_one(choices: dict[str, list[str]]) -> list[dict[str, str]]:
    """Each parameter alone, with each of its values."""
    return [{name: value} for name, values in choices.items() for value in values]


def site_requests(x: Enrollment, y: Enrollment, days: list[dt.date], *, dated_only=False):
    """(method, path, data) for every parameter each of the site's pages reads
    (diary.views, diary.entries.forms), with every legal value and some illegal ones, alone and
    combined, and the arm guesses on every page; as-of dates on `days` that have been
    lived (and the first one that has not). `dated_only`: only what an as-of date or the
    day of the clock changes."""
    from diary.figures.forms import SORT_CHOICES
    from diary.files.forms import ExportForm
    from diary.people.models import Role, User
    from diary.trial.models import EnrollmentStatus, Protocol

    protocols = ["", *Protocol.objects.order_by("slug").values_list("slug", flat=True), "nope"]
    physicians = [
        "",
        *User.objects.filter(role=Role.PHYSICIAN)
        .order_by("username")
        .values_list("username", flat=True),
        "nobody",
    ]
    sorts = ["", *(key for key, _ in SORT_CHOICES), "arm", "-arm", "phase_rank"]
    studies = ["", "FM-X", "fm-y", "Z", "x" * 41]
    pages = ["2", "0", "abc"]
    today = dates.study_today()
    lived = [day for day in days if day <= today]
    as_of = [day.isoformat() for day in lived + [day for day in days if day > today][:1]]
    as_of += ["", "2026-02-30"]
    whats = [key for key, _ in ExportForm.WHAT] + ["", "arms.csv"]
    slug = x.protocol.slug
    # Every guess at once, for the pages that read no parameter at all.
    all_guesses = {}
    for guess in ARM_GUESSES:
        for name, value in guess.items():
            all_guesses.setdefault(name, []).append(value)
    requests = []

    def get(path, params_list):
        requests.extend(("get", path, params) for params in params_list)

    # The patient list and the compliance calendar (PatientListForm and ?page=): the
    # calendar shares the list's form, and shows each patient's days in her phases.
    sorted_by = one_by_one({"sort": sorts})
    phase_guesses = [{"sort": "phase", **guess} for guess in ARM_GUESSES]
    phase_guesses += [{"sort": "-phase", **all_guesses}]
    if dated_only:
        get("/physician/", sorted_by)
        get("/physician/calendar/", [{"sort": "phase"}, {"sort": "-phase", **all_guesses}])
    else:
        get(
            "/physician/",
            sorted_by
            + phase_guesses
            + one_by_one(
                {
                    "q": studies,
                    "page": pages,
                    "protocol": protocols,
                    "status": ["", *EnrollmentStatus.values, "blinded"],
                    "physician": physicians,
                }
            )
            + [
                {
                    "q": "FM",
                    "protocol": slug,
                    "status": s,
                    "physician": "dr-blind",
                    "sort": "-phase",
                }
                for s in EnrollmentStatus.values
            ],
        )
        get(
            "/physician/calendar/",
            sorted_by
            + [{"sort": sort, **all_guesses} for sort in ("phase", "-phase")]
            + [{"q": "FM", "protocol": slug, "status": "active", "physician": "dr-blind"}],
        )
    # The alerts (?show=, ?q=, ?page=).
    get(
        "/physician/alerts/",
        [{}, {"show": "acknowledged", **all_guesses}]
        if dated_only
        else one_by_one({"show": ["", "acknowledged", "all"], "q": studies, "page": pages})
        + [{"show": "acknowledged", "q": q, "page": "1"} for q in studies[1:4]]
        + ARM_GUESSES,
    )
    # The cohort (CohortFilterForm): every as-of day alone and with the filters.
    cohort = [{"as_of": day} for day in as_of]
    if not dated_only:
        cohort += one_by_one({"protocol": protocols, "physician": physicians})
        cohort += [{"protocol": slug, "physician": "dr-blind", "as_of": day} for day in as_of]
        cohort += ARM_GUESSES
    get("/physician/cohort/", cohort)
    # The exports (ExportForm): every file of every protocol, and as of every day.
    files = whats[: len(ExportForm.WHAT)]  # the files there are (a wrong one is refused)
    exports = [{"what": what, "protocol": slug, "as_of": day} for what in files for day in as_of]
    if not dated_only:
        exports += one_by_one({"what": whats, "protocol": protocols, "as_of": as_of[:1]})
        exports += [{"what": w, "protocol": p} for w in whats for p in protocols]
        exports += [{"what": what, "protocol": slug, "unblinded": "1"} for what in whats]
        exports += [{"what": what, **all_guesses} for what in whats]
        # The unblinded download, posted by a reader without allocation access.
        requests.extend(
            ("post", "/exports/", {"what": what, "protocol": slug, "reason": "Curious"})
            for what in whats
        )
    get("/exports/", exports)
    # Her pages and her report (a PDF is slow to make: once): they read no
    # parameter, and must ignore any.
    for enrollment in (x, y):
        base = f"/physician/patients/{enrollment.study_id}/"
        get(base, [{}, all_guesses])
        if not dated_only and enrollment == x:  # (hers changes arm with the swap)
            get(f"{base}report.pdf", [all_guesses])
    # The patient's diary, her history and settings, and every day on a phase boundary
    # with an empty save of it (refused, its questions shown again).
    for path in ("/diary/", "/diary/history/", "/diary/settings/"):
        get(path, [{}, all_guesses])
    if not dated_only:
        for day in days:
            get(f"/diary/{day.isoformat()}/", [{}, all_guesses])
            requests.append(("post", f"/diary/{day.isoformat()}/", {"pain": "", "notes": "?"}))
    return requests


def answer(client: Client, request: tuple, baseline: dict) -> tuple[int, str]:
    method, path, data = request
    for model in records_of_reading():
        model.objects.filter(pk__gt=baseline[model]).delete()
    response = getattr(client, method)(path, data)
    assert response.status_code < 500, (request, response.status_code)
    content = b"".join(response.streaming_content) if response.streaming else response.content
    return response.status_code, without_csrf(content.decode("utf-8", "replace"))


def signed_in(reader) -> Client:
    client = Client()
    client.force_login(reader)
    return client


@pytest.mark.parametrize(
    "role", ["patient", "physician", "blinded coordinator", "blinded superuser"]
)
def test_every_parameter_of_every_site_page_tells_a_blinded_reader_nothing(pair, physician, role):
    """Every page of the site (not the admin) with every query-string parameter it
    reads, each with all its values (every sort key both ways, every filter choice,
    every file, as of each phase boundary of both arms), and with guesses at the arm:
    no server error, and the same bytes once the two patients' arms are swapped. Today,
    when the boundaries after today are refused as-of dates, and again, for what a day
    changes, once both arms' schedules are over and every boundary is a legal one."""
    import time_machine

    from diary.figures import alerts

    x, y = pair
    reader = readers(pair, physician)[role]
    # One acknowledged alert each, so that ?show=acknowledged lists something.
    for enrollment in (x, y):
        alert = Alert.objects.filter(enrollment=enrollment).order_by("kind").first()
        alerts.acknowledge(alert, physician, "Phoned her")
    days = boundary_days(x, y)
    later = test_blinding.NOW + (days[-1] - TODAY) + dt.timedelta(days=1)
    moments = [(test_blinding.NOW, False), (later, True)]
    seen = {}
    for arms in ("as allocated", "swapped"):
        if arms == "swapped":
            swap_arms(x, y)
        for moment, dated_only in moments:
            with time_machine.travel(moment, tick=False):
                client = signed_in(reader)  # a fresh session: no message left over
                baseline = baseline_of_records()
                requests = site_requests(x, y, days, dated_only=dated_only)
                # A page closed to the reader is closed before it reads a parameter: it
                # is tried bare and with the guesses (at "arm") only.
                closed = {
                    path
                    for path in dict.fromkeys(path for _, path, _ in requests)
                    if answer(client, ("get", path, {}), baseline)[0] in (403, 404)
                }
                for request in requests:
                    method, path, data = request
                    if path in closed and data and "arm" not in data:
                        continue
                    key = (moment.date(), method, path, repr(sorted(data.items())))
                    got = answer(client, request, baseline)
                    if arms == "as allocated":
                        seen[key] = got
                    else:
                        assert got == seen[key], f"{role} tells the arms apart at {key}"
    assert len(seen) > (60 if role == "patient" else 200)
