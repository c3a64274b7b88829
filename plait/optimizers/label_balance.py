"""Demos of a classifying node show every label and alternate them.

A small model copies the labels of its demos: four demos that all say "negative" make it answer
"negative", and a run of one label at the end of the demos pulls its answers toward that label
(majority-label and recency bias: Zhao et al. 2021, "Calibrate Before Use"). On the embedded model,
a sentiment node with four negative demos scored 45-60% where the same node with one of them
swapped for a positive demo, placed second, scored 100% (bench/README.md).

plait knows from a signature's types which outputs are closed sets of labels (a ``Literal``, an
``Enum`` or a ``bool``). Where a node has such an output, the demos an optimizer writes cover each
label its examples have, as far as the number of demos allows (a surplus demo of the most frequent
label gives way to a labeled example of a missing one), and labels alternate in the order they
first appear. Free-text outputs keep their demos exactly as chosen, as DSPy does.
"""

from __future__ import annotations

import enum
import typing
from collections import Counter
from typing import Any, Sequence

Demo = dict[str, Any]


def label_fields(signature: Any) -> list[str]:
    """The output fields of ``signature`` whose type is a closed set of labels."""
    return [name for name, field in signature.output_fields.items() if _is_closed(field.annotation)]


def _is_closed(annotation: Any) -> bool:
    if typing.get_origin(annotation) is typing.Literal or annotation is bool:
        return True
    return isinstance(annotation, type) and issubclass(annotation, enum.Enum)


def balanced(demos: Sequence[Demo], spares: Sequence[Demo], fields: Sequence[str]) -> list[Demo]:
    """``demos`` covering the labels of ``spares`` too (same count), labels alternating.
    ``spares`` are labeled examples not among ``demos``, in the order to draw them."""
    if not fields or len(demos) < 2:
        return list(demos)
    return _interleaved(_covering(list(demos), spares, fields), fields)


def _label(demo: Demo, fields: Sequence[str]) -> tuple:
    # an Enum output read back from a trace and its label in the data name one label
    return tuple(repr(getattr(demo.get(name), "value", demo.get(name))) for name in fields)


def _covering(demos: list[Demo], spares: Sequence[Demo], fields: Sequence[str]) -> list[Demo]:
    """Swap the last demo of the most frequent label (while it has two or more) for the first
    spare of each label no demo shows."""
    for spare in spares:
        shown = Counter(_label(d, fields) for d in demos)
        label, count = shown.most_common(1)[0]
        if count < 2:
            break
        if _label(spare, fields) not in shown:
            last = max(i for i, d in enumerate(demos) if _label(d, fields) == label)
            demos = demos[:last] + demos[last + 1:] + [spare]
    return demos


def _interleaved(demos: list[Demo], fields: Sequence[str]) -> list[Demo]:
    """Round robin over labels, in the order each label first appears; each label's demos keep
    their order."""
    by_label: dict[tuple, list[Demo]] = {}
    for demo in demos:
        by_label.setdefault(_label(demo, fields), []).append(demo)
    queues, order = list(by_label.values()), []
    while any(queues):
        order += [queue.pop(0) for queue in queues if queue]
    return order
