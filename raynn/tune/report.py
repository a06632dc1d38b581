"""``raynn report EXPERIMENT_DIR``: one self-contained HTML page about a finished (or running) tuning run.

It reads ``summary.json``, ``results.csv`` and ``events.jsonl`` and writes ``report.html`` with its figures
embedded (and as PNGs in ``<exp_dir>/report/``). Plain HTML and CSS, no script.
"""

from __future__ import annotations

import base64
import csv
import html
import json
import os
import time
from pathlib import Path
from typing import Any, Iterable, Sequence

from raynn.errors import ConfigError
from raynn.hpo.ledger import Ledger, as_resource
from raynn.tune.best import best_of_curves
from raynn import storage
from raynn.paths import check_storage
from raynn.tune.events import EVENTS_FILE, best_so_far, read_events
from raynn.tune.figures import ledger_rungs, plot_best_vs_spent, plot_curves, plot_rungs
from raynn.tune.outputs import RESULTS_FILE, SUMMARY_FILE

__all__ = ["REPORT_FILE", "FIGURES_DIR", "write_report"]

REPORT_FILE, FIGURES_DIR = "report.html", "report"

_CSS = """
body { font-family: -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; max-width: 1100px;
       margin: 2em auto; padding: 0 1em; color: #222; line-height: 1.45; }
h1 { font-size: 1.6em; margin-bottom: 0.2em; } h2 { font-size: 1.25em; margin-top: 1.8em;
     border-bottom: 1px solid #ddd; padding-bottom: 0.2em; }
.meta { color: #666; font-size: 0.9em; }
table { border-collapse: collapse; margin: 0.6em 0; font-size: 0.88em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: left; vertical-align: top; }
th { background: #f3f3f3; } tr.best td { background: #fff3d6; font-weight: 600; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
figure { margin: 1em 0; } figure img { max-width: 100%; border: 1px solid #eee; }
figcaption { color: #555; font-size: 0.9em; }
.note { background: #fff8e1; border-left: 4px solid #f0b400; padding: 0.5em 0.8em; }
code { background: #f5f5f5; padding: 0 0.2em; }
.scroll { overflow-x: auto; }
"""


def _load_summary(exp: Path) -> dict[str, Any]:
    if not exp.is_dir():
        raise ConfigError("EXPERIMENT_DIR", "must be an existing experiment directory", str(exp))
    path = exp / SUMMARY_FILE
    if not path.is_file():
        if (exp / EVENTS_FILE).is_file():  # still running, or its driver was killed: what the log shows
            return _summary_from_events(read_events(exp / EVENTS_FILE))
        raise ConfigError("EXPERIMENT_DIR", f"must hold {SUMMARY_FILE} or {EVENTS_FILE} (raynn tune writes "
                          "them)", str(exp))
    try:
        summary = json.loads(path.read_text())
    except ValueError:
        summary = None
    if not isinstance(summary, dict):
        raise ConfigError("EXPERIMENT_DIR", f"must hold a {SUMMARY_FILE} that is a JSON object", str(exp))
    return summary


def _summary_from_events(events: list[dict[str, Any]]) -> dict[str, Any]:
    """A provisional summary of an unfinished run: curves and the incumbent (the best value at the furthest
    epoch reached) from the event log; no ledger, parameters or checkpoint, which only the end of a run knows."""
    mode = next((e.get("mode") for e in events if e.get("event") == "start"), "min")
    curves: dict[str, dict[int, float]] = {}
    for event in events:
        epoch = as_resource(event.get("epoch"))  # the one rule for a reported epoch (None: not one)
        if event.get("event") == "result" and event.get("value") is not None and epoch is not None:
            curves.setdefault(str(event["trial_id"]), {})[epoch] = float(event["value"])
    best = best_of_curves({t: sorted(c.items()) for t, c in curves.items()}, mode)
    return {"unfinished": True, "best_trial": best.trial_id if best else None,
            "best_value": best.value if best else None, "best_epoch": best.epoch if best else None,
            "best_params": {}, "best_checkpoint": None, "ledger": {},
            "curves": {t: sorted(c.items()) for t, c in curves.items()}}


def _read_results(path: Path) -> tuple[list[str], list[list[str]]]:
    if not path.is_file():
        return [], []
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    return (rows[0], rows[1:]) if rows else ([], [])


