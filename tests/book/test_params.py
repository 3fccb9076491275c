import pytest

from conftest import call_cli

from goaldrift.book.chapters import CHAPTERS
from goaldrift.book.chapters.ch01_l2_equilibrium import L2_EQUILIBRIUM
from goaldrift.book.params import Param, ParamError, validate
from goaldrift.book.profiles import PROFILES, resolve


def test_parse_types_and_ranges():
    lr = Param("learning_rate", float, 0.1, low=0.0, low_open=True)
    assert lr.parse("0.5") == 0.5
    with pytest.raises(ParamError, match="outside the valid range"):
        lr.parse("0")
    with pytest.raises(ParamError, match="not a valid float"):
        lr.parse("fast")
    with pytest.raises(ParamError, match="not finite"):
        lr.parse("nan")
    steps = Param("steps", int, 10, low=1)
    assert steps.parse("1e3") == 1000
    with pytest.raises(ParamError, match="not a valid int"):
        steps.parse("2.5")
    with pytest.raises(ParamError):
        steps.parse("0")
    flag = Param("flag", bool, False)
    assert flag.parse("true") is True and flag.parse("0") is False
    kind = Param("kind", str, "a", choices=("a", "b"))
    with pytest.raises(ParamError):
        kind.parse("c")


def test_every_profile_of_every_chapter_is_valid():
    for chapter in CHAPTERS.values():
        for profile in PROFILES:
            values = resolve(chapter, profile)
            assert set(values) == {p.name for p in chapter.params}


def test_overrides_and_constraints():
    values = resolve(L2_EQUILIBRIUM, "default", {"learning_rate": "0.1"})
    assert values["learning_rate"] == 0.1
    with pytest.raises(ParamError, match="unknown parameter"):
        resolve(L2_EQUILIBRIUM, "default", {"learnig_rate": "0.1"})
    with pytest.raises(ParamError, match="1.9"):
        resolve(L2_EQUILIBRIUM, "default", {"learning_rate": "1.8", "weight_decay": "0.2"})
    with pytest.raises(ParamError, match="n_samples must be smaller"):
        resolve(L2_EQUILIBRIUM, "default", {"n_samples": "200", "n_features": "100"})
    with pytest.raises(ParamError, match="unknown profile"):
        resolve(L2_EQUILIBRIUM, "huge")


def test_validate_rejects_unknown_names():
    with pytest.raises(ParamError, match="unknown parameter 'x'"):
        validate([Param("a", int, 1)], [], {"a": 1, "x": 2})


def test_a_refused_rule_names_the_bound_and_what_else_would_lift_it():
    # proxy_drift at smoke accepts only a narrow band of lambda; the message says which, and what
    # else to change to keep the user's value
    from goaldrift.book.chapters import CHAPTERS
    from goaldrift.book.params import ParamError, feasible_range
    from goaldrift.book.profiles import resolve

    chapter = CHAPTERS["proxy_drift"]
    with pytest.raises(ParamError) as refused:
        resolve(chapter, "smoke", {"weight_decay": "2"})
    message = str(refused.value)
    assert "\n" not in message
    assert "this needs 3.47 <= weight_decay <= 4.86" in message
    assert "keeping weight_decay = 2.0: " in message and "phase2_steps >= 260" in message
    values = {**chapter.defaults(), **chapter.profiles["smoke"], "weight_decay": 2.0}
    lo, hi = feasible_range(chapter.params, chapter.constraints, values, "weight_decay")
    for inside in (lo, hi, (lo + hi) / 2):  # the quoted ends pass, a step beyond them does not
        resolve(chapter, "smoke", {"weight_decay": repr(inside)})
    for outside in (lo * 0.99, hi * 1.01):
        with pytest.raises(ParamError):
            resolve(chapter, "smoke", {"weight_decay": repr(outside)})


def test_a_refused_rule_without_user_values_says_only_the_rule():
    from goaldrift.book.params import Param, ParamError, validate

    params = [Param("a", int, 1, low=0, high=10), Param("b", int, 1, low=0, high=10)]
    rule = lambda v: None if v["a"] <= v["b"] else "a must be <= b"  # noqa: E731
    with pytest.raises(ParamError, match=r"^a must be <= b$"):
        validate(params, [rule], {"a": 5, "b": 2})
    with pytest.raises(ParamError, match=r"this needs a <= 2 \(or, keeping a = 5: b >= 5\)$"):
        validate(params, [rule], {"a": 5, "b": 2}, changed=["a"])


@pytest.mark.parametrize("value", ["1e30", "18446744073709551616", "2147483648", "-1"])
def test_a_seed_beyond_what_the_generators_take_is_refused_in_one_line(value):
    """Seeds >= 2^64 were accepted and failed in the kernel with "Overflow when unpacking long long"."""
    result = call_cli("run", "l2_equilibrium", "--profile", "smoke", "-p", "seed", value, "--out", "/nonexistent/x")
    assert result.returncode == 2 and len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert "'seed'" in result.stderr


def test_an_integer_parameter_beyond_64_bits_is_refused():
    from goaldrift.book.params import Param

    with pytest.raises(ParamError, match="64-bit"):
        Param("steps", int, 1, low=1).parse("1e30")


def test_cleanup_scaling_budget_must_be_three_pilot_delays_at_the_piloted_setting():
    from goaldrift.book.chapters import CHAPTERS
    from goaldrift.book.chapters import ch05_cleanup_scaling as spec
    from goaldrift.book.params import ParamError, validate
    chapter = CHAPTERS["cleanup_scaling"]
    defaults = {p.name: p.default for p in chapter.params}
    assert all(defaults[k] == v for k, v in spec.PILOT_SETTING.items())  # the default is the piloted setting
    limit = spec.PILOT_BUDGET_FACTOR * spec.PILOT_SLOWEST_DELAY
    validate(chapter.params, chapter.constraints, {**defaults, "steps": limit})
    with pytest.raises(ParamError, match=f"steps must be >= {limit} at the piloted setting"):
        validate(chapter.params, chapter.constraints, {**defaults, "steps": limit - 50}, changed=["steps"])
    # another setting has no pilot, so only the decay rule binds its budget
    validate(chapter.params, chapter.constraints, {**defaults, "steps": limit - 50, "wd_max": 0.4})
