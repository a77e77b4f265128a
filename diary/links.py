"""Links that leave the site: in e-mails, a page's address is built from SITE_ROOT (the
public address), never from the Host header of whatever request is running."""

import os

from django.conf import settings
from django.urls import reverse


def public_url(viewname: str, *args, **kwargs) -> str:
    """The absolute address of a page for an e-mail, e.g. https://diary.example.org/diary/."""
    return settings.SITE_ROOT.rstrip("/") + reverse(
        viewname, args=args or None, kwargs=kwargs or None
    )


def links_note() -> str:
    """What a command that sends e-mails says about their links, so that links to the
    wrong address (SITE_ROOT left at its default) are seen at once."""
    root = settings.SITE_ROOT.rstrip("/")
    if os.getenv("SITE_ROOT"):
        return f"Links in e-mails point to {root} (SITE_ROOT)."
    return (
        f"Links in e-mails point to {root}, SITE_ROOT's default: set SITE_ROOT to the "
        "site's address (make run does) if the site is served elsewhere."
    )
