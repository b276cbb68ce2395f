"""Credentials never leave the agent: the one rule for showing a camera source, and a log filter behind it.

A camera URL often carries a password (`rtsp://admin:S3cret@host/stream`) or a token in its query
(`?user=admin&password=...`, `?token=...`), and logs go to the journal, which the `adm` group reads.
Everything that shows a source (log lines, error messages, MQTT payloads, command results) passes it
through `redact_source`; `RedactingFilter` applies the same rule to every URL in every log record, as a
second line of defence for messages that quote a URL from somewhere else (an OpenCV error, say).
"""

from __future__ import annotations

import logging
import re

MASK = "***"

SECRET_NAME_PARTS = ("pass", "pwd", "token", "key", "secret", "auth", "sig", "credential", "session", "cookie")
"""A query or path parameter whose name contains one of these (any case) holds a secret: `password`, `pwd`,
`passwd`, `access_token`, `api_key`, `apiKey`, `secret`, `auth`, `X-Amz-Signature`, `sessionid`, ...
Redacting a harmless parameter costs nothing; missing a secret one leaks it."""

_USERINFO = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)(?P<userinfo>[^/?#\s]*)@")
"""`scheme://userinfo@`: the authority ends at the first `/`, `?` or `#` (RFC 3986), and the userinfo at
its last `@`, so a password with an unencoded `@` is masked whole."""

_SECRET_PARAM = re.compile(
    r"(?P<name>[A-Za-z0-9_.\-]*(?:" + "|".join(SECRET_NAME_PARTS) + r")[A-Za-z0-9_.\-]*)=(?P<value>[^&;#\s]*)",
    re.IGNORECASE,
)
"""`name=value` where the name looks secret; the value runs to the next `&`, `;`, `#` or space. Matched in
the path too, for cameras that put `user=admin_password=..._channel=1` there."""

_URL = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://[^\s'\"<>]+")


def _mask_userinfo(match: re.Match[str]) -> str:
    user, colon, _password = match["userinfo"].partition(":")
    # `user:password@` keeps the user name; a bare `token@` is all secret.
    return f"{match['scheme']}{user}:{MASK}@" if colon else f"{match['scheme']}{MASK}@"


def redact_source(source: str) -> str:
    """`source` as it may be shown: URL credentials replaced by `***`; file paths and USB indices unchanged.

    `rtsp://admin:S3cret@cam/stream?token=abc&channel=1` -> `rtsp://admin:***@cam/stream?token=***&channel=1`.
    """
    if "://" not in source:
        return source
    return _SECRET_PARAM.sub(lambda m: f"{m['name']}={MASK}", _USERINFO.sub(_mask_userinfo, source))


def redact_text(text: str) -> str:
    """`text` with `redact_source` applied to every URL in it (for messages that quote a URL)."""
    return _URL.sub(lambda m: redact_source(m.group(0)), text) if "://" in text else text


class RedactingFilter(logging.Filter):
    """Rewrites each record's message (and traceback) with `redact_text` before any handler formats it."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = redact_text(message)
        if redacted != message:
            record.msg, record.args = redacted, ()
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact_text(record.exc_text)
        return True
