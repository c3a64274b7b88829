"""One rule per op: every Op has its IR rule, its runtime rule and its display style, and the
tables are what the printer, serializer, verifier and SVG actually consult."""

import pytest

from plait.display.styles import DEFAULT_STYLE, STYLES
from plait.ir.nodes import Op
from plait.ir.rules import DEFAULT_RULE, RULES
from plait.runtime.nodes import EXECUTOR_OPS, NodeRunner


def missing_rules() -> list[str]:
    """Each op without a rule, named with the table it is missing from."""
    missing = [f"plait.ir.rules.RULES[{op!r}]" for op in Op if op not in RULES]
    missing += [f"plait.display.styles.STYLES[{op!r}]" for op in Op if op not in STYLES]
    missing += [f"NodeRunner.run_{op.value} (plait/runtime/nodes.py)" for op in Op
                if not hasattr(NodeRunner, f"run_{op.value}") and op not in EXECUTOR_OPS]
    return missing


def test_every_op_has_a_rule_in_every_table():
    assert missing_rules() == [], "ops without their rules: " + ", ".join(missing_rules())


def test_a_new_op_without_rules_is_named_with_each_missing_table(monkeypatch):
    """The failure message of the test above, for an op added to the enum and nothing else."""
    monkeypatch.delitem(RULES, Op.RETRIEVE)
    monkeypatch.delitem(STYLES, Op.RETRIEVE)
    monkeypatch.delattr(NodeRunner, "run_retrieve")
    assert missing_rules() == ["plait.ir.rules.RULES[<Op.RETRIEVE: 'retrieve'>]",
                               "plait.display.styles.STYLES[<Op.RETRIEVE: 'retrieve'>]",
                               "NodeRunner.run_retrieve (plait/runtime/nodes.py)"]


def test_the_ops_the_executor_runs_itself_have_no_runner_method():
    """INPUT and LOOP are scheduled by the executor: a stray run_input would never be called."""
    for op, where in EXECUTOR_OPS.items():
        assert not hasattr(NodeRunner, f"run_{op.value}"), f"{op} runs in {where}, not in NodeRunner"


@pytest.mark.parametrize("op", list(Op))
def test_each_op_has_its_own_style_and_a_params_class_unless_it_has_no_params(op):
    assert STYLES[op] is not DEFAULT_STYLE and RULES[op] is not DEFAULT_RULE
    assert (RULES[op].params_type is None) == (op in (Op.INPUT, Op.OUTPUT))


def test_each_op_with_params_is_drawn_in_its_own_colour():
    fills = [STYLES[op].fill for op in Op if op not in (Op.INPUT, Op.OUTPUT)]
    assert len(set(fills)) == len(fills) and DEFAULT_STYLE.fill not in fills
