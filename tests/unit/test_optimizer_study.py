"""The journaled optuna study: a torn last line (a kill mid-append) and a dead process's trial."""

import optuna

from plait.optimizers.study import completed, open_study, study_path


def test_a_torn_line_is_cut_and_a_trial_left_running_is_failed(tmp_path):
    path = study_path(str(tmp_path / "runs.db"), "s1")
    assert path == tmp_path / "runs.db.optuna" / "s1.log"
    study = open_study(path, "s1")
    trial = study.ask()
    trial.suggest_categorical("x", [0, 1, 2])
    study.tell(trial, 0.5)
    study.ask()  # a trial that a killed process never finished
    with open(path, "ab") as f:
        f.write(b'{"op_code": 5, "worker_id": "torn')  # a write the kill cut short
    again = open_study(path, "s1")
    states = [t.state for t in again.get_trials()]
    assert states == [optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.FAIL]
    assert [t.value for t in completed(again)] == [0.5]
    assert path.read_bytes().endswith(b"\n")


def test_no_store_means_an_in_memory_study():
    assert study_path(":none:", "s") is None
    assert open_study(None, "s").trials == []
