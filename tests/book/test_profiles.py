"""Every profile of every chapter is a valid parameter set, and the paper
profile's sweep (never executed on the CPU machine) passes the pre-flight
checks that a sweep runs before training: configs valid, data fits models."""

import pytest

from goaldrift.book.chapters import CHAPTERS
from goaldrift.book.profiles import PROFILES, resolve
from goaldrift.engine.sweeps import preflight


@pytest.mark.parametrize("name", list(CHAPTERS))
@pytest.mark.parametrize("profile", PROFILES)
def test_every_profile_resolves(name, profile):
    values = resolve(CHAPTERS[name], profile)
    assert set(values) == {p.name for p in CHAPTERS[name].params}


@pytest.mark.parametrize("name", [n for n, c in CHAPTERS.items() if c.sweep])
@pytest.mark.parametrize("profile", PROFILES)
def test_sweep_configs_pass_preflight(name, profile):
    configs = CHAPTERS[name].sweep(resolve(CHAPTERS[name], profile))
    assert configs
    preflight(configs)
