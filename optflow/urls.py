"""Masking secrets in storage and tracking URLs, and in any text or log line that may hold one, before it is shown.

A URL's secrets are the password of its user info (`user:secret@`), a bare token as the user info
(`https://token@host`), and the values of password- or token-like query keys (`?sslpassword=`, `?token=`).
Masking errs on the side of hiding: a password holding `/` is hidden whole (an `@` in a password must be
written `%40`, as SQLAlchemy and libpq also end the user info at the first `@`).
"""

from __future__ import annotations

import logging
import re
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

MASK = "***"
# A query key is secret when it contains one of these (password, sslpassword, access_token, api_key, ...).
_SECRET_KEY_PARTS = ("pass", "pwd", "secret", "token", "apikey", "api_key", "credential", "signature")
# scheme://userinfo@ : the user info runs to the first '@', across any '/' (a password may hold one).
_USERINFO = re.compile(r"(?P<scheme>[a-zA-Z][\w+.-]*://)(?P<userinfo>[^\s'\"<>@]*)@")
_URL = re.compile(r"[a-zA-Z][\w+.-]*://[^\s'\"<>]+")


def _secret_key(key: str) -> bool:
    key = key.lower()
    return any(part in key for part in _SECRET_KEY_PARTS)


def _mask_userinfo(match: re.Match) -> str:
    user, sep, _ = match["userinfo"].partition(":")
    if not sep:
        return f"{match['scheme']}{MASK}@" if _bare_secret(match["scheme"], user) else match[0]
    return f"{match['scheme']}{user}:{MASK}@"


def _bare_secret(scheme: str, user: str) -> bool:
    """Whether a user info without a password is a secret: over HTTP it is a token (`https://token@host`); a
    database URL's lone user name (`postgresql://postgres@db`) is not, unless it looks like a token."""
    return scheme.lower().startswith("http") or len(user) >= 20 or bool(re.search(r"[^\w.-]", user))


def mask_password(url: str | None) -> str:
    """`postgresql://u:secret@h/db` -> `postgresql://u:***@h/db`; also masks tokens and secret query values."""
    if not url:
        return url or ""
    masked = _USERINFO.sub(_mask_userinfo, url)
    try:
        parts = urlsplit(masked)
    except ValueError:
        return masked
    if not parts.query or not any(_secret_key(k) for k, _ in parse_qsl(parts.query, True)):
        return masked
    query = [(k, MASK if _secret_key(k) else v) for k, v in parse_qsl(parts.query, True)]
    return urlunsplit(parts._replace(query=urlencode(query, safe="*")))


def mask_text(text: str) -> str:
    """`text` with every URL in it masked (an error message, a log line, a traceback)."""
    return _URL.sub(lambda m: mask_password(m[0]), text) if "://" in text else text


def brief_error(error: BaseException) -> str:
    """An error in a few words, masked: `Connection refused`, not a page of retry details with a password. The
    innermost cause speaks (`database or disk is full`, not the wrapper's "an exception is raised")."""
    while (inner := error.__cause__ or error.__context__) is not None and inner is not error:
        if type(inner).__name__ == "_RemoteTraceback":  # a process pool's copy of the traceback, as text
            break
        error = inner
    text = mask_text(str(error))
    errno = re.search(r"\[Errno -?\d+\] ([^'\")\]]+)", text)
    if errno:
        return errno.group(1).strip()
    return text.splitlines()[0][:200] if text.strip() else type(error).__name__


def secrets_in(url: str | None) -> list[str]:
    """The secret substrings `mask_password` hides, so tests and logs can check they never appear."""
    if not url:
        return []
    found = []
    for match in _USERINFO.finditer(url):
        user, sep, password = match["userinfo"].partition(":")
        if sep and password:
            found.append(password)
        elif not sep and user and _bare_secret(match["scheme"], user):
            found.append(user)
    try:
        query = urlsplit(url).query
    except ValueError:
        return found
    return found + [v for k, v in parse_qsl(query, True) if _secret_key(k) and v]


class MaskSecrets(logging.Filter):
    """A logging filter that masks URLs in every record, ours and the libraries' (MLflow, urllib3, SQLAlchemy)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.args:
            record.msg, record.args = record.getMessage(), ()
        if isinstance(record.msg, str):
            record.msg = mask_text(record.msg)
        if record.exc_info and record.exc_info[1] is not None:
            record.exc_text = mask_text(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
        return True


def mask_logging() -> None:
    """Install `MaskSecrets` on every handler of the root logger (call after `logging.basicConfig`)."""
    for handler in logging.getLogger().handlers:
        if not any(isinstance(f, MaskSecrets) for f in handler.filters):
            handler.addFilter(MaskSecrets())
