"""The scrubber (plait/lm/secrets.py): which credentials it knows, what it removes from text and
exceptions, and that it changes nothing else. The end-to-end greps are in
tests/integration/test_secrets.py."""

from __future__ import annotations

import re
import string

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

import plait
from plait.errors import TraceError
from plait.lm.dspy_lm import DSPyLM
from plait.lm.protocol import LMError, LMResponse
from plait.lm.secrets import Scrubber, Secret, argument_secrets, environment_secrets

KEY_ALPHABET = string.ascii_letters + string.digits + "-_.~+/"
secrets = st.text(KEY_ALPHABET, min_size=8, max_size=64)
# Text with no credential shape: no ':', '@' or '=' (userinfo, name=value), no scheme word.
plain = st.text(st.characters(blacklist_characters=":@=", blacklist_categories=("Cs",)), max_size=80)
SHAPE = re.compile(r"(?i)bearer|basic|sk|gsk|xai|hf|r8|gh|aiza")


def scrubber(value: str, source: str = "api_key") -> Scrubber:
    return Scrubber([Secret(value, source)])


@given(secrets, plain, plain)
def test_a_known_credential_anywhere_in_text_is_replaced_and_nothing_else_changes(secret, before, after):
    text = before + secret + after
    assume(text.find(secret) == len(before) and secret not in after and secret not in "[redacted:api_key]")
    assume(not SHAPE.search(before + after))
    assert scrubber(secret).text(text) == before + "[redacted:api_key]" + after
    assert scrubber(secret).known(text) == before + "[redacted:api_key]" + after


@given(secrets, st.text(max_size=60), st.text(max_size=60), st.integers(1, 3))
def test_no_copy_of_a_known_credential_survives_in_any_text(secret, before, after, copies):
    assume(secret not in "[redacted:api_key]")
    text = before + (secret + after) * copies
    for scrub in (scrubber(secret).text, scrubber(secret).known):
        assert secret not in scrub(text)
    assert scrubber(secret).text(scrubber(secret).text(text)) == scrubber(secret).text(text)


@given(plain)
def test_text_without_a_credential_or_its_shape_is_unchanged(text):
    assume(not SHAPE.search(text))
    assert Scrubber([]).text(text) == text


@pytest.mark.parametrize("text, scrubbed", [
    ("Incorrect API key provided: sk-proj-abcdefghijklmnop1234", "Incorrect API key provided: [redacted:key]"),
    ("upstream rejected Authorization: Bearer abc.DEF-ghi_jkl",
     "upstream rejected Authorization: Bearer [redacted:token]"),
    ("failed to connect to user:hunter22@10.0.0.1:8080: refused",
     "failed to connect to [redacted:userinfo]@10.0.0.1:8080: refused"),
    ("GET https://me:pw@host/v1?api_key=abcd1234&x=1",
     "GET https://[redacted:userinfo]@host/v1?api_key=[redacted:value]&x=1"),
    ('config {"api_key": "abcd1234", "model": "m"}', 'config {"api_key": "[redacted:value]", "model": "m"}'),
    ("password=hunter22 rejected", "password=[redacted:value] rejected"),
])
def test_credential_shapes_are_scrubbed_without_being_known(text, scrubbed):
    assert Scrubber([]).text(text) == scrubbed
    assert Scrubber([]).text(scrubbed) == scrubbed


@pytest.mark.parametrize("text", [
    "max_tokens=512", "the prompt has 9000 tokens; the context window is 8192", "mail a@b.com",
    "http://127.0.0.1:8000/v1/chat/completions", "Bearer of bad news", "ratio 3:4 at 12:30", "sk-learn",
    "HTTP 401 calling openai/gpt-4o-mini at http://localhost:11434/v1", "prompt_cache_key=abcd1234",
])
def test_ordinary_error_text_is_left_alone(text):
    assert Scrubber([]).text(text) == text


def test_the_arguments_credentials_are_known_by_name_in_nested_headers_and_url_userinfo():
    kwargs = {"api_key": "sk-one-123", "temperature": 0.5, "max_tokens": 64, "prompt_cache_key": "route-7",
              "headers": {"Authorization": "Bearer tok-two-456"}, "api_base": "http://me:p%40ss-three@h/v1"}
    found = {(s.value, s.source) for s in argument_secrets(kwargs)}
    assert found == {("sk-one-123", "api_key"), ("tok-two-456", "headers.Authorization"),
                     ("p%40ss-three", "api_base userinfo"), ("p@ss-three", "api_base userinfo")}


