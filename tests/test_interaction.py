"""Interaction claims, (a - b) - (c - d) over paired seeds, on hand-made runs."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from omegaconf import OmegaConf

from bnstudy.claims import evaluate
from bnstudy.config import ConfigError, validate

SEEDS = np.arange(30)
_rng = np.random.default_rng(7)
BASE = 0.8 + 0.01 * _rng.standard_normal(SEEDS.size)


def runs(effect_with: float, effect_without: float, noise: float = 0.002) -> pd.DataFrame:
    """Four conditions: dropout's effect is ``effect_with`` with BN, ``effect_without`` without."""
    own = {k: noise * _rng.standard_normal(SEEDS.size) for k in range(4)}
    acc = {
        "bn drop": BASE + effect_with + own[0],
        "bn nodrop": BASE + own[1],
        "plain drop": BASE + effect_without + own[2],
        "plain nodrop": BASE + own[3],
    }
    rows = [
        {"condition": c, "seed": int(s), "test_accuracy": v[i], "diverged": False, "epochs": 10}
        for c, v in acc.items()
        for i, s in enumerate(SEEDS)
    ]
    return pd.DataFrame(rows)


def claim(direction: str = "less") -> object:
    return OmegaConf.create(
        {
            "id": "C10",
            "kind": "interaction",
            "measure": "test_accuracy",
            "a": "bn drop",
            "b": "bn nodrop",
            "c": "plain drop",
            "d": "plain nodrop",
            "direction": direction,
        }
    )


STUDY = OmegaConf.create({"confidence": 0.95, "n_resamples": 500})


@pytest.mark.parametrize(
    ("with_bn", "without", "verdict"),
    [(0.0, 0.02, "supported"), (0.03, 0.0, "contradicted"), (0.01, 0.01, "not resolved")],
)
def test_interaction_verdicts_follow_the_difference_of_effects(with_bn, without, verdict):
    v = evaluate(claim(), runs(with_bn, without), None, None, STUDY)
    assert v.verdict == verdict
    assert v.estimate == pytest.approx(with_bn - without, abs=0.003)
    assert "(bn drop - bn nodrop) - (plain drop - plain nodrop)" in v.evidence
    if verdict == "not resolved":
        assert v.seeds_needed > 30


def test_an_interaction_claim_without_four_conditions_is_one_clear_error():
    bad = {k: v for k, v in OmegaConf.to_container(claim()).items() if k != "d"}
    raw = {"study": {"name": "s", "axes": {"v": {"x": {}}}, "seeds": [0], "claims": [bad]}}
    with pytest.raises(ConfigError, match=r"study.claims\[0\] \(C10\).a/.b/.c/.d"):
        validate(raw)
