"""Claims declared in the spec before measuring: the notebook records only what it
measured, and a chapter that records other claims than it declares fails."""

import math

import pytest

from goaldrift.book.claims import ClaimBook, ClaimFailure
from goaldrift.book.declarations import check, computed, evidence, fill, predictions_markdown

PARAMS = {"learning_rate": 0.5, "weight_decay": 0.01, "n_seeds": 3}
DECLARED = (
    check("factor", "shrinks by 1 - eta*lambda", predicted=lambda p: 1 - p["learning_rate"] * p["weight_decay"],
          tolerance=1e-6, hypothesis="H1"),
    check("from_derivation", "a derived value", predicted=computed("the sympy result at eta, lambda"),
          comparison="abs", tolerance=computed("four standard errors")),
    evidence("drift", "drift point over {n_seeds} seeds (worst of {members})", alternative="no drift",
             predicted=0.35, comparison="rel", tolerance=0.15, hypothesis="H4", design="{n_seeds} seeds", role="law"),
)


def book(declared=DECLARED):
    return ClaimBook("demo", "default", "", declared=declared, parameters=PARAMS)


def test_record_takes_prediction_and_rule_from_the_declaration():
    declared, typed = book(), ClaimBook("demo")
    a = declared.record("factor", 0.995)
    b = typed.check("factor", "shrinks by 1 - eta*lambda", 0.995, 0.995, tolerance=1e-6)
    assert (a.predicted, a.tolerance, a.comparison, a.passed, a.verdict) == (b.predicted, b.tolerance, b.comparison,
                                                                            b.passed, b.verdict)
    assert a.hypothesis == "H1"
    assert declared.record("drift", 0.36, samples=[0.34, 0.36, 0.38], context={"members": 2}).statement \
        == "drift point over 3 seeds (worst of 2)"


def test_an_evidence_record_equals_the_typed_call():
    samples = [0.31, 0.36, 0.40]
    a = book().record("drift", float(sum(samples) / 3), samples=samples, context={"members": 1})
    b = ClaimBook("demo").evidence("drift", a.statement, 0.35, float(sum(samples) / 3), alternative="no drift",
                                   tolerance=0.15, samples=samples)
    assert (a.interval_low, a.interval_high, a.verdict, a.rule) == (b.interval_low, b.interval_high, b.verdict, b.rule)


def test_computed_values_must_be_passed_and_fixed_ones_cannot_be():
    b = book()
    with pytest.raises(ValueError, match="declared as computed"):
        b.record("from_derivation", 1.0, predicted=1.0)  # tolerance missing
    claim = b.record("from_derivation", 1.0, predicted=1.0, tolerance=0.1)
    assert claim.passed and claim.tolerance == 0.1
    with pytest.raises(ValueError, match="fixed in the chapter spec"):
        b.record("factor", 1.0, predicted=1.0)


def test_undeclared_claims_and_typed_rules_are_refused():
    b = book()
    with pytest.raises(ValueError, match="not declared"):
        b.record("elsewhere", 1.0)
    with pytest.raises(ValueError, match="declares its claims"):
        b.check("factor", "typed at the call", 1.0, 1.0)


def test_finish_fails_on_a_declared_claim_never_recorded(tmp_path):
    b = ClaimBook("demo", "smoke", tmp_path, declared=DECLARED, parameters=PARAMS)
    b.record("factor", 0.995)
    with pytest.raises(ClaimFailure, match="declared but never recorded: from_derivation, drift"):
        b.finish()  # at every profile, smoke included
    assert (tmp_path / "claims.json").exists()  # what was recorded is still written


def test_a_template_field_that_is_neither_parameter_nor_context_is_one_line():
    with pytest.raises(ValueError, match="'members'"):
        fill("worst of {members}", PARAMS)
    assert fill("no fields", PARAMS) == "no fields"
    assert fill("{learning_rate:.2f} and {{braces}}", PARAMS) == "0.50 and {braces}"


def test_the_prediction_table_shows_every_declaration_before_measuring():
    table = predictions_markdown(DECLARED, PARAMS)
    assert table.count("\n") == len(DECLARED) + 1
    assert "1 - eta\\*lambda" in table  # asterisks escaped for Markdown
    assert "computed: the sympy result" in table and "3 seeds" in table
    assert math.isclose(float(table.split("`factor`")[1].split("|")[4]), 0.995)


def test_a_declaration_without_its_alternative_or_with_an_unknown_rule_is_refused():
    with pytest.raises(ValueError, match="alternative"):
        evidence("e", "s", predicted=1.0, alternative="")
    with pytest.raises(ValueError, match="unknown comparison"):
        check("c", "s", predicted=1.0, comparison="close")
    with pytest.raises(ValueError, match="belong to evidence"):
        check("c", "s", predicted=1.0).__class__("c", "s", "check", 1.0, design="3 seeds")


def test_a_run_whose_claims_differ_from_the_spec_fails(tmp_path):
    """Even a notebook that bypasses finish() (or builds its own book) is held to its spec."""
    from goaldrift.book.chapter import Chapter
    from goaldrift.book.execute import _verdict_from_claims

    chapter = Chapter("demo", "Demo", [], claims=DECLARED)
    typed = ClaimBook("demo", "default", tmp_path)
    typed.check("factor", "typed", 1.0, 1.0, tolerance=0.1)
    typed.check("extra", "typed", 1.0, 1.0, tolerance=0.1)
    typed.save()
    ok, message = _verdict_from_claims(tmp_path, "default", chapter)
    assert not ok
    assert "declared but not recorded: from_derivation, drift" in message and "recorded but not declared: extra" in message


def test_glue_values_glues_each_name(monkeypatch):
    from goaldrift.book import claims as claims_module

    glued = {}
    monkeypatch.setattr(claims_module, "glue_value", lambda name, value: glued.__setitem__(name, value))
    claims_module.glue_values(eta=0.5, steps=40)
    assert glued == {"eta": 0.5, "steps": 40}


def test_the_prediction_table_leaves_context_fields_for_the_record():
    declared = (evidence("shift", "shift at c", alternative="the critical shift {critical_shift:.0f} steps",
                         predicted=0.0, comparison="abs", tolerance=computed("half the critical shift"),
                         role="aside"),)
    assert "the critical shift {critical_shift:.0f} steps" in predictions_markdown(declared, PARAMS)
