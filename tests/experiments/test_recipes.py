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


def _constant(name, stage, lr, wd, steps):
    from goaldrift.experiments.decay.recipes import Recipe

    return Recipe(name, "none", stage, peak_lr=lr, weight_decay=wd, steps=steps, warmup=0, decay_end=0,
                  final_fraction=1.0, decay="constant", source=f"source of {name}")


def test_survey_reductions_over_hand_built_constant_recipes():
    import math

    import pytest

    from goaldrift.experiments.decay.recipes import survey

    recipes = [_constant("A", "pretraining", 1e-2, 0.1, 3000),      # e-folds -3000 ln(1 - 1e-3)
               _constant("B", "pretraining", 1e-3, 0.1, 2000),      # -2000 ln(1 - 1e-4)
               _constant("C", "pretraining", 1e-3, None, 9000),     # not stated: left out of every reduction
               _constant("D", "fine-tuning", 1e-4, 0.1, 500),
               _constant("E", "fine-tuning", 1e-4, 0.1, 700)]
    n = {"A": -3000 * math.log(1 - 1e-3), "B": -2000 * math.log(1 - 1e-4), "D": -500 * math.log(1 - 1e-5),
         "E": -700 * math.log(1 - 1e-5)}
    s = survey(recipes)
    assert s.efolds("pretraining") == pytest.approx([n["A"], n["B"]], rel=1e-9)
    assert s.efolds() == pytest.approx([n["A"], n["B"], n["D"], n["E"]], rel=1e-9)
    assert s.smallest("pretraining").name == "B" and s.smallest("pretraining").efolds == pytest.approx(n["B"], rel=1e-9)
    assert s.largest().name == "A" and s.largest("fine-tuning").name == "E" and s.smallest().name == "D"
    assert s.span == pytest.approx(n["A"] / n["D"], rel=1e-9)
    assert s.ratio("A", "B") == pytest.approx(n["A"] / n["B"], rel=1e-9)
    assert s.worst_sum_gap == pytest.approx(0.0, abs=1e-9)
    # -ln(1 - x) / x - 1 = x/2 + ...: half an eta*lambda, in units of eta*lambda, largest for the largest x
    assert s.worst_linearisation_error == pytest.approx(max(-math.log(1 - x) / x - 1 for x in (1e-3, 1e-4, 1e-5))
                                                        / 1e-3, rel=1e-3)
    table = s.table_markdown().splitlines()
    assert len(table) == 2 + 5 and "| C | pretraining | 1.0e-03 | not stated |" in table[4]
    assert f"| {3000:,} | 3 | {n['A']:.3g} | {math.exp(-n['A']):.3g} |" in table[2]
    notes = s.notes_markdown().splitlines()
    assert notes[0] == "- **A** {cite}`none`: source of A" and len(notes) == 5


def test_the_survey_figure_draws(monkeypatch):
    from goaldrift.experiments.decay.recipes import plot_survey, survey

    shown = []
    monkeypatch.setattr("IPython.display.display", lambda obj: shown.append(obj))
    plot_survey(survey())
    assert len(shown) == 1 and shown[0].data[:4] == b"\x89PNG"