def _metric_name(header: Sequence[str], events: Iterable[dict[str, Any]]) -> str:
    """The tuned metric, from the results table's ``final_<metric>`` column or else the event log."""
    for column in header:
        if column.startswith("final_"):
            return column[len("final_"):]
    for event in events:
        if event.get("metric"):
            return str(event["metric"])
    return "metric"


def _text(value: Any) -> str:
    """A value as the page shows it: floats in full (``repr``), so a configuration can be copied exactly."""
    if value is None:
        return "–"
    if isinstance(value, (dict, list)):
        return json.dumps(value)
    return str(value)


def _short(text: str) -> str:
    """A results-table cell: floats to 6 significant digits (the best configuration keeps every digit)."""
    try:
        number = float(text)
    except ValueError:
        return text
    return text if number.is_integer() and "." not in text else f"{number:.6g}"


def _is_number(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, (int, float)):
        return True
    try:
        float(value)
    except (TypeError, ValueError):
        return False
    return True


def _table(header: Sequence[str], rows: Iterable[Sequence[Any]], *, highlight: int | None = None) -> str:
    head = "".join(f"<th>{html.escape(str(h))}</th>" for h in header)
    body = []
    for i, row in enumerate(rows):
        cells = "".join(('<td class="num">' if _is_number(v) else "<td>") + html.escape(_text(v)) + "</td>"
                        for v in row)
        body.append(('<tr class="best">' if i == highlight else "<tr>") + cells + "</tr>")
    return (f'<div class="scroll"><table><thead><tr>{head}</tr></thead>'
            f'<tbody>{"".join(body)}</tbody></table></div>')


def _ledger_html(ledger: Ledger | None) -> str:
    """The ledger's totals, then one row per round of each bracket (HyperBand's, SH's, or ASHA's rungs)."""
    if ledger is None:
        return _table(["scheduler", "budget (planned)", "budget spent"], [[None, None, None]])
    parts = [_table(["scheduler", "budget (planned)", "budget spent"],
                    [[ledger.scheduler, ledger.planned, ledger.spent]])]
    rows = [[b.band, b.bracket, b.planned, b.spent, b.sealed, r.round, r.r, r.planned, r.entered, r.reached,
             r.promoted, r.decided] for b in ledger.brackets for r in b.rounds]
    if rows:
        parts.append(_table(["band", "bracket s", "bracket budget", "bracket spent", "sealed", "round i",
                             "r_i", "planned n_i", "entered", "reached r_i", "promoted", "decided"], rows))
    return "\n".join(parts)


def _ledger(summary: dict[str, Any]) -> Ledger | None:
    """The ledger ``summary.json`` holds (None while a run goes on: only its end knows the ledger)."""
    data = summary.get("ledger")
    return Ledger.from_json(data) if isinstance(data, dict) and data else None


def _figure(png: Path, alt: str, caption: str) -> str:
    data = base64.b64encode(png.read_bytes()).decode("ascii")
    return (f'<figure><img src="data:image/png;base64,{data}" alt="{html.escape(alt)}">'
            f"<figcaption>{caption}</figcaption></figure>")


