"""What `optflow tune` prints when a study ends, from the study as its storage holds it."""

from __future__ import annotations

import optuna
from optuna.trial import TrialState, create_trial

from optflow.config import build_config
from optflow.contract import ATTR_INTERRUPTED
from optflow.result_text import printed_summary
from optflow.study.result import study_result


def test_a_resumed_studys_summary_counts_against_its_budget_not_every_trial(workdir):
    """Ctrl-C left trial 0 FAIL/interrupted and the rerun replaced it: 7 trials exist for a budget of 6."""
    config = build_config({"study": {"n_trials": 6, "sampler": "random"}})
    study = optuna.create_study(direction="minimize")
    study.add_trial(create_trial(state=TrialState.FAIL, user_attrs={ATTR_INTERRUPTED: True}))
    for value in range(6):
        study.add_trial(create_trial(state=TrialState.COMPLETE, value=float(value)))
    text = printed_summary(study_result(study, config, None, None, []), "val_loss")
    assert text.splitlines()[0].startswith("study optflow: 6 complete of 6 trials (1 interrupted trial run again);")
