"""The benchmarks' HTTP client: one person at a browser, talking to the gunicorn of
`data.gunicorn` on loopback (a development tool, not part of the app).

    browser = Browser(server.port)
    browser.post("/accounts/login/", {"username": ..., "password": ...})  # CSRF taken
    page = browser.get("/physician/cohort/")                               # redirects followed

`request` is the plain round trip (status, headers, text; redirects not followed) for a
benchmark that checks each answer itself (benchmarks/bench_save.py). Each request opens
a new connection and asks for it to be closed (Connection: close, as a proxy without
upstream keep-alive opens them); the cookies the server sets are kept and sent back.
`behind_https_proxy` adds X-Forwarded-Proto: https, as the load balancer in front of
the app sets it, and makes the Origin and Referer of a form https.
"""

from __future__ import annotations

import http.client
import re
from http.cookies import SimpleCookie
from urllib.parse import urlencode, urljoin, urlsplit

CSRF_RE = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')
REDIRECTS = (301, 302, 303)


class UnexpectedAnswer(Exception):
    pass


class Browser:
    """One person's cookies and headers, over a new loopback connection per request."""

    def __init__(
        self,
        port: int,
        *,
        behind_https_proxy: bool = False,
        headers: dict[str, str] | None = None,
        timeout: float = 60,
    ) -> None:
        self.port = port
        self.base = f"http://127.0.0.1:{port}"
        self.origin = f"{'https' if behind_https_proxy else 'http'}://127.0.0.1:{port}"
        self.headers = {
            **({"X-Forwarded-Proto": "https"} if behind_https_proxy else {}),
            "Connection": "close",
            **(headers or {}),
        }
        self.timeout = timeout
        self.cookies: dict[str, str] = {}

    def request(self, method: str, path: str, form: dict | None = None):
        """One round trip: (status, headers, text); a redirect is answered, not followed."""
        headers = dict(self.headers)
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        body = None
        if form is not None:
            body = urlencode(form)
            headers["Content-Type"] = "application/x-www-form-urlencoded"
            headers["Origin"] = self.origin
            headers["Referer"] = self.origin + path
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=self.timeout)
        try:
            connection.request(method, path, body=body, headers=headers)
            response = connection.getresponse()
            text = response.read().decode("utf-8", "replace")
            for header in response.headers.get_all("Set-Cookie") or []:
                cookie = SimpleCookie()
                cookie.load(header)
                for name, morsel in cookie.items():
                    if morsel["max-age"] == "0" or (morsel["expires"] and not morsel.value):
                        self.cookies.pop(name, None)
                    else:
                        self.cookies[name] = morsel.value
            return response.status, response.headers, text
        finally:
            connection.close()

    def get(self, path: str) -> str:
        """The page at `path`, after any redirects; an error status raises."""
        return self._followed(path, *self.request("GET", path))

    def post(self, path: str, fields: dict) -> str:
        """Open the form at `path` and send `fields` with its CSRF token; the page it
        leads to, after any redirects."""
        page = self.get(path)
        token = CSRF_RE.search(page)
        if token is None:
            raise UnexpectedAnswer(f"no form with a CSRF token at {path}")
        form = {"csrfmiddlewaretoken": token.group(1), **fields}
        return self._followed(path, *self.request("POST", path, form))

    def _followed(self, path: str, status: int, headers, text: str) -> str:
        for _ in range(10):
            if status not in REDIRECTS:
                break
            target = urlsplit(urljoin(self.base + path, headers["Location"]))
            path = target.path + (f"?{target.query}" if target.query else "")
            status, headers, text = self.request("GET", path)
        if status >= 300:
            raise UnexpectedAnswer(f"GET {path}: {status}")
        return text
