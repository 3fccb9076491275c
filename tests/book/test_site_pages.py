"""The generated pages say what was run, also when chapters disagree."""

import json

from goaldrift.book.chapters import CHAPTERS
from goaldrift.book.execute import RUN_INFO_FILE
from goaldrift.book.site_pages import build_info_page


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
