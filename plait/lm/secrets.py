"""Credentials kept out of everything plait writes or shows (DESIGN.md contract 10).

A credential reaches an LM call three ways: as an argument (``api_key=``, an ``Authorization``
header, any keyword whose name says key, token, secret or password), from an environment
variable (``OPENAI_API_KEY``: DSPy and LiteLLM read it; plait never sees it passed), or as the
userinfo of a URL (``api_base="http://user:pass@host/v1"``, ``HTTPS_PROXY``). A provider may
quote any of them back in an error. A :class:`Scrubber` knows all three for one LM, and the
shapes of the credentials nobody told it about (``Bearer ...``, ``sk-...``, ``user:pass@`` in a
URL, ``api_key=...``). The LM call wrapper (``plait/runtime/calls.py``) passes every error and
reply of every LM through one, so the journal, the events, the logs and the exceptions read
``[redacted:OPENAI_API_KEY]`` where the key was.

:func:`redact` is the other half: it makes a set of LM kwargs printable (reprs), by name.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, replace
from typing import Any, Iterable, Iterator, Mapping
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit, urlunsplit

from dspy.lm15 import registered_providers

from plait.lm.protocol import LMError, LMResponse

REDACTED = "***"
# A keyword that holds a credential. "token" but not "tokens": max_tokens and budget_tokens are
# limits, access_token is a credential; OpenAI's prompt_cache_key is a routing hint.
_SENSITIVE = re.compile(r"(?<!cache_)key|secret|passw|auth|credential|cookie|session|signature|token(?!s(?:_|$))",
                        re.I)
# An environment variable that holds a credential, by its name: OPENAI_API_KEY, HF_TOKEN,
# ANTHROPIC_AUTH_TOKEN, AWS_SECRET_ACCESS_KEY, AWS_BEARER_TOKEN_BEDROCK, WATSONX_APIKEY,
# SMTP_PASSWORD. tests/integration/test_secrets.py checks it against the variables LiteLLM's and
# DSPy's provider tables name, so that a provider added upstream with an odd name fails a test.
_CREDENTIAL_VARIABLE = re.compile(r"APIKEY|(?:^|_)(?:KEY|TOKEN|SECRET|PASSWORD|PASSWD|PASS|CREDENTIALS?)(?:_|$)",
                                  re.I)
# Names like a credential's that hold where to find one, or a setting: their values are not secret.
_NOT_A_CREDENTIAL = re.compile(r"_(?:FILE|PATH|DIR|URL|URI|ENDPOINT|HOST|PORT|ENABLED|VERSION|NAME)$", re.I)
_MIN_GIVEN = 4  # api_key="..." or a URL's password is a credential however short
_MIN_AMBIENT = 8  # a variable this short is a flag or a number (TOKEN_LIMIT=1000), not a key
_MIN_LONE_USER = 16  # http://TOKEN@host: a userinfo without a password is a token only when long
# A reply is the user's data: a value this short is likelier a word of an answer than a quoted key,
# so replies lose only longer ones (errors lose them all).
_MIN_IN_REPLY = 12
_URL = re.compile(r"[a-z][a-z0-9+.-]*://[^\s'\"<>]+", re.I)
_AUTH_SCHEME = re.compile(r"(?i)^(?:bearer|basic|token)\s+")

# The shapes of credentials the scrubber was not told about, each with why it is one.
_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    # userinfo in a URL: http://user:pass@host, http://TOKEN@host
    (re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^\s/?#@'\"<>\[\]]+@"), r"\1[redacted:userinfo]@"),
    # user:pass@host without a scheme, as HTTP transports print the host they could not reach
    (re.compile(r"(?<![\w:/@.%+\[-])[\w.%+-]+:[^\s/?#@'\"<>:\[\]]+@(?=[\w.-])"), "[redacted:userinfo]@"),
    # an Authorization header's value
    (re.compile(r"(?i)\b(bearer|basic)(\s+)[\w.~+/=-]{8,}"), r"\1\2[redacted:token]"),
    # provider key formats: OpenAI and Anthropic sk-, Groq gsk_, xAI xai-, Hugging Face hf_,
    # Replicate r8_, GitHub ghp_/github_pat_, Google AIza
    (re.compile(r"\b(?:sk|gsk|xai|hf|r8|ghp|gho|github_pat)[-_][\w-]{16,}|\bAIza[\w-]{30,}"), "[redacted:key]"),
    # name=value and "name": "value" for credential names, and credential query parameters
    (re.compile(r"(?i)((?:\b|_)(?:api[_-]?key|apikey|access[_-]?token|auth[_-]?token|refresh[_-]?token|"
                r"client[_-]?secret|secret[_-]?key|password|passwd)[\"']?\s*[:=]\s*[\"']?|"
                r"[?&](?:key|token|sig|signature|secret)=)[^\s\"',;&}<>\[\]]{4,}"), r"\1[redacted:value]"),
)


@dataclass(frozen=True)
class Secret:
    """A credential's value and where it came from (a keyword, a variable, a URL's userinfo)."""

    value: str
    source: str

    @property
    def marker(self) -> str:
        return f"[redacted:{self.source}]"


class Scrubber:
    """Removes credentials from text and exceptions.

    Example::

        scrubber = Scrubber.for_lm(lm)     # lm's arguments, the environment, URL userinfo
        scrubber.text("Incorrect API key provided: sk-abc...")   # '... [redacted:OPENAI_API_KEY]'
    """

    def __init__(self, secrets: Iterable[Secret]) -> None:
        by_value: dict[str, Secret] = {}
        for secret in secrets:
            by_value.setdefault(secret.value, secret)  # an argument is named before the environment
        # Longest first: a key that contains another is replaced whole.
        self.secrets = sorted(by_value.values(), key=lambda s: -len(s.value))

    @classmethod
    def for_lm(cls, lm: Any, environ: Mapping[str, str] = os.environ) -> Scrubber:
        """Every credential ``lm`` could use: its arguments (``lm.credentials()``, when it has
        one), the environment's credentials, and the userinfo of every URL among them."""
        credentials = getattr(lm, "credentials", None)
        arguments = credentials() if callable(credentials) else {}
        return cls([*argument_secrets(arguments), *environment_secrets(environ)])

    def known(self, text: str, minimum: int = 0) -> str:
        """``text`` without the credentials this scrubber knows by value (those of at least
        ``minimum`` characters)."""
        for secret in self.secrets:
            if len(secret.value) >= minimum and secret.value in text:
                text = text.replace(secret.value, secret.marker)
        return text

    def text(self, text: str) -> str:
        """``text`` without the known credentials, nor anything shaped like a credential."""
        text = self.known(text)
        for pattern, replacement in _PATTERNS:
            text = pattern.sub(replacement, text)
        return text

    def reply(self, response: LMResponse) -> LMResponse:
        """``response`` without a known credential in its text; nothing else of it changes."""
        text = self.known(response.text, _MIN_IN_REPLY)
        return response if text == response.text else replace(response, text=text)

    def leaks(self, exc: BaseException) -> bool:
        """Does ``exc`` or an exception in its chain quote a credential (message or args)?"""
        return any(self.text(text) != text for error in chain(exc) for text in _texts(error))

    def error(self, exc: Exception, transient: bool) -> Exception:
        """``exc`` when it quotes no credential; else an :class:`LMError` with its message
        scrubbed (``transient``: whether retrying may help) and no chain, since the chain is
        where the quote is."""
        if not self.leaks(exc):
            return exc
        if isinstance(exc, LMError):
            return LMError(self.text(str(exc)), transient=exc.transient, retry_after=exc.retry_after)
        return LMError(f"{type(exc).__name__}: {self.text(str(exc))}", transient=transient)


