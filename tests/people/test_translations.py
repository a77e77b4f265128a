"""The patient side and its e-mails in English and Spanish.

Every patient page is rendered in both languages and compared text by text: a piece of
text that comes out the same in Spanish is a string someone forgot to mark or to
translate, and the test names it.
"""

import datetime as dt
import gettext
import re
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import time_machine
from django.conf import settings
from django.core import mail
from django.template.loader import render_to_string
from django.utils import translation

from diary.entries import reminders
from diary.queries import rules as queries
from diary.signoff import locking
from diary.trial.invitations import invitation_link
from tests.factories import (
    CoordinatorFactory,
    EnrollmentFactory,
    EntryFactory,
    PatientFactory,
    make_arm,
)

pytestmark = pytest.mark.django_db

PO = Path(settings.BASE_DIR) / "locale" / "es" / "LC_MESSAGES" / "django.po"
MO = PO.with_suffix(".mo")

# Text that is the same in both languages on purpose.
SAME_IN_BOTH = {
    "LDN",  # the drug's name
    "Placebo",
    "No",
    "English",  # each language is named in itself
    "Español",
    "America/Los_Angeles",
}


class TextCollector(HTMLParser):
    """The text a reader sees or hears: text nodes and the attributes read out."""

    READ_ATTRIBUTES = {"title", "aria-label", "placeholder", "alt", "data-label"}

    def __init__(self):
        super().__init__()
        self.texts, self.skip = [], 0

    def handle_starttag(self, tag, attrs):
        if tag in ("script", "style"):
            self.skip += 1
        for name, value in attrs:
            is_button_text = (
                tag == "input"
                and name == "value"
                and dict(attrs).get("type") in ("submit", "button")
            )
            if value and (name in self.READ_ATTRIBUTES or is_button_text):
                self.texts.append(value)

    def handle_endtag(self, tag):
        if tag in ("script", "style"):
            self.skip -= 1

    def handle_data(self, data):
        if not self.skip:
            self.texts.append(data)


def texts(content: str) -> set[str]:
    collector = TextCollector()
    collector.feed(content)
    pieces = (" ".join(text.split()) for text in collector.texts)
    return {piece for piece in pieces if re.search(r"[A-Za-z]{2}", piece)}


def untranslated(english: str, spanish: str, allowed=()) -> set[str]:
    same = texts(english) & texts(spanish)
    return {text for text in same if text not in SAME_IN_BOTH and text not in allowed}


@pytest.fixture
def enrollment():
    arm = make_arm([("baseline", 14), ("ldn", 84)], blinding="single")
    today = dt.date.today()
    enrollment = EnrollmentFactory(
        arm=arm, protocol=arm.protocol, start_date=today - dt.timedelta(days=20)
    )
    for back in (2, 3, 5):
        EntryFactory(enrollment=enrollment, date=enrollment.local_today() - dt.timedelta(back))
    return enrollment


def both(client, method, url, data=None):
    pages = []
    for language in ("en", "es"):
        call = getattr(client, method)
        response = call(url, data or {}, HTTP_ACCEPT_LANGUAGE=language, follow=method == "get")
        assert response.status_code in (200, 400, 403, 404), (url, response.status_code)
        pages.append(response.content.decode())
    return pages


def test_every_patient_page_is_translated(client, enrollment):
    patient = enrollment.patient
    notes = "x" * 1001
    own = {enrollment.study_id, patient.username, patient.email, notes}  # hers, not ours
    today = enrollment.local_today()
    anonymous_pages = [
        ("get", "/accounts/login/", None),
        ("post", "/accounts/login/", {"username": "nobody", "password": "wrong"}),
        ("get", "/accounts/password_reset/", None),
        ("get", "/accounts/password_reset/done/", None),
        ("get", urlsplit(invitation_link(patient)).path, None),
        ("get", f"/reminders/{reminders.reminder_link_token(enrollment)}/", None),
        ("post", f"/reminders/{reminders.reminder_link_token(enrollment)}/", {"action": "?"}),
        ("get", "/no-such-page/", None),
    ]
    problems = {}
    for method, url, data in anonymous_pages:
        if found := untranslated(*both(client, method, url, data), allowed=own):
            problems[f"{method} {url}"] = found
    client.force_login(patient)
    patient_pages = [
        ("get", "/diary/", None),
        ("post", "/diary/", {"pain": "11", "notes": notes}),  # validation errors
        ("get", f"/diary/{today - dt.timedelta(days=1)}/", None),  # a past day, open
        ("get", f"/diary/{today - dt.timedelta(days=3)}/", None),  # locked, with its entry
        ("get", f"/diary/{today - dt.timedelta(days=30)}/", None),  # before the start
        ("get", "/diary/history/", None),
        ("get", "/diary/settings/", None),
        ("post", "/diary/settings/", {"reminder_time": "nope", "language": "xx"}),
    ]
    for method, url, data in patient_pages:
        if found := untranslated(*both(client, method, url, data), allowed=own):
            problems[f"{method} {url}"] = found
    assert problems == {}