def test_the_environments_credentials_are_known_by_variable_name_and_url_userinfo():
    environ = {"OPENAI_API_KEY": "sk-env-0001", "HF_TOKEN": "hf_abcdefgh", "AWS_BEARER_TOKEN_BEDROCK": "bedrock-tok",
               "WATSONX_APIKEY": "watson-key", "HTTPS_PROXY": "http://proxy:proxy-pass@10.0.0.1:3128",
               "OPENAI_BASE_URL": "http://127.0.0.1:8000/v1", "LITELLM_KEY_ROTATION_ENABLED": "true",
               "AWS_WEB_IDENTITY_TOKEN_FILE": "/var/run/token", "HOME": "/root", "DB_PASSWORD": "short"}
    found = {(s.value, s.source) for s in environment_secrets(environ)}
    assert found == {("sk-env-0001", "OPENAI_API_KEY"), ("hf_abcdefgh", "HF_TOKEN"),
                     ("bedrock-tok", "AWS_BEARER_TOKEN_BEDROCK"), ("watson-key", "WATSONX_APIKEY"),
                     ("proxy-pass", "HTTPS_PROXY userinfo")}


def test_an_argument_is_named_before_the_environment_and_the_longest_value_goes_first():
    scrub = Scrubber([Secret("sk-abc", "OPENAI_API_KEY"), Secret("sk-abcdef", "api_key"), Secret("sk-abc", "api_key")])
    assert scrub.text("got sk-abcdef and sk-abc") == "got [redacted:api_key] and [redacted:OPENAI_API_KEY]"


def test_a_reply_loses_only_known_credentials_long_enough_not_to_be_a_word():
    scrub = Scrubber([Secret("sk-0123456789", "api_key"), Secret("pass", "api_base userinfo")])
    reply = LMResponse("the key is sk-0123456789; I passed; Bearer abcdefghijk")
    assert scrub.reply(reply).text == "the key is [redacted:api_key]; I passed; Bearer abcdefghijk"
    clean = LMResponse("nothing to hide")
    assert scrub.reply(clean) is clean


def test_an_error_quoting_a_credential_becomes_a_scrubbed_lm_error_without_its_chain():
    scrub = scrubber("sk-0123456789")
    try:
        try:
            raise ValueError("the provider said: bad key sk-0123456789")
        except ValueError as cause:
            raise LMError("authentication failed: see the cause", transient=True, retry_after=2.0) from cause
    except LMError as exc:
        error = exc
    clean = scrub.error(error, transient=False)
    assert isinstance(clean, LMError) and clean is not error
    assert str(clean) == "authentication failed: see the cause"
    assert clean.transient is True and clean.retry_after == 2.0
    assert clean.__cause__ is None and clean.__context__ is None
    refused = scrub.error(ConnectionError("cannot reach http://u:sk-0123456789@h"), transient=True)
    assert isinstance(refused, LMError) and refused.transient is True
    assert str(refused) == "ConnectionError: cannot reach http://u:[redacted:api_key]@h"
    unknown = Scrubber([]).error(ConnectionError("cannot reach http://u:sk-0123456789@h"), transient=True)
    assert str(unknown) == "ConnectionError: cannot reach http://[redacted:userinfo]@h"
    harmless = LMError("rate limited", transient=True)
    assert scrub.error(harmless, transient=True) is harmless


def test_an_lm_s_credentials_reach_its_scrubber_through_a_faulty_wrapper(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-from-the-environment")
    lm = plait.Faulty(DSPyLM("openai/m", api_key="sk-given-as-argument", api_base="http://u:base-pass@h/v1"))
    sources = {s.value: s.source for s in Scrubber.for_lm(lm).secrets}
    assert sources["sk-given-as-argument"] == "api_key" and sources["base-pass"] == "api_base userinfo"
    assert sources["sk-from-the-environment"] == "OPENAI_API_KEY"


def test_a_key_and_a_url_password_are_not_part_of_an_lm_s_identity_nor_of_its_repr():
    one = DSPyLM("openai/m", api_base="http://u:first-pass@h/v1", api_key="sk-first-key", temperature=0.2)
    two = DSPyLM("openai/m", api_base="http://u:other-pass@h/v1", api_key="sk-other-key", temperature=0.2)
    assert one.identity() == two.identity() and one.identity()["api_base"] == "http://h/v1"
    assert "first" not in repr(one) and "api_key='***'" in repr(one)


def test_predict_refuses_a_credential_given_as_a_decoding_setting():
    with pytest.raises(TraceError) as info:
        plait.Predict("question -> answer", temperature=0.1, api_key="sk-do-not-store")
    message = str(info.value)
    assert "Predict got a credential as a decoding setting: api_key" in message
    assert "test_secrets.py" in message and "plait.DSPyLM(model, api_key=...)" in message
    assert "sk-do-not-store" not in message
    assert plait.Predict("question -> answer", max_tokens=5, prompt_cache_key="route-1").settings["max_tokens"] == 5
