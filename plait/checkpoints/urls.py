"""Store URLs as text: their scheme, and :func:`redact`, the one place a store URL is made
printable (``postgresql://user:***@host/db``). Apart from location.py so that the PostgreSQL store,
which location.py opens, can print its own URL without importing location.py back.

Not plait.lm.secrets.safe_url: that one drops an LM endpoint's whole userinfo; a store URL keeps
its user name (which store it is matters to whoever reads the message), and only the password goes.
"""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

HIDDEN = "***"
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.\-]*)://")


def scheme_of(store: str | Path) -> str | None:
    """The URL scheme of ``store`` (lower case), None for a path."""
    match = _SCHEME.match(store) if isinstance(store, str) else None
    return match.group(1).lower() if match else None


def redact(url: str) -> str:
    """``url`` with its password hidden, in the userinfo and in a ``password=`` parameter."""
    if scheme_of(url) is None:
        return url
    parts = urlsplit(url)
    netloc = parts.netloc
    if parts.password is not None:
        user, _, host = netloc.rpartition("@")
        netloc = f"{user.partition(':')[0]}:{HIDDEN}@{host}"
    query = parse_qsl(parts.query, keep_blank_values=True)
    if any(k.lower() == "password" for k, _ in query):
        query = urlencode([(k, HIDDEN if k.lower() == "password" else v) for k, v in query], safe="/:*,")
    else:
        query = parts.query
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))
