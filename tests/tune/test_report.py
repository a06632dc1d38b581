"""``raynn report`` and the event log on one real tuning run; the report rendered in a real headless Chromium.

One HyperBand run (R=3, eta=3, 5 trials, 2 at a time) on the tiny digits space is shared by every test here
(module-scoped fixture, ~30 s); a report without an event log and bad input need no Ray.
"""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path
from typing import Any, Iterator

import pytest

from raynn.cli import main
from raynn.hpo.ledger import BracketLedger, Ledger, RoundLedger
from raynn.hpo.spaces import SearchSpace
from raynn.tune.events import EVENTS_FILE, read_events
from raynn.tune.report import write_report

# The tiny digits space of test_run.py.
SPACE: dict[str, Any] = {
    "base": {"data": {"name": "digits"}, "model": {"name": "mlp", "params": {"hidden": [32]}},
             "train": {"epochs": 3, "batch_size": 64, "num_threads": 1}},
    "space": {"optimizer.lr": {"type": "float", "low": 0.001, "high": 0.5, "log": True},
              "model.dropout": {"type": "float", "low": 0.0, "high": 0.3}},
}


def _raynn(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "raynn.cli", *args], capture_output=True, text=True,
                          timeout=120)


@pytest.fixture(scope="module")
def tuned(_ray_teardown: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """One real HyperBand run; module-scoped, so it needs Ray up itself (``ray_session`` is per test)."""
    from raynn.api import ensure_ray
    from raynn.tune.run import run_tune

    ensure_ray(num_cpus=4)
    yield run_tune(SearchSpace.from_dict(SPACE), scheduler="hyperband", searcher="random", eta=3,
                   max_concurrent=2, storage=tmp_path_factory.mktemp("tune"), name="hb-report", verbose=False,
                   seed=0)


@pytest.fixture(scope="module")
def report(tuned: Any) -> tuple[subprocess.CompletedProcess[str], Path]:
    return _raynn("report", tuned.path), Path(tuned.path) / "report.html"


# ---- the event log of a real run ---------------------------------------------------------------------------


@pytest.mark.ray
def test_events_of_a_real_run_match_its_curves_and_ledger(tuned: Any) -> None:
    events = read_events(Path(tuned.path) / EVENTS_FILE)
    assert events[0]["event"] == "start" and events[-1]["event"] == "end"
    results = [e for e in events if e["event"] == "result"]
    assert len(results) == sum(len(c) for c in tuned.curves.values())  # one line per reported epoch
    for trial_id, curve in tuned.curves.items():
        epochs = [e["epoch"] for e in results if e["trial_id"] == trial_id]
        assert epochs == [e for e, _ in curve] == list(range(1, len(curve) + 1))  # never repeated
    spent = [e["spent"] for e in results]
    assert spent == sorted(spent) and spent[-1] == tuned.ledger.spent == events[-1]["spent"]
    assert all(e["node_id"] and e["samples_per_s"] > 0 and e["wall_s"] >= 0 for e in results)
    assert min(e["value"] for e in results) == results[-1]["best"]
    ended = {e["trial_id"] for e in events if e["event"] == "status" and e["status"] == "TERMINATED"}
    assert ended == set(tuned.curves)
    paused = {e["trial_id"] for e in events if e["event"] == "status" and e["status"] == "PAUSED"}
    assert paused  # HyperBand's bracket s=1 pauses its trials at rung 1


# ---- raynn report on it ------------------------------------------------------------------------------------


@pytest.mark.ray
def test_raynn_report_writes_one_self_contained_html(report: tuple[subprocess.CompletedProcess[str], Path],
                                                     tuned: Any) -> None:
    proc, html = report
    assert proc.returncode == 0, proc.stderr
    assert str(html) in proc.stdout
    text = html.read_text()
    assert text.count('<img src="data:image/png;base64,') == 3
    assert "src=\"http" not in text and "<script" not in text
    figures = sorted(p.name for p in (Path(tuned.path) / "report").iterdir())
    assert figures == ["best_vs_spent.png", "curves.png", "rungs.png"]


@pytest.mark.ray
def test_the_report_renders_in_headless_chromium(report: tuple[subprocess.CompletedProcess[str], Path],
                                                 tuned: Any, browser: Any) -> None:
    _, html = report
    page = browser.new_page()
    try:
        page.goto(html.as_uri(), wait_until="load")
        images = page.evaluate("Array.from(document.images).map(i => [i.complete, i.naturalWidth])")
        body = page.inner_text("body")
        tables = page.evaluate("document.querySelectorAll('table').length")
    finally:
        page.close()
    assert len(images) == 3
    assert all(complete and width > 0 for complete, width in images), images
    for value in (tuned.best_trial, tuned.best_value, tuned.best_checkpoint, *tuned.best_params.values()):
        assert str(value) in body, value
    for name in tuned.best_params:
        assert name in body
    assert tables >= 4  # best configuration, ledger summary, ledger brackets, results
    assert f"budget spent {tuned.ledger.spent}" in body


# ---- without Ray -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("layout", ["missing", "empty", "garbled"])
def test_bad_experiment_dir_exits_2_with_one_line_and_writes_nothing(
        tmp_path: Path, layout: str, capsys: pytest.CaptureFixture[str]) -> None:
    exp = tmp_path / "exp"
    if layout != "missing":
        exp.mkdir()
    if layout == "garbled":
        (exp / "summary.json").write_text("{not json")
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    args = ["report", str(exp), "--output", str(tmp_path / "out" / "r.html")]
    if layout == "missing":  # the command once; the other layouts through main(), without a new interpreter
        proc = _raynn(*args)
        code, stderr = proc.returncode, proc.stderr
    else:
        code, stderr = main(args), capsys.readouterr().err
    assert code == 2, stderr
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("raynn: error: EXPERIMENT_DIR: must "), stderr
    assert repr(str(exp)) in lines[0]
    assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*")) == before


def _fake_experiment(exp: Path) -> dict[str, Any]:
    """A finished HyperBand R=3 eta=3 experiment as outputs.py writes it (bracket s=1 then s=0)."""
    curves = {"t1": [[1, 0.9]], "t2": [[1, 0.5], [2, 0.4], [3, 0.3]], "t3": [[1, 0.8]],
              "t4": [[1, 0.6], [2, 0.45], [3, 0.35]], "t5": [[1, 0.7], [2, 0.6], [3, 0.5]]}
    rounds = [{"round": 0, "r": 1, "planned": 3, "entered": 3, "reached": 3, "decided": True},
              {"round": 1, "r": 3, "planned": 1, "entered": 1, "reached": 1, "decided": True}]
    ledger = {"scheduler": "HyperBand", "budget": 12, "budget_spent": 11, "brackets": [
        {"band": 0, "bracket": 1, "budget": 6, "spent": 5, "sealed": True, "rounds": rounds},
        {"band": 0, "bracket": 0, "budget": 6, "spent": 6, "sealed": True,
         "rounds": [{"round": 0, "r": 3, "planned": 2, "entered": 2, "reached": 2, "decided": True}]}]}
    summary = {"best_trial": "t2", "best_value": 0.3, "best_params": {"optimizer.lr": 0.0123456789,
                                                                       "model.dropout": 0.25},
               "best_checkpoint": str(exp / "trial-t2" / "checkpoint_000002"), "ledger": ledger,
               "curves": curves}
    exp.mkdir()
    (exp / "summary.json").write_text(json.dumps(summary))
    with open(exp / "results.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["trial_id", "status", "epochs", "final_val_loss", "best_val_loss", "model.dropout",
                         "optimizer.lr", "checkpoint"])
        for trial_id, curve in curves.items():
            writer.writerow([trial_id, "TERMINATED", curve[-1][0], curve[-1][1], min(v for _, v in curve),
                             0.1, 0.01, ""])
    return summary


