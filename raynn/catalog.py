"""The catalogue of every name a user can type: each registry, by kind, as ``raynn list`` prints it.

It sits beside the command line rather than in :mod:`raynn.registry`, because it imports every package that
owns a registry, and each of those imports :class:`~raynn.registry.Registry`: kept in the registry module it
made one import cycle of the whole package.
"""

from __future__ import annotations

from raynn.registry import Registry

__all__ = ["all_registries"]


def all_registries() -> dict[str, Registry]:  # type: ignore[type-arg]
    """Every registry of user-facing names, by kind, in the order of a run config (``raynn list`` prints them;
    tests walk them). Studies are the YAML files under ``studies/``."""
    from raynn.data import AUGMENTATIONS, DATASETS, PREPROCESSORS
    from raynn.early_stopping import METRICS
    from raynn.hpo import SCHEDULERS
    from raynn.hpo.searchers import SAMPLERS, SEARCHERS
    from raynn.hpo.spaces import DISTRIBUTIONS
    from raynn.nn import ACTIVATIONS, INITIALIZERS, MODELS, NORMS
    from raynn.optim import CLIPPERS, OPTIMIZERS
    from raynn.scaling import SCALING_RULES
    from raynn.schedules import SCHEDULES
    from raynn.study import study_registry

    return {r.kind: r for r in (DATASETS, PREPROCESSORS, AUGMENTATIONS, MODELS, ACTIVATIONS, NORMS, INITIALIZERS,
                                 OPTIMIZERS, CLIPPERS, SCHEDULES, SCALING_RULES, METRICS, SCHEDULERS, SEARCHERS,
                                 SAMPLERS, DISTRIBUTIONS, study_registry())}


def format_catalog() -> str:
    """The text of ``raynn list``: each kind, then its names with their one-line summaries."""
    lines = []
    for kind, registry in all_registries().items():
        lines.append(f"{kind}:")
        lines += [f"  {entry.name:<22} {entry.summary}" for entry in registry]
    return "\n".join(lines)
