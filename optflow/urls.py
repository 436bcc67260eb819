"""Masking secrets in storage and tracking URLs before they are logged anywhere."""

from __future__ import annotations

import re
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

MASK = "***"
_SECRET_QUERY_KEYS = {"password", "pass", "pwd", "token", "secret", "access_token", "api_key", "apikey"}
_USERINFO = re.compile(r"(?P<scheme>[a-zA-Z][\w+.-]*://)(?P<user>[^:/@]*):(?P<password>[^@/]*)@")


def mask_password(url: str | None) -> str:
    """`postgresql://u:secret@h/db` -> `postgresql://u:***@h/db`; also masks password-like query values."""
    if not url:
        return url or ""
    masked = _USERINFO.sub(lambda m: f"{m['scheme']}{m['user']}:{MASK}@", url)
    try:
        parts = urlsplit(masked)
    except ValueError:
        return masked
    if not parts.query:
        return masked
    query = [(k, MASK if k.lower() in _SECRET_QUERY_KEYS else v) for k, v in parse_qsl(parts.query, True)]
    return urlunsplit(parts._replace(query=urlencode(query, safe="*")))


def secrets_in(url: str | None) -> list[str]:
    """The secret substrings `mask_password` hides, so tests and logs can check they never appear."""
    if not url:
        return []
    found = [m["password"] for m in _USERINFO.finditer(url) if m["password"]]
    try:
        query = urlsplit(url).query
    except ValueError:
        return found
    return found + [v for k, v in parse_qsl(query, True) if k.lower() in _SECRET_QUERY_KEYS and v]
