"""Links that leave the site: in e-mails, a page's address is built from SITE_ROOT (the
public address), never from the Host header of whatever request is running."""

from django.conf import settings
from django.urls import reverse


def public_url(viewname: str, *args, **kwargs) -> str:
    """The absolute address of a page for an e-mail, e.g. https://diary.example.org/diary/."""
    return settings.SITE_ROOT.rstrip("/") + reverse(
        viewname, args=args or None, kwargs=kwargs or None
    )