def test_the_questions_of_her_study_team_are_translated(client, enrollment):
    """Her questions, a question waiting for her answer (with an error), an answered and
    a closed one, and her diary once it is locked."""
    patient = enrollment.patient
    physician = enrollment.physician
    today = enrollment.local_today()
    texts = {"Was this day right?", "Please check.", "Yes it was", "Resolved"}
    waiting = queries.raise_query(
        enrollment, physician, text="Was this day right?", date=today - dt.timedelta(days=3)
    )
    answered = queries.raise_query(
        enrollment, physician, text="Please check.", date=today - dt.timedelta(days=2)
    )
    queries.answer_query(answered, patient, "Yes it was")
    closed = queries.raise_query(
        enrollment, physician, text="Please check.", date=today - dt.timedelta(days=1)
    )
    queries.answer_query(closed, patient, "Yes it was")
    queries.close_query(closed, physician, "Resolved")
    own = {enrollment.study_id, patient.username, patient.email, *texts}
    client.force_login(patient)
    problems = {}
    for method, url, data in [
        ("get", "/diary/questions/", None),
        ("get", f"/diary/questions/{waiting.pk}/", None),
        ("post", f"/diary/questions/{waiting.pk}/", {"answer": ""}),
        ("get", f"/diary/questions/{answered.pk}/", None),
        ("get", f"/diary/questions/{closed.pk}/", None),
        ("get", "/diary/", None),
    ]:
        if found := untranslated(*both(client, method, url, data), allowed=own):
            problems[f"{method} {url}"] = found
    assert problems == {}
    enrollment.status = "completed"
    enrollment.save()
    locking.lock_enrollment(enrollment, CoordinatorFactory(), override_reason="Analysis")
    for url in ("/diary/", f"/diary/questions/{waiting.pk}/"):
        spanish = client.get(url, HTTP_ACCEPT_LANGUAGE="es").content.decode()
        assert "ha bloqueado su diario" in spanish, url


def test_a_patient_without_an_enrollment_gets_a_translated_page(client):
    patient = PatientFactory()
    client.force_login(patient)
    assert untranslated(*both(client, "get", "/diary/"), allowed={patient.username}) == set()


def test_the_emails_are_translated(enrollment):
    patient = enrollment.patient
    rendered = {}
    for language in ("en", "es"):
        with translation.override(language):
            context = {
                "user": patient,
                "patient": patient,
                "enrollment": enrollment,
                "day": dt.date(2026, 1, 10),
                "days": 3,
                "link": "L",
                "today_link": "T",
                "settings_link": "S",
                "snooze_days": 7,
                "site_root": "R",
                "uid": "u",
                "token": "t",
                "protocol": "https",
                "domain": "d",
            }
            rendered[language] = {
                name: render_to_string(name, context)
                for name in (
                    "diary/email/reminder.txt",
                    "diary/email/reminder_subject.txt",
                    "diary/email/invitation.txt",
                    "diary/email/invitation_subject.txt",
                    "registration/password_reset_email.html",
                    "registration/password_reset_subject.txt",
                    "diary/email/query.txt",
                    "diary/email/query_subject.txt",
                )
            }
    for name, english in rendered["en"].items():
        spanish = rendered["es"][name]
        english_lines = {line.strip() for line in english.splitlines() if line.strip()}
        spanish_lines = {line.strip() for line in spanish.splitlines() if line.strip()}
        same = {
            line
            for line in english_lines & spanish_lines
            if re.search(r"[A-Za-z]{2}", line) and "://" not in line
        }
        assert same == set(), name