def argument_secrets(kwargs: Mapping[str, Any], prefix: str = "") -> Iterator[Secret]:
    """The credentials among LM keyword arguments: by name, nested mappings and URLs included."""
    for name, value in kwargs.items():
        label = f"{prefix}{name}"
        if isinstance(value, Mapping):
            yield from argument_secrets(value, f"{label}.")
        elif isinstance(value, str):
            if is_sensitive(name):
                yield from _credential(value, label, _MIN_GIVEN)
            yield from url_secrets(value, label)


def environment_secrets(environ: Mapping[str, str]) -> Iterator[Secret]:
    """The credentials in the environment: variables named like one or declared by a provider
    registered with DSPy, and the userinfo of every URL in a variable (``HTTPS_PROXY``)."""
    declared = {name for provider in registered_providers() for name in provider.definition.env_keys}
    for name, value in environ.items():
        if "://" in value:
            yield from url_secrets(value, name)
        elif name in declared:
            yield from _credential(value, name, _MIN_GIVEN)
        elif is_credential_variable(name):
            yield from _credential(value, name, _MIN_AMBIENT)


def is_credential_variable(name: str) -> bool:
    """Does an environment variable of this name hold a credential (``OPENAI_API_KEY``, ``HF_TOKEN``)?"""
    return bool(_CREDENTIAL_VARIABLE.search(name)) and not _NOT_A_CREDENTIAL.search(name)


