import pytest

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