def test_the_browser_language_picks_spanish_and_the_switch_remembers_it(client, enrollment):
    client.force_login(enrollment.patient)
    page = client.get("/diary/", HTTP_ACCEPT_LANGUAGE="es-MX,es;q=0.9").content.decode()
    assert '<html lang="es">' in page
    response = client.post("/i18n/setlang/", {"language": "es", "next": "/diary/history/"})
    assert response.status_code == 302
    assert response["Location"] == "/diary/history/"
    assert client.cookies["django_language"].value == "es"
    enrollment.patient.refresh_from_db()
    assert enrollment.patient.language == "es"
    # The cookie wins over an English browser.
    page = client.get("/diary/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert '<html lang="es">' in page


def test_signing_in_remembers_the_browser_language_for_her_emails(client):
    patient = PatientFactory()
    client.post(
        "/accounts/login/",
        {"username": patient.username, "password": "correct-horse-battery"},
        HTTP_ACCEPT_LANGUAGE="es",
    )
    patient.refresh_from_db()
    assert patient.language == "es"


def test_a_language_other_than_english_or_spanish_is_refused_and_never_stored(client, enrollment):
    client.force_login(enrollment.patient)
    for language in ("xx", "de", "fr", ""):
        response = client.post("/i18n/setlang/", {"language": language, "next": "/"})
        assert response.status_code == 400
        assert "Choose English or Spanish." in response.content.decode()
        assert "django_language" not in response.cookies
    enrollment.patient.refresh_from_db()
    assert enrollment.patient.language in ("", "en")
    # A language stored before this rule does not break her reminders.
    type(enrollment.patient).objects.filter(pk=enrollment.patient.pk).update(language="de")
    with time_machine.travel(dt.datetime.now(enrollment.zoneinfo).replace(hour=21), tick=False):
        assert reminders.send_due_reminders().sent == 1
    assert "Pain Diary" in mail.outbox[0].body


def test_a_reminder_in_spanish_reads_in_spanish(enrollment):
    enrollment.patient.language = "es"
    enrollment.patient.save()
    with time_machine.travel(dt.datetime.now(enrollment.zoneinfo).replace(hour=21), tick=False):
        reminders.send_due_reminders()
    body = mail.outbox[0].body
    assert "Diario" in body
    assert "You have not" not in body


# The catalog itself ----------------------------------------------------------------


def po_entries(path: Path) -> list[dict]:
    """msgctxt / msgid / msgid_plural / msgstr[n] of each entry, with its flags."""
    entries, entry, key = [], None, None
    for line in path.read_text(encoding="utf-8").splitlines() + [""]:
        if not line.strip():
            if entry and entry.get("msgid"):
                entries.append(entry)
            entry, key = None, None
            continue
        entry = entry if entry is not None else {"flags": "", "msgstr": {}}
        if line.startswith("#,"):
            entry["flags"] += line
        elif line.startswith("#"):
            continue
        elif line.startswith('"'):
            value = line[1:-1]
            if isinstance(key, int):
                entry["msgstr"][key] += value
            else:
                entry[key] += value
        else:
            word, _, rest = line.partition(" ")
            value = rest[1:-1]
            match = re.fullmatch(r"msgstr\[(\d)\]", word)
            if match:
                key = int(match.group(1))
                entry["msgstr"][key] = value
            elif word == "msgstr":
                key = 0
                entry["msgstr"][0] = value
            else:
                key = word
                entry[key] = value
    return entries


def test_every_message_of_the_catalog_is_translated_and_compiled():
    entries = po_entries(PO)
    assert len(entries) > 100
    fuzzy = [e["msgid"] for e in entries if "fuzzy" in e["flags"]]
    empty = [e["msgid"] for e in entries if not all(e["msgstr"].values())]
    assert fuzzy == []
    assert empty == []
    with MO.open("rb") as handle:
        compiled = gettext.GNUTranslations(handle)
    for entry in entries:
        msgid = entry["msgid"].encode().decode("unicode_escape").encode("latin-1").decode()
        if "msgctxt" in entry:
            context = entry["msgctxt"]
            assert compiled.pgettext(context, msgid) != msgid or msgid in SAME_IN_BOTH, msgid
        elif "msgid_plural" in entry:
            plural = entry["msgid_plural"].encode().decode("unicode_escape")
            assert compiled.ngettext(msgid, plural, 2) != plural, f"{msgid} is not compiled"
        else:
            translated = compiled.gettext(msgid)
            assert translated != msgid or msgid in SAME_IN_BOTH, f"{msgid} is not compiled"


def test_the_pain_chart_keeps_decimal_points_in_spanish(client, enrollment):
    client.force_login(enrollment.patient)
    page = client.get("/diary/", HTTP_ACCEPT_LANGUAGE="es").content.decode()
    svg = page[page.index("<svg") : page.index("</svg>")]
    coordinates = re.findall(r'\s(?:x|y|x1|x2|y1|y2|cx|cy|width|height)="([^"]*)"', svg)
    assert len(coordinates) > 10
    assert all(re.fullmatch(r"-?\d+(\.\d+)?", value) for value in coordinates), coordinates


def test_staff_pages_stay_in_english_for_a_spanish_browser(client, enrollment):
    client.force_login(enrollment.physician)
    page = client.get("/physician/", HTTP_ACCEPT_LANGUAGE="es").content.decode()
    assert '<html lang="en">' in page
    assert "Sign out" in page
    assert "Español" not in page  # no language switch on staff pages
