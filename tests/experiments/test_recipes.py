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
