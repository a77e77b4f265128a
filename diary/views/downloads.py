"""The response every file download of the site is built with: the report PDF, the
export files, the codebook and the admin's audit trail CSV."""

from __future__ import annotations

from collections.abc import Iterable

from django.http import HttpResponse, StreamingHttpResponse


def download_response(
    content: bytes | Iterable[str], filename: str, content_type: str
) -> HttpResponse | StreamingHttpResponse:
    """`content` as an attachment named `filename`: bytes are sent whole, anything else
    (lines read as they are written) is streamed."""
    if isinstance(content, bytes):
        response = HttpResponse(content, content_type=content_type)
    else:
        response = StreamingHttpResponse(content, content_type=content_type)
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response