def url_secrets(text: str, label: str) -> Iterator[Secret]:
    """The userinfo password (or a lone userinfo token) and credential query values of URLs in ``text``."""
    for url in _URL.findall(text) if "://" in text else ():
        try:
            parts = urlsplit(url)
        except ValueError:  # not a URL after all ("http://[not-an-ipv6]/"): the shapes still apply
            continue
        userinfo = parts.netloc.rpartition("@")[0]
        user, _, password = userinfo.partition(":")
        if password:
            yield from _credential(password, f"{label} userinfo", _MIN_GIVEN)
        elif user:
            yield from _credential(user, f"{label} userinfo", _MIN_LONE_USER)
        for key, value in parse_qsl(parts.query, keep_blank_values=True):
            if is_sensitive(key):
                yield from _credential(value, f"{label} {key}", _MIN_GIVEN)


def _credential(value: str, source: str, minimum: int) -> Iterator[Secret]:
    value = value.strip()
    token = _AUTH_SCHEME.sub("", value)  # "Bearer sk-..." is quoted with or without its scheme
    for form in {value, token, unquote(value), unquote(token)}:
        if len(form) >= minimum and not any(c.isspace() for c in form):
            yield Secret(form, source)


def chain(exc: BaseException) -> Iterator[BaseException]:
    """``exc`` and its causes and contexts, each once."""
    seen: set[int] = set()
    error: BaseException | None = exc
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        yield error
        error = error.__cause__ or error.__context__


def _texts(error: BaseException) -> Iterator[str]:
    yield str(error)
    yield from (arg for arg in error.args if isinstance(arg, str))


# --- printable kwargs ---------------------------------------------------------------------------
def redact(kwargs: Mapping[str, Any]) -> dict[str, Any]:
    """A printable copy of LM kwargs: credentials masked, nested mappings and URLs included.

    Example::

        redact({"api_key": "sk-...", "temperature": 0.0, "headers": {"Authorization": "Bearer ..."}})
        # {'api_key': '***', 'temperature': 0.0, 'headers': {'Authorization': '***'}}
    """
    return {name: REDACTED if is_sensitive(name) else _redact_value(value) for name, value in kwargs.items()}


def is_sensitive(name: Any) -> bool:
    """Does a keyword of this name hold a credential (``api_key``, ``access_token``, ``Authorization``)?"""
    return isinstance(name, str) and bool(_SENSITIVE.search(name))


def _redact_value(value: Any) -> Any:
    if isinstance(value, Mapping):
        return redact(value)
    if isinstance(value, (list, tuple)):
        return type(value)(_redact_value(v) for v in value)
    if isinstance(value, str) and "://" in value:
        return safe_url(value)
    return value


def safe_url(url: str) -> str:
    """``url`` without its userinfo, and with credential-looking query parameters masked."""
    parts = urlsplit(url)
    netloc = parts.netloc.rpartition("@")[2]
    pairs = parse_qsl(parts.query, keep_blank_values=True)
    query = urlencode([(k, REDACTED if is_sensitive(k) else v) for k, v in pairs])
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))
