"""The generated pages say what was run, also when chapters disagree."""

import json

from goaldrift.book.chapters import CHAPTERS
from goaldrift.book.execute import RUN_INFO_FILE
from goaldrift.book.site_pages import build_info_page
from goaldrift.book.claims import ClaimBook
from goaldrift.book.site_pages import (bottom_line, headline_figure, hypotheses_page, hypothesis_verdict,
                                        verdicts_page)


def _info(name, profile, commit):
    return {"chapter": name, "title": name.replace("_", " "), "profile": profile, "git_commit": commit,
            "versions": {"torch": "x"}, "device": "cpu", "wall_time_s": 1.0, "ok": True, "message": "",
            "finished": "2026-01-01T00:00:00Z", "parameters": {"seed": 0}}


def test_build_info_reports_a_mixed_book_as_mixed(tmp_path):
    names = list(CHAPTERS)[:3]
    for name, profile, commit in zip(names, ["default", "default", "smoke"], ["a" * 40, "a" * 40, "b" * 40]):
        (tmp_path / name).mkdir()
        (tmp_path / name / RUN_INFO_FILE).write_text(json.dumps(_info(name, profile, commit)))
    page = build_info_page(tmp_path)
    assert f"- Profile: mixed: default ({names[0]}, {names[1]}); smoke ({names[2]})" in page
    assert "mixed: `" + "a" * 40 in page and "b" * 40 in page
    assert "- Device: cpu\n" in page  # a shared value is stated once


def test_build_info_states_a_uniform_book_once(tmp_path):
    name = next(iter(CHAPTERS))
    (tmp_path / name).mkdir()
    (tmp_path / name / RUN_INFO_FILE).write_text(json.dumps(_info(name, "default", "c" * 40)))
    page = build_info_page(tmp_path)
    assert "- Profile: **default**" in page and "mixed" not in page


def _claims(tmp_path, chapter, records):
    book = ClaimBook(chapter, output_dir=tmp_path / chapter)
    for kind, cid, measured in records:
        if kind == "check":
            book.check(cid, "a check", 0.0, measured, tolerance=1e-9, comparison="abs")
        else:
            book.evidence(cid, "evidence", 0.9, measured, alternative="below 0.9", comparison="at_least")
    book.save()


def test_hypothesis_verdict_rule():
    def ev(verdict):
        from goaldrift.book.claims import Claim
        return Claim("x", "c", "s", 1, 1, None, "equal", True, False, kind="evidence", verdict=verdict)
    assert hypothesis_verdict([]) == "not yet tested"
    check = ClaimBook("c").check("k", "a check", 0, 0, comparison="equal")
    assert hypothesis_verdict([], [check]) == "derived"
    assert hypothesis_verdict([ev("supported"), ev("supported")]) == "supported"
    assert hypothesis_verdict([ev("supported"), ev("inconclusive")]) == "inconclusive"
    assert hypothesis_verdict([ev("supported"), ev("refuted"), ev("inconclusive")]) == "refuted"


def test_checks_never_decide_a_hypothesis(tmp_path):
    # protecting_goals: H5 counts frozen_weights_do_not_move only as a check
    _claims(tmp_path, "protecting_goals", [
        ("check", "frozen_weights_do_not_move", 0.0),
        ("evidence", "ranked_freezing_stops_drift", 0.95),
        ("evidence", "random_freezing_does_not", 0.95),
    ])
    page = hypotheses_page(tmp_path)
    h5 = next(line for line in page.splitlines() if line.startswith("| H5 |"))
    assert "frozen_weights_do_not_move" not in h5 and "ranked_freezing_stops_drift" in h5
    assert ">supported<" in h5.split(" | ")[2]  # the verdict cell: both evidence claims at or above 0.9
    _claims(tmp_path, "protecting_goals", [
        ("check", "frozen_weights_do_not_move", 1.0),  # a failed check is shown, but decides nothing
        ("evidence", "ranked_freezing_stops_drift", 0.95),
        ("evidence", "random_freezing_does_not", 0.5),
    ])
    h5 = next(line for line in hypotheses_page(tmp_path).splitlines() if line.startswith("| H5 |"))
    verdict_cell = h5.split(" | ")[2]
    assert ">refuted<" in verdict_cell and ">derivation failed<" in verdict_cell
    assert "supported" in page and "**supported** when every core claim is supported" in page
    verdicts = verdicts_page(tmp_path)
    assert "(verdicts-protecting_goals)=" in verdicts and "**Evidence**" in verdicts and "**Checks**" in verdicts
    assert "Bottom line" in bottom_line(tmp_path)


def test_headline_figure_is_always_written(tmp_path):
    assert headline_figure(tmp_path, tmp_path / "fig.svg") is False
    assert (tmp_path / "fig.svg").exists()
    (tmp_path / "proxy_drift").mkdir()
    (tmp_path / "proxy_drift" / "series.json").write_text(json.dumps(
        {"pts": {"label": "drift", "values": [0.3, 0.35, None], "predicted": 0.35}}))
    assert headline_figure(tmp_path, tmp_path / "fig2.svg") is True
    assert (tmp_path / "fig2-narrow.svg").exists()  # the phone's figure


