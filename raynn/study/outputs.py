"""A study's files: ``results.csv``, ``summary.md``, the PNG figures and one self-contained ``index.html``.

Pure file writing from :class:`~raynn.study.results.StudyResults`; nothing here imports Ray.
"""

from __future__ import annotations

import base64
import csv
import html
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from raynn.study.claims import Outcome
from raynn.study.results import StudyResults, mean_sd

__all__ = ["result_rows", "write_configs", "write_html", "write_results_csv", "write_summary"]

_METRICS = ("train_loss", "val_loss", "val_accuracy", "lr", "step", "global_batch", "early_stopped", "samples_per_s")


def result_rows(results: StudyResults) -> list[dict[str, Any]]:
    """One row per run and epoch, one per logged iteration, and the analysis's rows."""
    rows: list[dict[str, Any]] = []
    for r in results.runs:
        common = {"study": results.study.name, "run": r.spec.run_id, "label": r.label, "seed": r.spec.seed,
                  **{f"param:{k}": v for k, v in r.spec.params.items()}}
        for h in r.history:
            rows.append({**common, "row": "epoch", "epoch": h["epoch"], **{m: h.get(m) for m in _METRICS}})
        for i, loss in enumerate(r.iterations):
            rows.append({**common, "row": "iteration", "iteration": i + 1, "train_loss": loss})
    if results.analysis is not None:
        for row in results.analysis.rows:
            rows.append({"study": results.study.name, "row": "analysis", **row})
    return rows


def write_results_csv(results: StudyResults, path: Path) -> None:
    rows = result_rows(results)
    columns: dict[str, None] = {}
    for row in rows:
        for key in row:
            columns.setdefault(key, None)
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(columns), restval="")
        writer.writeheader()
        writer.writerows(rows)


def write_configs(results: StudyResults, folder: Path) -> None:
    """Each run's raynn config as YAML (``configs/RUN.yaml``), ready for ``raynn train``."""
    folder.mkdir(parents=True, exist_ok=True)
    for r in results.runs:
        for i, cfg in enumerate(r.spec.phases):
            suffix = f".phase{i + 1}" if len(r.spec.phases) > 1 else ""
            clean = {k: v for k, v in cfg.items() if k not in ("name", "storage")}
            (folder / f"{r.spec.run_id}{suffix}.yaml").write_text(yaml.safe_dump(json.loads(json.dumps(clean)), sort_keys=False))


def _run_table(results: StudyResults) -> list[str]:
    if not results.runs:
        return []
    lines = ["| run | seeds | epochs | final train loss | final val loss | final val accuracy | seconds per run |",
             "| --- | --- | --- | --- | --- | --- | --- |"]
    for label in results.labels():
        runs = results.by_label(label)
        fin = {m: [r.final(m) for r in runs] for m in ("train_loss", "val_loss", "val_accuracy")}
        lines.append(f"| {label} | {', '.join(str(r.spec.seed) for r in runs)} | {len(runs[0].history)} | "
                     f"{mean_sd(fin['train_loss'])} | {mean_sd(fin['val_loss'])} | {mean_sd(fin['val_accuracy'])} | "
                     f"{np.mean([r.seconds for r in runs]):.1f} |")
    return lines


def write_summary(results: StudyResults, outcomes: Mapping[str, Outcome], figures: Mapping[str, str],
                  command: str, path: Path) -> None:
    study = results.study
    lines = [f"# {study.title}", "", f"Chapter section: {study.section}.  ", f"Command: `{command}`  ",
             f"Setting: {'full (--full)' if study.full else 'quick (default)'}; seeds {', '.join(map(str, study.seeds)) or 'none (deterministic)'}.", ""]
    if study.description:
        lines += [study.description.strip(), ""]
    held = sum(o.held is True for o in outcomes.values())
    measured = sum(o.held is not None for o in outcomes.values())
    lines += [f"## Claims: {held} of {measured} measured held ({len(outcomes) - measured} not measured in this setting)"
              if measured < len(outcomes) else f"## Claims: {held} of {len(outcomes)} held", "", "| claim | the chapter says | held? | measured |",
              "| --- | --- | --- | --- |"]
    for claim in study.claims:
        o = outcomes[claim.id]
        mark = {True: "yes", False: "**no**", None: "not measured"}[o.held]
        lines.append(f"| {claim.id} | {claim.text} | {mark} | {o.measured} |")
    table = _run_table(results)
    if table:
        lines += ["", "## Runs (mean ± sd over seeds)", "", *table]
    if figures:
        lines += ["", "## Figures", ""]
        for fid, caption in figures.items():
            lines += [f"![{fid}]({fid}.png)", "", caption, ""]
    path.write_text("\n".join(lines) + "\n")


def write_html(results: StudyResults, outcomes: Mapping[str, Outcome], figures: Mapping[str, str],
               command: str, folder: Path) -> Path:
    """``index.html`` with the figures embedded (base64), so the one file can be moved or mailed."""
    study = results.study
    esc = html.escape
    _css = {True: "ok", False: "no", None: "na"}
    rows = "".join(
        f"<tr><td>{esc(c.id)}</td><td>{esc(c.text)}</td><td class='{_css[outcomes[c.id].held]}'>"
        f"{outcomes[c.id].verdict}</td><td>{esc(outcomes[c.id].measured)}</td></tr>"
        for c in study.claims)
    figs = ""
    for fid, caption in figures.items():
        data = base64.b64encode((folder / f"{fid}.png").read_bytes()).decode()
        figs += f"<figure><img alt='{esc(fid)}' src='data:image/png;base64,{data}'><figcaption>{esc(caption)}</figcaption></figure>"
    runs = "".join(f"<tr>{''.join(f'<td>{esc(cell.strip())}</td>' for cell in line.strip('|').split('|'))}</tr>"
                   for line in _run_table(results)[2:])
    page = f"""<!doctype html><html><head><meta charset="utf-8"><title>raynn study: {esc(study.title)}</title>
<style>body{{font-family:sans-serif;max-width:1100px;margin:2em auto;color:#222}}table{{border-collapse:collapse}}
td,th{{border:1px solid #ccc;padding:4px 8px;font-size:13px;vertical-align:top}}.ok{{color:#060}}.no{{color:#a00;font-weight:bold}}.na{{color:#777}}
img{{max-width:100%}}figcaption{{font-size:13px;color:#555}}code{{background:#f3f3f3}}</style></head><body>
<h1>{esc(study.title)}</h1><p>Chapter section {esc(study.section)}. Command: <code>{esc(command)}</code>.
Setting: {'full' if study.full else 'quick'}; seeds {esc(', '.join(map(str, study.seeds)) or 'none (deterministic)')}.</p>
<p>{esc(study.description)}</p>
<h2>Claims</h2><table><tr><th>claim</th><th>the chapter says</th><th>verdict</th><th>measured</th></tr>{rows}</table>
{'<h2>Runs (mean ± sd over seeds)</h2><table><tr><th>run</th><th>seeds</th><th>epochs</th><th>train loss</th><th>val loss</th><th>val accuracy</th><th>s/run</th></tr>' + runs + '</table>' if runs else ''}
<h2>Figures</h2>{figs}
<p>Data: <a href="results.csv">results.csv</a>; run configs in <code>configs/</code>.</p></body></html>"""
    out = folder / "index.html"
    out.write_text(page)
    return out
