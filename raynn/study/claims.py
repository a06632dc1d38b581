"""Claim checks: each decides, from what a study measured, whether one of the chapter's claims held.

A check is ``check(results, **params) -> Outcome``; ``params`` come from the study file next to the claim's
text, so the tolerance is stated before the runs, in the file, and never tuned afterwards. An outcome says
``held`` or not and gives the numbers. A claim that does not hold is reported as not holding.

Nothing here imports Ray.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from itertools import pairwise
from typing import Any

import numpy as np

from raynn.study.registries import CLAIMS
from raynn.study.results import StudyResults

__all__ = ["CLAIMS", "NotMeasured", "Outcome", "evaluate_claims"]


@dataclass(frozen=True)
class Outcome:
    """The verdict on one claim, with the numbers that decided it; ``held`` is None when this setting of the
    study does not measure the claim (a quick setting with one batch multiplier cannot show a trend in k)."""

    held: bool | None
    measured: str

    @property
    def verdict(self) -> str:
        return {True: "held", False: "did not hold", None: "not measured"}[self.held]


class NotMeasured(ValueError):
    """Raised by a check when the runs of this setting cannot decide its claim (say which runs are missing)."""


Check = Callable[..., Outcome]


def evaluate_claims(results: StudyResults) -> dict[str, Outcome]:
    """Every claim of the study, by id. A check that cannot run (a label missing) is reported as not held."""
    out = {}
    for claim in results.study.claims:
        try:
            out[claim.id] = CLAIMS.get(claim.check)(results, **claim.params)
        except NotMeasured as exc:
            out[claim.id] = Outcome(None, f"not measured in this setting: {exc}")
        except (ValueError, KeyError, TypeError, IndexError) as exc:
            out[claim.id] = Outcome(False, f"could not be checked: {exc}")
    return out


def _fmt(v: float) -> str:
    return f"{v:.4g}"


def _value(results: StudyResults, label: str, metric: str, at: str) -> float:
    return results.final(label, metric, at)[0]


# ----------------------------------------------------------------------------------------------------------------
# Generic comparisons of runs.


@CLAIMS.register("compare", "each `better` label beats `than` on `metric` by at least `margin` (mean over seeds)")
def compare(results: StudyResults, *, metric: str, better: Sequence[str], than: str, at: str = "last",
            mode: str = "min", margin: float = 0.0) -> Outcome:
    """Held when, for every label in ``better``, ``value(than) - value(label) >= margin`` (``mode: min``).

    A negative ``margin`` is a tolerance: ``margin: -0.5`` means "no worse than ``than`` by more than 0.5".
    """
    sign = 1.0 if mode == "min" else -1.0
    ref = _value(results, than, metric, at)
    parts, ok = [], True
    for label in better:
        v = _value(results, label, metric, at)
        gain = sign * (ref - v)
        ok &= gain >= margin
        parts.append(f"{label}: {_fmt(v)}")
    return Outcome(bool(ok), f"{metric} ({at}, mean over seeds) {'; '.join(parts)}; {than}: {_fmt(ref)}"
                   + (f"; required margin {margin:g}" if margin else ""))


@CLAIMS.register("rises", "`metric` goes up between two epochs in every `labels` run, and never in `steady`")
def rises(results: StudyResults, *, labels: Sequence[str], metric: str = "train_loss",
          steady: Sequence[str] = ()) -> Outcome:
    parts, ok = [], True
    for label in labels:
        _, mean, _ = results.epoch_curve(label, metric)
        ups = int(np.sum(np.diff(mean) > 0))
        ok &= ups > 0
        parts.append(f"{label}: {ups} rise(s)")
    for label in steady:
        _, mean, _ = results.epoch_curve(label, metric)
        ups = int(np.sum(np.diff(mean) > 0))
        ok &= ups == 0
        parts.append(f"{label}: {ups} rise(s)")
    return Outcome(bool(ok), f"epoch-to-epoch rises of mean {metric}: " + "; ".join(parts))


# ----------------------------------------------------------------------------------------------------------------
# Batch size (Fig. 7.3).


@CLAIMS.register("batch_per_iteration", "per iteration, the larger batch's mini-batch loss is lower")
def batch_per_iteration(results: StudyResults, *, labels: Sequence[str], window: int = 10,
                        tolerance: float = 0.0) -> Outcome:
    """``labels`` from the smallest batch to the largest; compares the mean mini-batch loss over the second
    half of the iterations all runs have in common (``N`` = the largest batch's run length)."""
    n = min(len(r.iterations) for label in labels for r in results.by_label(label))
    lo = n // 2
    values = []
    for label in labels:
        per_seed = [float(np.mean(r.iterations[lo:n])) for r in results.by_label(label)]
        values.append(float(np.mean(per_seed)))
    ok = all(b <= a + tolerance for a, b in pairwise(values))
    parts = [f"{label}: {_fmt(v)}" for label, v in zip(labels, values)]
    return Outcome(ok, f"mean mini-batch loss over iterations {lo + 1}-{n}: " + "; ".join(parts))


@CLAIMS.register("batch_per_epoch", "per epoch, the smaller batch's training loss is lower")
def batch_per_epoch(results: StudyResults, *, labels: Sequence[str], metric: str = "train_loss",
                    epoch: int | None = None, tolerance: float = 0.0) -> Outcome:
    """``labels`` from the smallest batch to the largest; compares ``metric`` at ``epoch`` (default: last)."""
    values = []
    for label in labels:
        _, mean, _ = results.epoch_curve(label, metric)
        values.append(float(mean[(epoch or len(mean)) - 1]))
    ok = all(a <= b + tolerance for a, b in pairwise(values))
    where = f"epoch {epoch}" if epoch else "the last epoch"
    return Outcome(ok, f"{metric} at {where}: " + "; ".join(f"{label}: {_fmt(v)}" for label, v in zip(labels, values)))


# ----------------------------------------------------------------------------------------------------------------
# Large batches (4.4.1; Goyal et al. 2017).


def large_batch_table(results: StudyResults) -> dict[tuple[int, str, str], list[float]]:
    """Validation error in percent at the last epoch, per seed, by ``(k, rule, warmup)``."""
    table: dict[tuple[int, str, str], list[float]] = {}
    for r in results.runs:
        p = r.spec.params
        table.setdefault((int(p["k"]), str(p["rule"]), str(p["warmup"])), []).append(100.0 * (1 - r.final("val_accuracy")))
    return table


def _ref(table: dict[tuple[int, str, str], list[float]]) -> float:
    refs = [v for (k, _, _), v in table.items() if k == 1]
    if not refs:
        raise NotMeasured("the large-batch grid has no k = 1 reference run")
    return float(np.mean(refs[0]))


@CLAIMS.register("linear_rule_range", "the linear rule (with `warmup`) stays within `points` of the reference "
                 "at the smallest k > 1 and not at the largest")
def linear_rule_range(results: StudyResults, *, warmup: str = "gradual", points: float = 0.5) -> Outcome:
    table = large_batch_table(results)
    ref = _ref(table)
    ks = sorted(k for (k, rule, w) in table if rule == "linear" and w == warmup and k > 1)
    if len(ks) < 2:
        raise NotMeasured(f"needs runs with rule linear and warmup {warmup} at two k > 1, has k in {ks}")
    diffs = {k: float(np.mean(table[(k, "linear", warmup)])) - ref for k in ks}
    within = [k for k in ks if diffs[k] <= points]
    largest = max(within, default=1)
    ok = diffs[ks[0]] <= points and diffs[ks[-1]] > points
    detail = "; ".join(f"k={k}: {diffs[k]:+.2f}" for k in ks)
    return Outcome(ok, f"validation error minus the reference's ({ref:.2f}%), in points: {detail}; "
                   f"largest k within {points:g} points: {largest}")


@CLAIMS.register("large_batch_compare", "at k = `k` (default the largest), run `better` has a lower validation "
                 "error than run `than` by at least `margin` points")
def large_batch_compare(results: StudyResults, *, better: Sequence[str], than: Sequence[str], k: int | None = None,
                        margin: float = 0.0) -> Outcome:
    table = large_batch_table(results)
    kk = k if k is not None else max(kk for kk, _, _ in table)
    a = table.get((kk, str(better[0]), str(better[1])))
    b = table.get((kk, str(than[0]), str(than[1])))
    if a is None or b is None:
        raise NotMeasured(f"k={kk}: no {list(better if a is None else than)} runs")
    gain = float(np.mean(b) - np.mean(a))
    return Outcome(gain >= margin, f"k={kk}: {better[0]}/warmup {better[1]} {np.mean(a):.2f}% "
                   f"(sd {np.std(a):.2f}) vs {than[0]}/warmup {than[1]} {np.mean(b):.2f}% (sd {np.std(b):.2f}), "
                   f"{len(a)} seed(s)" + (f"; required margin {margin:g} points" if margin else ""))


@CLAIMS.register("warmup_default", "raynn's `auto` warmup is within `points` of the best warmup of its rule at every k")
def warmup_default(results: StudyResults, *, rule: str = "linear", points: float = 0.5) -> Outcome:
    table = large_batch_table(results)
    ok, parts = True, []
    for kk in sorted({k for k, r, w in table if r == rule and w == "auto"}):
        auto = float(np.mean(table[(kk, rule, "auto")]))
        others = {w: float(np.mean(v)) for (k, r, w), v in table.items() if k == kk and r == rule and w != "auto"}
        if not others:
            continue
        best_w = min(others, key=others.__getitem__)
        ok &= auto - others[best_w] <= points
        parts.append(f"k={kk}: auto {auto:.2f}% vs best ({best_w}) {others[best_w]:.2f}%")
    if not parts:
        raise NotMeasured(f"no k has both rule {rule} with warmup auto and another warmup")
    return Outcome(bool(ok), "; ".join(parts))


# ----------------------------------------------------------------------------------------------------------------
# Analyses.


def _data(results: StudyResults) -> dict[str, Any]:
    if results.analysis is None:
        raise ValueError("this check needs the study's analysis")
    return results.analysis.data


def _iterations(reached: int | None) -> float:
    """Iterations a method took to reach its tolerance, for comparing two methods: one that never did (None)
    ranks after every count. A count of 0 ranks there too, as it always has here (no analysis produces one:
    its methods start from one point, and ``steps_to_tol`` counts from 1)."""
    return reached or math.inf


@CLAIMS.register("momentum_accelerates", "heavy-ball momentum reaches the tolerance in fewer iterations than GD")
def momentum_accelerates(results: StudyResults) -> Outcome:
    paths = _data(results)["paths"]
    gd, hb = paths["sgd"]["iters_to_tol"], paths["momentum"]["iters_to_tol"]
    ok = hb is not None and (gd is None or hb < gd)
    return Outcome(ok, f"iterations to f <= tol * f0: gradient descent {gd or 'not reached'}, momentum {hb or 'not reached'}")


@CLAIMS.register("nesterov_damps", "Nesterov overshoots and travels less on the steep axis and converges no slower "
                 "than momentum")
def nesterov_damps(results: StudyResults) -> Outcome:
    paths = _data(results)["paths"]
    hb, nag = paths["momentum"], paths["nesterov"]
    ok = (nag["overshoot_steep"] < hb["overshoot_steep"] and nag["travel_steep"] < hb["travel_steep"]
          and _iterations(nag["iters_to_tol"]) <= _iterations(hb["iters_to_tol"]))
    return Outcome(ok, f"momentum vs Nesterov: largest |theta2| after the start {hb['overshoot_steep']:.3g} vs "
                   f"{nag['overshoot_steep']:.3g}; distance travelled along theta2 {hb['travel_steep']:.3g} vs "
                   f"{nag['travel_steep']:.3g} (sign changes {hb['sign_changes_steep']} vs {nag['sign_changes_steep']}); "
                   f"iterations to tolerance {hb['iters_to_tol']} vs {nag['iters_to_tol']}")


def _ratio(values: Sequence[float]) -> float:
    """How far a per-layer variance drifts over the depth: last layer over first (>1 grows, <1 shrinks)."""
    first, last = float(values[0]), float(values[-1])
    return last / first if first > 0 else math.inf


@CLAIMS.register("init_variance", "pairings expected `kept` keep Var(a) and Var(dL/dz) within `factor` over the "
                 "depth; those expected `lost` do not")
def init_variance(results: StudyResults, *, factor: float = 10.0, labels: Sequence[str] | None = None) -> Outcome:
    pairs = _data(results)["pairings"]
    ok, parts = True, []
    for label in labels or list(pairs):
        p = pairs[label]
        ra, rg = _ratio(p["activation_var"]), _ratio(p["grad_var"])
        kept = 1 / factor <= ra <= factor and 1 / factor <= rg <= factor
        expect = p["expect"]
        agrees = expect == "shown" or kept == (expect == "kept")
        ok &= agrees
        parts.append(f"{label}: Var(a) x{ra:.3g}, Var(dL/dz) x{rg:.3g} ({'kept' if kept else 'not kept'}"
                     f"{'' if agrees else ', NOT as claimed'}{', not part of the claim' if expect == 'shown' else ''})")
    return Outcome(bool(ok), "last layer over first: " + "; ".join(parts))


@CLAIMS.register("standardization_conditions", "standardized features give a rounder loss (lower Hessian condition "
                 "number) and gradient descent needs fewer steps")
def standardization_conditions(results: StudyResults) -> Outcome:
    g = _data(results)["gradient"]
    raw, std = g["raw"], g["standardized"]
    ok = std["condition"] < raw["condition"] and _iterations(std["steps_to_tol"]) < _iterations(raw["steps_to_tol"])
    return Outcome(ok, f"condition number {raw['condition']:.3g} -> {std['condition']:.3g}; gradient-descent steps to "
                   f"shrink L - L* by {g['tolerance']:g}: {raw['steps_to_tol'] or 'not within ' + str(g['max_iterations'])}"
                   f" -> {std['steps_to_tol']}")


@CLAIMS.register("whitening", "standardization leaves the correlation, PCA whitening removes it (covariance = I)")
def whitening(results: StudyResults, *, tolerance: float = 0.05) -> Outcome:
    stats = _data(results)["whitening"]["stats"]
    raw, std, white = stats["raw"], stats["standardized"], stats["PCA-whitened"]
    dev = float(np.max(np.abs(np.asarray(white["cov"]) - np.eye(2))))
    var_std = np.diag(np.asarray(std["cov"]))
    ok = dev <= tolerance and abs(std["corr"] - raw["corr"]) <= tolerance and bool(np.all(np.abs(var_std - 1) <= tolerance))
    return Outcome(ok, f"correlation raw {raw['corr']:.3f}, standardized {std['corr']:.3f} (variances "
                   f"{var_std[0]:.3f}, {var_std[1]:.3f}), whitened {white['corr']:.3f}; max |cov - I| after "
                   f"whitening {dev:.2g}")


def chapter_lr(spec: dict[str, Any], k: int) -> float:
    """The chapter's closed forms (4.4.2), written out here independently of :mod:`raynn.schedules`."""
    name = spec["name"]
    if name == "piecewise_constant":
        passed = sum(1 for b in spec["boundaries"] if b <= k)
        return spec["alpha0"] * (1.0 if passed == 0 else spec["factors"][passed - 1])
    if name == "inverse_time":
        return spec["alpha0"] / (1 + spec["beta"] * k)
    if name == "exponential":
        return spec["alpha0"] * spec["beta"] ** k
    if name == "natural_exponential":
        return spec["alpha0"] * math.exp(-spec["beta"] * k)
    if name == "cosine":
        return 0.5 * spec["alpha0"] * (1 + math.cos(min(k, spec["max_iter"]) * math.pi / spec["max_iter"]))
    if name == "warmup":
        w = spec["warmup_iters"]
        if k < w:
            return (k + 1) / w * spec["alpha0"]  # the chapter's k/W with k counted from 1
        return chapter_lr({"alpha0": spec["alpha0"], **spec["after"]}, k - w) if spec.get("after") else spec["alpha0"]
    if name == "triangular":
        dt, decay = spec["delta_t"], spec.get("decay", 1.0)
        m = math.floor(1 + k / (2 * dt))
        b = abs(k / dt - 2 * m + 1)  # Smith (2017); the chapter prints a floor here, see raynn.schedules.triangular
        lo, hi = spec["alpha_min"] * decay ** (m - 1), spec["alpha_max"] * decay ** (m - 1)
        return lo + (hi - lo) * max(0.0, 1 - b)
    if name == "sgdr":
        t, m, tm = k / spec["iters_per_epoch"], 1, spec["t0"]
        while t >= tm:
            t, m, tm = t - tm, m + 1, tm * spec["kappa"]
        decay = spec.get("decay", 1.0) ** (m - 1)
        lo, hi = spec["alpha_min"] * decay, spec["alpha_max"] * decay
        return lo + 0.5 * (hi - lo) * (1 + math.cos(t / tm * math.pi))
    raise ValueError(f"no closed form written out for schedule {name!r}")


@CLAIMS.register("schedule_closed_forms", "every drawn schedule equals the chapter's formula at every iteration")
def schedule_closed_forms(results: StudyResults, *, rel: float = 1e-9) -> Outcome:
    curves = _data(results)["curves"]
    worst, where = 0.0, ""
    for label, c in curves.items():
        for k, lr in zip(c["k"], c["lr"]):
            want = chapter_lr(c["spec"], k)
            err = abs(lr - want) / max(abs(want), 1e-300)
            if err > worst:
                worst, where = err, f"{label} at k={k}"
    n = sum(len(c["k"]) for c in curves.values())
    return Outcome(worst <= rel, f"{len(curves)} schedules, {n} points; largest relative difference {worst:.2g}"
                   + (f" ({where})" if where else ""))