def test_headline_figure_labels_each_recipe_and_has_a_legend(tmp_path):
    (tmp_path / "real_runs_decay").mkdir()
    (tmp_path / "real_runs_decay" / "series.json").write_text(json.dumps(
        {"pre": {"label": "pretraining", "values": [0.5, 4.0], "predicted": None, "names": ["RecipeA", "RecipeB"]}}))
    (tmp_path / "proxy_drift").mkdir()
    (tmp_path / "proxy_drift" / "series.json").write_text(json.dumps(
        {"pts": {"label": "drift", "values": [0.3, 0.35], "predicted": 0.35}}))
    assert headline_figure(tmp_path, tmp_path / "fig.svg") is True
    svg = (tmp_path / "fig.svg").read_text()
    assert "RecipeA" in svg and "RecipeB" in svg and "predicted drift point" in svg and "legend" in svg
    import re

    sizes = [float(x) for x in re.findall(r"font(?:-size)?: ?([0-9.]+)px", svg)]
    assert sizes and min(sizes) >= 10  # no text below 10 pt (1 pt is 1 px in matplotlib's SVG)


def test_figure_series_names_must_match_values():
    import pytest

    book = ClaimBook("demo")
    with pytest.raises(ValueError, match="2 names for 1 values"):
        book.figure_series("k", "label", [1.0], names=["a", "b"])


def test_generated_predictions_come_from_the_claim():
    # every comparison in words, from the claim's own comparison, value and tolerance
    from goaldrift.book.claims import Claim
    from goaldrift.book.site_pages import predicted_text

    def claim(comparison, tolerance=None):
        return Claim("x", "ch", "s", 1.0, 0.5, tolerance, comparison, True, False, kind="evidence",
                     verdict="supported")

    assert predicted_text(claim("at_least")) == "predicted at least 1"
    assert predicted_text(claim("at_most")) == "predicted at most 1"
    assert predicted_text(claim("equal")) == "predicted exactly 1"
    assert predicted_text(claim("abs", 0.25)) == "predicted 1 ± 0.25"
    assert predicted_text(claim("rel", 0.1)) == "predicted 1 within 10%"


def test_bottom_line_types_no_direction_beside_a_claim():
    # the front page's sentences quote predictions only through predicted_text
    import inspect

    from goaldrift.book import site_pages

    source = inspect.getsource(site_pages.bottom_line)
    for typed in ("predicted at least", "predicted at most", "the law of at least", "predicted −1"):
        assert typed not in source


def test_claim_links_land_on_the_claims_row(tmp_path):
    _claims(tmp_path, "protecting_goals", [("evidence", "ranked_freezing_stops_drift", 0.95)])
    page = hypotheses_page(tmp_path)
    assert 'href="generated/verdicts.html#claim-protecting_goals-ranked_freezing_stops_drift"' in page
    assert 'id="claim-protecting_goals-ranked_freezing_stops_drift"' in verdicts_page(tmp_path)
    assert 'id="gd-verdict-filter"' in verdicts_page(tmp_path)


def test_pages_show_one_parameters_cell_without_build_paths():
    import nbformat

    from goaldrift.book.site import page_notebook

    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell('profile = "default"\noutput_dir = ""\nseed = 0', metadata={"tags": ["parameters"]}),
                nbformat.v4.new_code_cell('# Parameters\nseed = 3\nprofile = "default"\noutput_dir = "/work/x/.ch.tmp123"\n',
                                          metadata={"tags": ["injected-parameters"]}),
                nbformat.v4.new_code_cell("x = 1", outputs=[
                    nbformat.v4.new_output("stream", name="stderr", text="RuntimeWarning: invalid value\n"),
                    nbformat.v4.new_output("stream", name="stdout", text="ok\n")])]
    removed = page_notebook(nb)
    assert removed == ["RuntimeWarning: invalid value\n"]
    params = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(params) == 1 and "seed = 3" in params[0].source and "/work/x" not in params[0].source
    assert 'output_dir = ""' in params[0].source
    assert [o["name"] for o in nb.cells[-1].outputs] == ["stdout"]


def test_run_box_example_changes_a_parameter_the_default_profile_accepts():
    from goaldrift.book.profiles import resolve
    from goaldrift.book.site_pages import example_override, run_box

    for chapter in CHAPTERS.values():
        _, name, value = example_override(chapter).split()
        changed = resolve(chapter, "default", {name: value})  # accepted
        assert changed[name] != resolve(chapter, "default")[name], chapter.name
        assert example_override(chapter) in run_box(chapter)
    assert example_override(CHAPTERS["proxy_drift"]).startswith("-p weight_decay ")