def test_a_report_without_an_event_log_says_so_and_omits_that_figure(tmp_path: Path) -> None:
    summary = _fake_experiment(tmp_path / "exp")
    out = write_report(tmp_path / "exp", tmp_path / "elsewhere" / "mail-me.html")
    assert out == tmp_path / "elsewhere" / "mail-me.html"
    text = out.read_text()
    assert text.count('<img src="data:image/png;base64,') == 2
    assert f"No <code>{EVENTS_FILE}</code>" in text
    assert "0.0123456789" in text and summary["best_checkpoint"] in text and "val_loss" in text
    assert sorted(p.name for p in (tmp_path / "exp" / "report").iterdir()) == ["curves.png", "rungs.png"]


def test_an_unfinished_run_is_reported_from_its_event_log(tmp_path: Path) -> None:
    """No summary.json (the driver was killed, or the run goes on): curves and incumbent from events.jsonl."""
    exp = tmp_path / "exp"
    exp.mkdir()
    events = [{"event": "start", "time": 0.0, "wall_s": 0.0, "metric": "val_loss", "mode": "min"}]
    spent, best = 0, float("inf")
    for trial, values in {"a": [0.9, 0.7, 0.6], "b": [0.5], "c": [0.8, 0.4]}.items():
        for epoch, value in enumerate(values, start=1):
            spent, best = spent + 1, min(best, value)
            events.append({"event": "result", "time": float(spent), "wall_s": float(spent), "trial_id": trial,
                           "epoch": epoch, "metric": "val_loss", "value": value, "best": best, "spent": spent})
    (exp / EVENTS_FILE).write_text("".join(json.dumps(e) + "\n" for e in events))
    text = write_report(exp).read_text()
    assert "This run has not finished" in text
    assert text.count('<img src="data:image/png;base64,') == 3  # curves, rungs, best against spent
    assert "best val_loss 0.6 (trial a, epoch 3)" in text  # the best at the furthest epoch, not b's 0.5 at 1


