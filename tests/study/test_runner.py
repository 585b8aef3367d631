"""A study's stored record: the command that ran it beside its settings, and resuming stored studies."""

from __future__ import annotations

import pytest

from reglab.store import Store, StoreError
from reglab.study import StudySettings, run_study

SETTINGS = StudySettings(data="wine", methods=("none",), seeds=1, folds=2, epochs=1)


def test_a_study_stores_its_command_and_resumes_only_under_it(tmp_path):
    with Store(tmp_path / "s.sqlite") as store:
        run_study(SETTINGS, store, "t", kind="tune")
        from reglab.data import load

        fingerprint = load("wine").fingerprint()
        rows = "train 142 · test 36 (random 20%, stratified) · 2-fold CV on the train rows"  # 178 rows, a fifth out
        assert store.study("t").settings == {
            "kind": "tune",
            **SETTINGS.to_dict(),
            "data_fingerprint": fingerprint,
            "rows": rows,
            "results_version": 3,
        }
        run_study(SETTINGS, store, "t", resume=True, kind="tune")
        with pytest.raises(StoreError, match=r"kind \(stored \"tune\", given \"compare\"\)"):
            run_study(SETTINGS, store, "t", resume=True, kind="compare")


def test_a_study_of_an_earlier_results_version_is_not_resumed_and_is_left_as_it_was(tmp_path):
    with Store(tmp_path / "s.sqlite") as store:
        store.start_study("old", SETTINGS.to_dict(), resume=False)  # as an earlier reglab stored it
        with pytest.raises(ValueError, match="results version 1, this reglab's 3.*new study"):
            run_study(SETTINGS, store, "old", resume=True)
        assert store.study("old").settings == SETTINGS.to_dict()
        assert store.trials(store.study("old").id) == []


def test_a_study_of_this_results_version_resumes_under_another_store_key_set(tmp_path):
    """A study stored without the command, fingerprint or rows (keys an earlier reglab did not keep) but with
    this results version resumes, those keys left out of the comparison."""
    with Store(tmp_path / "s.sqlite") as store:
        store.start_study("bare", {**SETTINGS.to_dict(), "results_version": 3}, resume=False)
        summary = run_study(SETTINGS, store, "bare", resume=True)
        assert store.study("bare").status == "finished"
        assert {"kind", "data_fingerprint", "rows"}.isdisjoint(store.study("bare").settings)
        assert [m.method for m in summary.methods] == ["none"]


@pytest.mark.parametrize(
    "changes, error",
    [
        ({"methods": ("none", "spatial-dropout=0.2")}, "spatial_dropout: a mlp model has no layer for it"),
        ({"methods": ("none", "shift")}, "a table .* has no spatial axis to shift"),
        ({"methods": ("none", "dropout"), "model": {"kind": "linear"}}, "dropout: a linear model has no layer for it"),
        ({"data": "diabetes", "methods": ("none",), "model": {"kind": "cnn"}}, "use 'mlp' or 'linear' for tables"),
    ],
)
def test_a_setup_no_trial_could_train_fails_before_the_store_is_touched(tmp_path, changes, error):
    """What `reglab train` rejects, a study rejects at once too (not as a study of failed trials)."""
    settings = StudySettings.from_dict({**SETTINGS.to_dict(), **changes})
    with Store(tmp_path / "s.sqlite") as store:
        with pytest.raises(ValueError, match=error):
            run_study(settings, store, "bad")
        assert store.studies() == []
