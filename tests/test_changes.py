"""`tfjs-parity diff OLD NEW` (report/changes.py): what got better or worse between two
reports, matched by pipeline, case, browser, backend and reference (and test, where a report
holds the same run twice)."""

from __future__ import annotations

import copy
import dataclasses

from harness.cli import main
from harness.core.results import Report
from harness.report import changes, json_report
from tests.test_results import a_report


def _fixed(report: Report) -> Report:
    """The same report with its failing resize stage now passing on its own and end to end."""
    fixed = copy.deepcopy(report)
    _, run = fixed.all_runs()[0]
    resize = next(s for s in run.stages if s.name == "resize")
    resize.verdict = resize.own_verdict = "pass"
    resize.own_error_class = "float32"
    resize.chained = dataclasses.replace(resize.chained, max_abs=1e-6)
    run.first_divergence, run.unexpected = None, []
    return fixed


def test_a_fix_is_better_and_undoing_it_is_worse():
    old, new = a_report(), _fixed(a_report())
    found = changes.changes(old, new)
    assert any(c.better and c.where.endswith(": resize") and "own fail -> pass" in c.text
               for c in found)  # fmt: skip
    assert any("max |js - python| end to end 0.25 -> 1e-06" in c.text for c in found)
    assert any("first divergence resize -> None" in c.text for c in found)
    assert not any(c.worse for c in found)
    back = changes.changes(new, old)
    assert back[0].worse and "pass -> fail" in back[0].text  # worse ones first
    assert changes.changes(old, copy.deepcopy(old)) == []
    broken = copy.deepcopy(old)
    _, run = broken.all_runs()[0]
    run.status, run.reason = "error", "the page crashed"
    assert any(c.worse and "PASS -> ERROR" in c.text for c in changes.changes(old, broken))


def test_runs_that_come_or_go_and_another_reference_are_told_apart():
    old = a_report()
    new = copy.deepcopy(old)
    _, run = new.all_runs()[0]
    run.reference = "chromium:wasm"  # another comparison: not the same run
    found = changes.changes(old, new)
    assert any("run gone" in c.text for c in found)
    assert any("vs chromium:wasm" in c.where and c.text.startswith("new run") for c in found)


def test_the_diff_command_exits_1_when_something_got_worse(tmp_path, capsys):
    json_report.write(_fixed(a_report()), tmp_path / "old")
    json_report.write(a_report(), tmp_path / "new")
    assert main(["diff", str(tmp_path / "old"), str(tmp_path / "new")]) == 1
    out = capsys.readouterr().out
    assert "worse" in out and "1 worse" not in out.splitlines()[0]
    assert main(["diff", str(tmp_path / "new"), str(tmp_path / "old" / "report.json")]) == 0
    assert main(["diff", str(tmp_path / "new"), str(tmp_path / "new")]) == 0
    assert "no change" in capsys.readouterr().out
    assert main(["diff", str(tmp_path / "new"), str(tmp_path / "missing")]) == 2


def _passing() -> Report:
    report = _fixed(a_report())
    report.interrupted = None
    report.cases = [c for c in report.cases if c.status == "ok"]
    for case in report.cases:
        case.runs = [r for r in case.runs if r.status == "ok"]
    return report


def test_a_report_that_no_longer_passes_is_worse_whatever_broke_it():
    old = _passing()
    assert old.passed
    for change in ("interrupted", "error", "gone", "new failing", "case error"):
        new = copy.deepcopy(old)
        case, run = new.all_runs()[0]
        if change == "interrupted":
            new.interrupted = "SIGTERM"
        elif change == "error":
            new.error = "harness error: boom"
        elif change == "gone":
            case.runs.remove(run)
        elif change == "new failing":
            run.reference = "chromium:wasm"  # not the old run: a new one
            run.status, run.reason = "error", "the reference cannot run here"
        else:
            case.status, case.reason, case.runs = "error", "interrupted by SIGTERM", []
        assert any(c.worse for c in changes.changes(old, new)), change


def _by_two_tests(report: Report) -> Report:
    """`report` as pytest writes it when two tests check the same case: its first case held
    twice, each entry naming its test."""
    twice = copy.deepcopy(report)
    first = twice.cases[0]
    first.test = "test_p.py::test_a"
    twice.cases.insert(1, dataclasses.replace(copy.deepcopy(first), test="test_p.py::test_b"))
    return twice


def test_runs_held_twice_are_matched_by_their_test_and_a_stage_no_longer_judged_is_not_worse():
    old, new = _by_two_tests(a_report()), _by_two_tests(a_report())
    assert changes.changes(old, new) == []
    _, fixed_run = _fixed(a_report()).all_runs()[0]
    new.cases[1].runs[0] = fixed_run  # test_b's run got better, test_a's did not
    found = changes.changes(old, new)
    assert found and all(c.better or not c.worse for c in found)
    assert {c.where.split(": ")[0].split(" (")[-1] for c in found} == {"test_p.py::test_b)"}
    # against a report that holds it once, from the command line: compared with each
    found = changes.changes(a_report(), new)
    assert found and all(("(test_p.py::test_b)" in c.where and c.better) or not c.worse
                         for c in found)  # fmt: skip
    assert not any("(test_p.py::test_a)" in c.where for c in found)
    assert changes.changes(_by_two_tests(a_report()), a_report()) == []
    # a pytest run of one test of the two: the other's run is gone
    one = _by_two_tests(a_report())
    del one.cases[1]
    found = changes.changes(_by_two_tests(a_report()), one)
    gone = [c.text for c in found if "(test_p.py::test_b)" in c.where]
    assert len(gone) == len(one.cases[0].runs) and all(t.startswith("run gone") for t in gone)
    assert not any("(test_p.py::test_a)" in c.where for c in found)
    # one test that checks the same case twice: its runs matched in order
    again = a_report()
    again.cases[0].runs.append(copy.deepcopy(again.cases[0].runs[0]))
    assert changes.changes(again, copy.deepcopy(again)) == []
    old = _fixed(a_report())
    new = copy.deepcopy(old)
    _, run = new.all_runs()[0]
    resize = next(s for s in run.stages if s.name == "resize")
    resize.own_verdict, resize.isolated = None, None  # a run with --no-isolated
    found = changes.changes(old, new)
    assert any("own pass -> -" in c.text for c in found) and not any(c.worse for c in found)


def test_report_out_that_cannot_take_the_page_is_a_usage_error(tmp_path, capsys):
    json_report.write(a_report(), tmp_path / "run")
    (tmp_path / "afile").write_text("")
    assert main(["report", str(tmp_path / "run"), "--out", str(tmp_path / "afile")]) == 2
    assert "cannot write the report there" in capsys.readouterr().err