# ---- every user-supplied string is text on the page --------------------------------------------------------

XSS = "<script>alert(1)</script>"


def _hostile_experiment(root: Path) -> tuple[Path, dict[str, str]]:
    """An experiment directory written by raynn tune's own writers (``write_outputs``: results.csv,
    summary.json; ``EventLog``: events.jsonl), fed names and values that are HTML: a config value, a searched
    key, trial ids, the metric's name, the scheduler's name and the experiment directory's name. Returns it
    and the strings the page must show as text."""
    from types import SimpleNamespace

    from raynn.tune.events import EventLog
    from raynn.tune.outputs import write_outputs
    from raynn.tune.outputs import TuneResult

    hostile = {"value": XSS, "key": "optimizer.<svg onload=alert(2)>", "trial": "t1<img src=x onerror=alert(3)>",
               "metric": "loss<script>alert(4)</script> $\\frac{$", "scheduler": "<iframe src=javascript:alert(5)>",
               "name": "exp-<img src=x onerror=alert(6)>"}
    exp = root / hostile["name"]
    exp.mkdir()
    trials = [hostile["trial"], "t2"]
    curves = {hostile["trial"]: [(1, 0.9), (2, 0.5)], "t2": [(1, 0.8)]}
    params = {hostile["key"]: hostile["value"], "optimizer.lr": 0.01}
    result = TuneResult(
        best_trial=hostile["trial"], best_params=params, best_config={}, best_value=0.5, best_epoch=2,
        best_checkpoint=str(exp / f"trial-{hostile['trial']}" / "checkpoint_000001"),
        ledger=Ledger(3, 3, (BracketLedger(0, 0, None, 3, False, (RoundLedger(0, 1, 2, 2, 2, 1, False),)),),
                      hostile["scheduler"]),
        curves=curves, path=str(exp),
        trials=[{"trial_id": t, "status": "TERMINATED", "epochs": curves[t][-1][0], "final": curves[t][-1][1],
                 "best": min(v for _, v in curves[t]), "checkpoint": None, "params": params} for t in trials],
        trial_rungs={t: [1, 2] for t in trials})
    write_outputs(result, hostile["metric"])
    log = EventLog(exp, hostile["metric"], "min", clock=iter(range(100)).__next__)
    log.setup()
    for trial_id in trials:
        trial = SimpleNamespace(trial_id=trial_id, status="RUNNING")
        log.on_trial_start(0, [], trial)
        for epoch, value in curves[trial_id]:
            log.on_trial_result(0, [], trial, {"epoch": epoch, hostile["metric"]: value, "node_id": XSS})
        log.on_trial_complete(0, [], trial)
    log.on_experiment_end([])
    return exp, hostile


def test_the_report_shows_every_user_string_as_text_and_runs_nothing(tmp_path: Path, browser: Any) -> None:
    exp, hostile = _hostile_experiment(tmp_path)
    html = write_report(exp)
    text = html.read_text()
    assert "<script" not in text and "<img src=x" not in text and "<svg" not in text and "<iframe" not in text
    page = browser.new_page()
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    try:
        page.goto(html.as_uri(), wait_until="load")
        page.wait_for_timeout(300)  # an onerror / onload handler would have fired by now
        scripts = page.evaluate("document.scripts.length")
        handlers = page.evaluate("[...document.querySelectorAll('*')].filter(e => [...e.attributes]"
                                 ".some(a => a.name.startsWith('on'))).length")
        frames = page.evaluate("document.querySelectorAll('iframe, svg, embed, object').length")
        body = page.inner_text("body")
        images = page.evaluate("Array.from(document.images).map(i => i.src.slice(0, 22))")
    finally:
        page.close()
    assert dialogs == []
    assert scripts == 0 and handlers == 0 and frames == 0
    assert images == ["data:image/png;base64,"] * 3  # the three figures, and no image of the page's text
    for name in ("value", "key", "trial", "scheduler", "name"):
        assert hostile[name] in body, name
    assert "loss<script>alert(4)</script>" in body  # the metric, in the table headers and captions
