"""BootstrapFewShot with DSPy's semantics, on a scripted LM: the teacher stops as soon as it has its
demos, never sees the item it answers among its demos, and labeled demos fill up to a total."""

import plait

WORDS = ["cat", "door", "tree", "plait", "lamp", "river", "stone", "cloud", "apple", "moon"]
TRAIN = [{"word": w, "reversed": w[::-1]} for w in WORDS]


class Reverse(plait.Module):
    def __init__(self):
        self.rev = plait.Predict("word -> reversed")

    def forward(self, word: str):
        return self.rev(word=word)


def exact(example, pred):
    return example["reversed"] == pred.reversed


def even_words_only(task):
    """Right on words of even length (door, tree, lamp, moon), wrong on the others."""
    word = task.inputs["word"]
    return {"reversed": word[::-1] if len(word) % 2 == 0 else word}


def copier(task):
    """Right only by copying its own answer from a demo of the same word: it cannot reverse."""
    same = [d["reversed"] for d in task.demos if d.get("word") == task.inputs["word"]]
    return {"reversed": same[0] if same else task.inputs["word"]}


def compile_with(optimizer, lm, store_path, trainset=TRAIN):
    return plait.compile(Reverse(), optimizer=optimizer, trainset=trainset, metric=exact, store=store_path, lm=lm,
                         progress=False)


def demos_of(compiled):
    return compiled.plan.node("reverse.rev").params.demos


def test_the_teacher_stops_as_soon_as_enough_traces_pass(store_path):
    asked = []
    lm = plait.ScriptedLM(lambda t: asked.append(t.inputs["word"]) or even_words_only(t))
    compiled = compile_with(plait.BootstrapFewShot(max_bootstrapped_demos=3, max_labeled_demos=3), lm, store_path)
    # in order, waves of what is still missing: [cat door tree] -> 2 pass, [plait] -> 0, [lamp] -> 3: done
    assert sorted(asked) == sorted(WORDS[:5]) and asked[-2:] == ["plait", "lamp"] and lm.calls == 5
    assert [d["word"] for d in demos_of(compiled)] == ["door", "tree", "lamp"]
    prov = compiled.plan.node("reverse.rev").params.provenance
    assert (prov["tried"], prov["passed"], prov["bootstrapped"], prov["labeled"]) == (5, 3, 3, 0)


def test_no_wave_runs_past_the_last_item_needed(store_path):
    lm = plait.ScriptedLM(even_words_only)
    compile_with(plait.BootstrapFewShot(max_bootstrapped_demos=2, max_labeled_demos=0), lm, store_path)
    assert lm.calls == 3  # cat (fails), door, tree: DSPy's one-item-at-a-time count, in waves


def test_labeled_demos_fill_up_to_a_total_after_the_bootstrapped_ones(store_path):
    lm = plait.ScriptedLM(even_words_only)
    filled = compile_with(plait.BootstrapFewShot(max_bootstrapped_demos=2, max_labeled_demos=5), lm, store_path)
    words = [d["word"] for d in demos_of(filled)]
    assert len(words) == 5 and words[:2] == ["door", "tree"] and not {"door", "tree"} & set(words[2:])
    assert all(d["reversed"] == d["word"][::-1] for d in demos_of(filled))  # labels are right
    below = compile_with(plait.BootstrapFewShot(max_bootstrapped_demos=2, max_labeled_demos=1), lm, store_path)
    assert [d["word"] for d in demos_of(below)] == ["door", "tree"]  # a total below the bootstrapped: none added
    assert plait.BootstrapFewShot().max_labeled_demos == 16  # DSPy's default


def test_nothing_passes_then_labeled_demos_fill_the_whole_total(store_path):
    lm = plait.ScriptedLM(lambda t: {"reversed": t.inputs["word"]})
    compiled = compile_with(plait.BootstrapFewShot(max_bootstrapped_demos=2, max_labeled_demos=4), lm, store_path)
    assert lm.calls == len(TRAIN) and len(demos_of(compiled)) == 4
    assert compiled.plan.node("reverse.rev").params.provenance["bootstrapped"] == 0


def test_the_teacher_never_sees_the_item_it_answers(store_path):
    shown_with = []
    lm = plait.ScriptedLM(lambda t: shown_with.append((t.inputs["word"], {d["word"] for d in t.demos})) or copier(t))
    boot = plait.BootstrapFewShot(max_bootstrapped_demos=3, max_labeled_demos=0, teacher_demos=len(TRAIN))
    compiled = compile_with(boot, lm, store_path)
    # every item is among the teacher's demos, but never while it is being answered: none can copy
    assert len(demos_of(compiled)) == 0 and lm.calls == len(TRAIN)
    assert all(word not in demos and len(demos) >= len(TRAIN) - 3 for word, demos in shown_with)
    teacher = boot.teacher(plait.compile(Reverse()), TRAIN, exclude=range(0, 3))
    shown = {d["word"] for d in teacher.plan.node("reverse.rev").params.demos}
    assert shown == set(WORDS) - {"cat", "door", "tree"}


def test_the_teacher_drops_a_demo_of_its_item_the_program_already_had(store_path):
    program = plait.LabeledFewShot(k=len(TRAIN)).compile(plait.compile(Reverse()), trainset=TRAIN)
    teacher = plait.BootstrapFewShot().teacher(program, TRAIN, exclude=[1])
    assert "door" not in {d["word"] for d in teacher.plan.node("reverse.rev").params.demos}
    assert len(teacher.plan.node("reverse.rev").params.demos) == len(TRAIN) - 1


def test_by_default_a_free_text_node_has_dspys_teacher_and_a_label_node_a_zero_shot_one(store_path):
    shown = []
    lm = plait.ScriptedLM(lambda t: shown.append(len(t.demos)) or even_words_only(t))
    compile_with(plait.BootstrapFewShot(max_bootstrapped_demos=2, max_labeled_demos=3), lm, store_path)
    assert set(shown) == {3}  # DSPy's teacher: max_labeled_demos labeled demos at a free-text node
    optimizer = plait.BootstrapFewShot(max_labeled_demos=3)
    labels = plait.compile(plait.Predict("text -> flag: bool")).plan.node("predict").params
    assert optimizer.demos_of_teacher(labels) == 0
    assert optimizer.demos_of_teacher(plait.compile(Reverse()).plan.node("reverse.rev").params) == 3
    assert plait.BootstrapFewShot(teacher_demos=1).demos_of_teacher(labels) == 1  # a count set by hand
