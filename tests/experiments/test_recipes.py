"""goaldrift.experiments.decay.recipes (chapter real_runs_decay): the table of published
recipes."""


from goaldrift.experiments.decay.recipes import RECIPES
from goaldrift.paths import BOOK_DIR


def test_recipes_cite_real_bib_keys():
    bib = (BOOK_DIR / "references.bib").read_text()
    for r in RECIPES:
        assert "{" + r.bib + "," in bib, r.bib
        assert r.stage in ("pretraining", "fine-tuning")
        if r.steps:
            assert r.warmup <= r.decay_end <= r.steps or r.decay == "constant"


def test_decay_totals_of_a_constant_schedule_match_closed_forms():
    import math

    import pytest

    from goaldrift.experiments.decay.recipes import Recipe, decay_totals

    r = Recipe("constant", "none", "fine-tuning", peak_lr=1e-3, weight_decay=0.1, steps=1000, warmup=0,
               decay_end=0, final_fraction=1.0, decay="constant", source="test")
    d = decay_totals(r)
    assert d.linear == pytest.approx(0.1 * 1e-3 * 1000)
    assert d.exact == pytest.approx(-1000 * math.log(1 - 1e-4))
    assert d.sum_gap == pytest.approx(0.0, abs=1e-9)
    # -ln(1 - x) / x - 1 = x/2 + x^2/3 + ...: half an eta*lambda, in units of eta*lambda.
    assert d.linearisation_error == pytest.approx(0.5, rel=1e-3)
    assert decay_totals(Recipe("unstated", "none", "fine-tuning", 1e-3, None, 1000, 0, 0, 1.0, "constant", "")) is None
    assert decay_totals(Recipe("no steps", "none", "fine-tuning", 1e-3, 0.1, 0, 0, 0, 1.0, "constant", "")) is None