def _figures_html(exp: Path, summary: dict[str, Any], events: list[dict[str, Any]] | None,
                  metric: str) -> str:
    """Draw the figures into ``<exp>/report/`` and return them as ``<figure>`` elements (or a note)."""
    ledger = _ledger(summary)
    curves = {str(t): [(int(e), float(v)) for e, v in c]
              for t, c in (summary.get("curves") or {}).items() if c}
    rungs = ledger_rungs(ledger) if ledger else []
    best_trial, name = summary.get("best_trial"), html.escape(metric)
    folder = exp / FIGURES_DIR
    folder.mkdir(parents=True, exist_ok=True)
    plot_curves(curves, metric, folder / "curves.png", best_trial=best_trial, rungs=rungs)
    plot_rungs(curves, metric, folder / "rungs.png", best_trial=best_trial, rungs=rungs,
               trial_rungs=summary.get("trial_rungs"))
    rung_text = ", ".join(str(r) for r in rungs) or "none: every epoch is shown"
    parts = [
        _figure(folder / "curves.png", "learning curves",
                f"Learning curves of every trial ({name} against epoch), coloured by the rung it reached; "
                "the best trial is drawn thick."),
        _figure(folder / "rungs.png", "rung diagram",
                f"Rung diagram: each trial's {name} at each rung it reached (rungs r = {rung_text}). An "
                "arrow from r<sub>i</sub> to r<sub>i+1</sub> is a promotion; a cross marks a trial stopped "
                "below the top rung; red is the best trial. Each trial is drawn at the rungs of its own "
                "bracket (a HyperBand bracket s &lt; s<sub>max</sub> starts above the first rung)."),
    ]
    points = best_so_far(events or [])
    if events is None:
        parts.append(f'<p class="note">No <code>{EVENTS_FILE}</code> in this experiment directory (it was '
                     f"run before raynn logged events, or the log was removed): the best {name} against "
                     "resource spent is not drawn.</p>")
    elif not points:
        parts.append(f'<p class="note"><code>{EVENTS_FILE}</code> holds no result with a finite {name}: the '
                     "best value against resource spent is not drawn.</p>")
    else:
        budget = ledger.planned if ledger else None
        plot_best_vs_spent(points, metric, folder / "best_vs_spent.png", budget=budget)
        parts.append(_figure(folder / "best_vs_spent.png", "best value against resource spent",
                             f"Best {name} seen so far against the cumulative resource spent (the sum over "
                             f"trials of the furthest epoch each reached), from <code>{EVENTS_FILE}</code>."))
    return "\n".join(parts)


def _results_html(exp: Path, header: list[str], rows: list[list[str]], best_trial: str | None) -> str:
    if not header:
        return f'<p class="note">No <code>{RESULTS_FILE}</code> in this experiment directory.</p>'
    column = header.index("trial_id") if "trial_id" in header else None
    best = next((i for i, row in enumerate(rows) if column is not None and row[column] == best_trial), None)
    # Checkpoints relative to the experiment directory: the best one's full path is in its own table.
    prefix = f"{exp}/"
    rows = [[_short(c[len(prefix):] if c.startswith(prefix) else c) for c in row] for row in rows]
    return (f'<p class="meta">One row per trial (<code>{RESULTS_FILE}</code>, numbers to 6 significant '
            "digits); checkpoints relative to the experiment directory; the best trial highlighted.</p>\n"
            + _table(header, rows, highlight=best))


def _unfinished_note(summary: dict[str, Any]) -> str:
    if not summary.get("unfinished"):
        return ""
    return (f'<p class="note">This run has not finished (no {SUMMARY_FILE}: still running, or its driver was '
            f"stopped; <code>raynn tune --resume --name NAME</code> continues it). Curves and the incumbent come "
            f"from {EVENTS_FILE}; the ledger, parameters and checkpoint are written when the run ends.</p>")


def _best_rows(summary: dict[str, Any], metric: str) -> list[list[Any]]:
    """The incumbent's table: trial, epoch, value, searched parameters, checkpoint."""
    rows = [["trial", summary.get("best_trial")], ["epoch (the largest reached)", summary.get("best_epoch")],
            [f"{metric} at that epoch", summary.get("best_value")]]
    rows += [[f"param: {k}", v] for k, v in sorted((summary.get("best_params") or {}).items())]
    return rows + [["checkpoint", summary.get("best_checkpoint")]]


def _facts(summary: dict[str, Any], metric: str, events: list[dict[str, Any]] | None) -> list[str]:
    """The page's one-line summary: trials, scheduler, the ledger's budget, the incumbent, the event log."""
    ledger, best_trial = _ledger(summary), summary.get("best_trial")
    budget = f" of {ledger.planned}" if ledger and ledger.planned else ""
    facts = [f"{len(summary.get('curves') or {})} trials", f"scheduler {ledger.scheduler if ledger else '?'}",
             f"budget spent {ledger.spent if ledger else '?'}{budget} epochs",
             f"best {metric} {_text(summary.get('best_value'))} (trial {_text(best_trial)}, "
             f"epoch {_text(summary.get('best_epoch'))})"]
    if events is not None:
        results = sum(1 for e in events if e.get("event") == "result")
        wall = max((float(e.get("wall_s", 0)) for e in events), default=0.0)
        facts.append(f"{results} results logged over {wall:.0f} s")
    return facts


