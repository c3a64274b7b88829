"""RandomSearch searches DSPy's space on a scripted LM: candidates differ in seed, order, size and
labeled fill-up (they do not collapse when few traces pass), and a finished search extended by more
candidates pays only for the new ones."""

import plait
from plait.optimizers.trials import Search
from plait.runtime import events as ev
from tests.unit.test_optimizer_bootstrap import TRAIN, Reverse, exact

VAL = [{"word": w, "reversed": w[::-1]} for w in ["grass", "chair", "bird", "sand", "light", "wolf"]]


def rare_passes(task):
    """Right only on 'door' and 'moon' without demos (2 of 10 traces pass); with 4+ demos, always.
    The searches here give the teacher no labeled demo (``teacher_demos=0``), so 2 traces pass."""
    word = task.inputs["word"]
    return {"reversed": word[::-1] if len(task.demos) >= 4 or word in ("door", "moon") else word}


def search(store_path, lm, **settings):
    events = []
    optimizer = plait.RandomSearch(**{"num_candidates": 6, "max_bootstrapped_demos": 4, "max_labeled_demos": 4,
                                      "teacher_demos": 0, "seed": 0, **settings})
    compiled = plait.compile(Reverse(), optimizer=optimizer, trainset=TRAIN, valset=VAL, metric=exact,
                             store=store_path, lm=lm, progress=False, on_event=events.append)
    return compiled, [e for e in events if isinstance(e, ev.TrialFinished)]


def test_candidates_stay_distinct_when_few_traces_pass(store_path):
    programs = []
    lm = plait.ScriptedLM(lambda t: programs.append(tuple(d["word"] for d in t.demos)) or rare_passes(t))
    compiled, trials = search(store_path, lm)
    assert len(trials) == 9  # zero-shot, labeled, bootstrapped, 6 shuffled
    # the shuffled candidates' demo sets (what each evaluation showed the LM): more than 3 distinct
    shown = {p for p in programs if p}
    assert len(shown) >= 6
    assert compiled.plan.node("reverse.rev").params.provenance["score"] == 1.0


def test_a_shuffled_candidate_bootstraps_from_its_own_order_and_fills_up(store_path):
    lm = plait.ScriptedLM(rare_passes)
    optimizer = plait.RandomSearch(num_candidates=2, max_bootstrapped_demos=4, max_labeled_demos=4, teacher_demos=0,
                                   seed=0)
    with Search("RandomSearch", metric=exact, store=store_path, run_options={"lm": lm, "progress": False},
                identity={}, lm_nodes={"reverse.rev"}) as ledger:
        built = {label: make() for label, make in optimizer.candidates(plait.compile(Reverse()), TRAIN, exact, ledger)}
    assert list(built)[:3] == ["zero-shot", "labeled (4)", "bootstrapped (4)"]
    for label, compiled in list(built.items())[3:]:
        demos = [d["word"] for d in compiled.plan.node("reverse.rev").params.demos]
        prov = compiled.plan.node("reverse.rev").params.provenance
        size = int(label.rsplit("(", 1)[1].rstrip(")"))
        assert prov["bootstrapped"] == min(size, 2) and demos[0] in ("door", "moon")  # its own first pass
        assert len(demos) == max(4, prov["bootstrapped"]) and len(set(demos)) == len(demos)  # filled up to 4
    orders = [built[label].plan.node("reverse.rev").params.demos for label in list(built)[2:]]
    assert len({tuple(d["word"] for d in demos) for demos in orders}) == len(orders)  # seeds differ


def test_extending_a_finished_search_pays_only_for_the_new_candidates(tmp_path):
    lm = plait.ScriptedLM(rare_passes)
    small, before = search(tmp_path / "a.db", lm, num_candidates=2)
    first = lm.calls
    extended, trials = search(tmp_path / "a.db", lm, num_candidates=5)
    extension = lm.calls - first
    fresh = plait.ScriptedLM(rare_passes)
    search(tmp_path / "b.db", fresh, num_candidates=5)
    assert 0 < extension == fresh.calls - first  # the first 5 trials replayed from the store
    assert [(t.candidate, t.score) for t in trials[:5]] == [(t.candidate, t.score) for t in before]
    assert len(trials) == 8 and extended.plan.node("reverse.rev").params.provenance["trials"] == 8


def test_the_candidates_teacher_passes_share_one_teacher_and_its_answers(store_path):
    asked = []
    lm = plait.ScriptedLM(lambda t: asked.append((t.inputs["word"], tuple(d["word"] for d in t.demos)))
                          or rare_passes(t))
    optimizer = plait.RandomSearch(num_candidates=4, max_bootstrapped_demos=3, max_labeled_demos=0, teacher_demos=2,
                                   seed=0)
    with Search("RandomSearch", metric=exact, store=store_path, run_options={"lm": lm, "progress": False},
                identity={}, lm_nodes={"reverse.rev"}) as ledger:
        built = [make() for _, make in optimizer.candidates(plait.compile(Reverse()), TRAIN, exact, ledger)][1:]
    visits = sum(c.plan.node("reverse.rev").params.provenance["tried"] for c in built)
    assert lm.calls == len(set(asked)) < visits  # a question asked again came from the store
    for word in {w for w, _ in asked}:  # one teacher: its demos change only where they held an item of the wave
        prompts = {demos for w, demos in asked if w == word}
        assert len(prompts) <= 2 and all(word not in demos for demos in prompts)
