"""Property tests on keys: stable when nothing that matters changed, changed when anything did."""

from hypothesis import given, settings
from hypothesis import strategies as st

import plait
from plait.checkpoints.keys import content_key, lm_identity_hash, replay_key, step_keys
from plait.hashing import sha256_hex, source_version
from plait.ir.fingerprint import node_fingerprint
from tests.programs import Chain4

texts = st.text(min_size=1, max_size=40)


def _fingerprints(compiled):
    return {n.id: n.fingerprint for n in compiled.plan.nodes}


def test_keys_are_stable_under_retracing():
    assert _fingerprints(plait.compile(Chain4())) == _fingerprints(plait.compile(Chain4()))


@settings(max_examples=30, deadline=None)
@given(instructions=texts)
def test_any_instruction_change_changes_exactly_that_node(instructions):
    base = plait.compile(Chain4())
    edited = base.update("chain4.n3", instructions="Continue." + instructions)
    before, after = _fingerprints(base), _fingerprints(edited)
    assert {k for k in before if before[k] != after[k]} == {"chain4.n3"}


@settings(max_examples=30, deadline=None)
@given(demo=st.dictionaries(st.sampled_from(["b", "c"]), texts, min_size=2))
def test_demos_change_the_key(demo):
    base = plait.compile(Chain4())
    edited = base.update("chain4.n3", demos=[demo])
    assert _fingerprints(base)["chain4.n3"] != _fingerprints(edited)["chain4.n3"]


@settings(max_examples=30, deadline=None)
@given(temperature=st.floats(0.01, 2.0))
def test_decoding_settings_change_the_key(temperature):
    base = plait.compile(Chain4())
    assert _fingerprints(base)["chain4.n1"] != _fingerprints(base.update("chain4.n1", temperature=temperature))["chain4.n1"]


@given(a=st.dictionaries(texts, texts), b=st.dictionaries(texts, texts))
def test_input_values_change_the_content_key(a, b):
    same = content_key("f", "lm", "chat", a) == content_key("f", "lm", "chat", b)
    assert same == (a == b)


def test_lm_identity_changes_the_content_key():
    one = lm_identity_hash(plait.ScriptedLM(dict, name="x").identity())
    two = lm_identity_hash(plait.ScriptedLM(dict, name="x", version="2").identity())
    assert content_key("f", one, "chat", {}) != content_key("f", two, "chat", {})
    assert content_key("f", one, "chat", {}) != content_key("f", one, "json", {})


STEP = '''
def f(x: str) -> str:
    """Join the thing."""
    y = x + "!"  # shout
    return y
'''

REFORMATTED = '''
def f(x:str)->str:
    # a comment moved here
    y = (x
         + "!")
    return y
'''

CHANGED = '''
def f(x: str) -> str:
    y = x + "?"
    return y
'''


def _version_of(source: str) -> str:
    return source_version(source)


def test_step_versions_ignore_comments_docstrings_and_formatting():
    assert _version_of(STEP) == _version_of(REFORMATTED)


def test_step_versions_change_with_the_logic():
    assert _version_of(STEP) != _version_of(CHANGED)


@settings(max_examples=25, deadline=None)
@given(constant=st.integers(), comment=st.text(alphabet="abc xyz", max_size=20))
def test_step_version_property(constant, comment):
    body = f"def f(x):\n    # {comment}\n    return x + {constant}\n"
    assert _version_of(body) == _version_of(f"def f(x):\n    return x + {constant}\n")
    assert _version_of(body) != _version_of(f"def f(x):\n    return x + {constant + 1}\n")


def test_explicit_step_version_overrides_the_source_hash():
    @plait.step(version="v7")
    def g(x: str) -> str:
        return x

    assert g.version == "v7"


def test_node_fingerprint_ignores_source_location_and_provenance():
    node = plait.compile(Chain4()).plan.node("chain4.n2")
    from plait.ir.source import SourceLoc

    moved = node.with_(source=SourceLoc("/elsewhere.py", 999))
    assert node_fingerprint(moved) == node_fingerprint(node)


@settings(max_examples=100, deadline=None)
@given(inputs=st.dictionaries(texts, st.one_of(texts, st.integers(), st.floats(), st.lists(texts, max_size=3))),
       site=st.one_of(st.none(), texts), adapter=st.one_of(st.none(), st.sampled_from(["chat", "json"])))
def test_step_keys_are_the_two_keys_computed_apart(inputs, site, adapter):
    """The executor writes the inputs' JSON once for both keys: the keys stay the ones stores hold."""
    assert step_keys("fp", "lm", adapter, inputs, site) == (content_key("fp", "lm", adapter, inputs, site),
                                                            replay_key("fp", inputs))


def test_keys_keep_their_recorded_values():
    """Keys written by earlier plait versions must be found again: pinned to their hex values."""
    inputs = {"question": "2+2?", "n": 3}
    assert content_key("fp", "lm", "chat", inputs) == sha256_hex('fp|lm|chat|{"n":3,"question":"2+2?"}')
    assert content_key("fp", "lm", None, inputs, "a.b") == sha256_hex('fp|lm||{"n":3,"question":"2+2?"}|site:a.b')
    assert replay_key("fp", inputs) == sha256_hex('replay|fp|{"n":3,"question":"2+2?"}')