def write_report(exp_dir: str | Path, output: str | Path | None = None) -> Path | str:
    """Write the HTML report of the experiment in ``exp_dir``; return its path.

    Args:
        exp_dir: An experiment directory of ``raynn tune``: finished (``summary.json``) or not
            (``events.jsonl`` only: a provisional report, said so on the page).
        output: The HTML file to write (default ``<exp_dir>/report.html``). The figures are also written as
            PNGs to ``<exp_dir>/report/``.

    An experiment at a storage URI (``s3://bucket/prefix/NAME?...``) is read from there; the report and its
    figures are written to a local folder and uploaded to it (``output``, when given, is a local file).

    Raises:
        ConfigError: ``exp_dir`` is not a directory or holds neither a readable ``summary.json`` nor
            ``events.jsonl``; nothing is written.
    """
    for key, value in (("EXPERIMENT_DIR", exp_dir), ("--output", output)):
        if (value is not None or key == "EXPERIMENT_DIR") and (
                not isinstance(value, (str, os.PathLike)) or "\x00" in str(value)):
            raise ConfigError(key, "must be a path", value)
    if storage.is_uri(str(exp_dir)):
        return _write_remote_report(str(exp_dir), output)
    return _write_report(Path(exp_dir).resolve(), output)


def _write_remote_report(location: str, output: str | Path | None) -> Path | str:
    """The report of the experiment at the URI ``location``: its files read into a temporary folder, the
    report written there, then uploaded (or written to the local ``output``)."""
    import shutil
    import tempfile

    storage.check_uri("EXPERIMENT_DIR", location)  # reachable, credentials, writable: before reading
    if output is not None:
        check_storage("--output", Path(output).resolve().parent)
    with tempfile.TemporaryDirectory(prefix="raynn-report-") as tmp:
        name = storage.Uri(location).name
        exp = Path(tmp, name)
        exp.mkdir()
        present = set(storage.listdir(location))
        for file in (SUMMARY_FILE, RESULTS_FILE, EVENTS_FILE):
            if file in present:
                storage.download_file(storage.join(location, file), exp / file)
        if not present:
            raise ConfigError("EXPERIMENT_DIR", "must be an existing experiment directory", storage.redact(location))
        out = _write_report(exp, None, shown=storage.redact(location))
        storage.upload_dir(exp / FIGURES_DIR, storage.join(location, FIGURES_DIR))
        if output is not None:
            target = Path(output).resolve()
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(out, target)
            return target
        storage.upload_file(out, storage.join(location, REPORT_FILE))
        return storage.join(location, REPORT_FILE)


def _write_report(exp: Path, output: str | Path | None, shown: str | None = None) -> Path:
    """:func:`write_report` of the local experiment directory ``exp`` (``shown``: the name to show)."""
    summary = _load_summary(exp)
    out = Path(output).resolve() if output is not None else exp / REPORT_FILE
    if out.is_dir():
        raise ConfigError("--output", "must be a file, not a directory", str(out))
    # Both are written (figures into the experiment directory): refuse before writing either.
    check_storage("EXPERIMENT_DIR", exp)
    check_storage("--output", out.parent)
    header, rows = _read_results(exp / RESULTS_FILE)
    events = read_events(exp / EVENTS_FILE) if (exp / EVENTS_FILE).is_file() else None
    metric = _metric_name(header, events or [])
    ledger, best_trial = _ledger(summary), summary.get("best_trial")

    best_rows, facts = _best_rows(summary, metric), _facts(summary, metric, events)

    page = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>raynn tune report: {html.escape(exp.name)}</title>
<style>{_CSS}</style></head>
<body>
<h1>raynn tune report: {html.escape(exp.name)}</h1>
<p class="meta">{html.escape(shown or str(exp))} · written {time.strftime("%Y-%m-%d %H:%M:%S")}</p>
<p>{html.escape(" · ".join(facts))}</p>
{_unfinished_note(summary)}
<h2>Best configuration</h2>
{_table(["", "value"], best_rows)}
<h2>Figures</h2>
{_figures_html(exp, summary, events, metric)}
<h2>Budget ledger</h2>
{_ledger_html(ledger)}
<h2>Results</h2>
{_results_html(exp, header, rows, best_trial)}
</body></html>
"""
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(page)
    return out
