"""Typed config sections (Pydantic v2) whose every error reads as raynn's one line: key, rule, value.

A leaf module (it imports only :mod:`raynn.errors` and :mod:`raynn.values`): the run config
(:mod:`raynn.config_model`) and the search spaces (:mod:`raynn.hpo.spaces`) declare their files with it.

* :class:`Section` is the base of every model: ``extra="forbid"``, and a mapping check before the fields, so
  a typo or a non-mapping is named by its dotted key (``optimizer.learning_rate: is not a known key; ...``).
* :func:`integer`, :func:`number`, :data:`Flag` and :func:`text` are field types that check the value the way
  raynn always has (``true`` is not a count, NaN is not a number) and state the rule in raynn's words; their
  bounds also go into the JSON Schema.
* :func:`config_error` turns Pydantic's :class:`~pydantic.ValidationError` into :class:`ConfigError`: a
  :class:`ConfigError` raised inside a validator (a registry, a ``class_path``) comes out as it was raised;
  a :class:`Rule` or one of Pydantic's own errors is named by the location of the field (dotted by default;
  ``raynn tune``'s options and the schedulers' options say how their keys read). It is the one translation:
  :mod:`raynn.tune.options` and :mod:`raynn.hpo.registry` use it too.
"""

from __future__ import annotations

from typing import Annotated, Any, Callable, ClassVar, Iterable, Optional

from pydantic import (BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, ValidatorFunctionWrapHandler,
                      WrapValidator, model_validator)

from raynn.errors import ConfigError
from raynn.values import INT_MAX, is_finite_number, is_int

__all__ = ["Flag", "Rule", "Section", "choice", "config_error", "dotted", "integer", "number", "text", "unknown_key"]


class Rule(ValueError):
    """A broken rule raised inside a validator: ``rule`` ("must be > 0"); ``key`` (a dotted suffix below the
    field, if the rule is about a part of it) and ``value`` (if not the field's whole input)."""

    _UNSET: ClassVar[object] = object()

    def __init__(self, rule: str, *, key: str | None = None, value: Any = _UNSET) -> None:
        super().__init__(rule)
        self.rule, self.key, self.value = rule, key, value


class Section(BaseModel):
    """A mapping with known keys; the base of every config model."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True, validate_default=False)

    @model_validator(mode="before")
    @classmethod
    def _known_keys(cls, raw: Any) -> Any:
        if isinstance(raw, BaseModel):
            raw = raw.model_dump(by_alias=True)
        if not isinstance(raw, dict):
            raise Rule(cls._mapping_rule())
        known = cls.keys()
        unknown = sorted((k for k in raw if k not in known), key=str)
        if unknown:
            raise Rule(cls._unknown_rule(raw), key=str(unknown[0]), value=raw[unknown[0]])
        return raw

    @classmethod
    def _mapping_rule(cls) -> str:
        return "must be a mapping"

    @classmethod
    def _unknown_rule(cls, raw: dict[str, Any]) -> str:
        return unknown_key(sorted(cls.keys()))

    @classmethod
    def keys(cls) -> list[str]:
        """The keys a file may write here (aliases where a key is a Python keyword: ``lambda``)."""
        return [f.alias or name for name, f in cls.model_fields.items()]

    @classmethod
    def defaults(cls) -> dict[str, Any]:
        """Every key's default, nested sections as mappings (nothing is validated)."""
        out: dict[str, Any] = {}
        for name, f in cls.model_fields.items():
            sub = f.annotation
            if isinstance(sub, type) and issubclass(sub, Section) and f.default_factory is sub:
                out[f.alias or name] = sub.defaults()
            else:
                out[f.alias or name] = f.get_default(call_default_factory=True)
        return out

    def to_dict(self) -> dict[str, Any]:
        """The plain nested ``dict`` (the form that travels to Ray workers, checkpoints and JSON files)."""
        return self.model_dump(mode="python", by_alias=True)


# ---- field types ---------------------------------------------------------------------------------------------


def _check_int(low: int | None, high: int, optional: bool) -> Callable[[Any], Any]:
    def check(v: Any) -> Any:
        if v is None and optional:
            return v
        if not is_int(v):
            raise Rule("must be an integer")
        if low is not None and v < low:
            raise Rule(f"must be >= {low}")
        if v > high:
            raise Rule(f"must be <= {high}")
        return v

    return check


def integer(low: int | None = None, high: int = INT_MAX, *, optional: bool = False) -> Any:
    """An ``int`` (not a ``bool``) in ``[low, high]``; ``optional``: or null."""
    inner: Any = Annotated[int, Field(ge=low, le=high)]
    return Annotated[Optional[inner] if optional else inner, BeforeValidator(_check_int(low, high, optional))]


def number(rule: str = "must be a finite number", ok: Callable[[float], bool] = lambda v: True, *,
           optional: bool = False, **bounds: float) -> Any:
    """A finite ``int`` or ``float`` (not a ``bool``, NaN or inf) for which ``ok`` holds, else ``rule``;
    ``bounds`` (``gt=0``, ``lt=1``) state the same rule in the JSON Schema."""
    def check(v: Any, handler: ValidatorFunctionWrapHandler) -> Any:
        if v is None and optional:
            return v
        if not is_finite_number(v):
            raise Rule("must be a finite number")
        if not ok(float(v)):
            raise Rule(rule)
        out = handler(v)
        return v if is_int(v) else out  # an int stays one (epochs of warmup, GPUs): YAML and JSON keep it so

    inner: Any = Annotated[float, Field(**bounds)] if bounds else float
    return Annotated[Optional[inner] if optional else inner, WrapValidator(check)]


def _check_flag(v: Any) -> Any:
    if not isinstance(v, bool):
        raise Rule("must be true or false")
    return v


Flag = Annotated[bool, BeforeValidator(_check_flag)]
"""``true`` or ``false``, nothing else (YAML's ``'yes'`` is a string)."""


def text(*, optional: bool = False) -> Any:
    """A non-empty string without NUL characters; ``optional``: or null."""
    def check(v: Any) -> Any:
        if v is None and optional:
            return v
        if not isinstance(v, str) or not v:
            raise Rule("must be a non-empty string")
        if "\x00" in v:
            raise Rule("must not contain NUL characters")
        return v

    inner: Any = Annotated[str, Field(min_length=1)]
    return Annotated[Optional[inner] if optional else inner, BeforeValidator(check)]


def choice(value: Any, names: Iterable[str]) -> Any:
    """``value`` if it is one of ``names`` (a registry's), else the rule listing them."""
    names = list(names)
    if value not in names:
        raise Rule(f"must be one of {', '.join(names)}")
    return value


# ---- errors --------------------------------------------------------------------------------------------------

# Pydantic's own errors where no raynn check came first (a field of a type without one, a missing key).
_RULES: dict[str, str] = {
    "missing": "is required",
    "dict_type": "must be a mapping",
    "model_type": "must be a mapping",
    "model_attributes_type": "must be a mapping",
    "list_type": "must be a list",
    "string_type": "must be a string",
    "tuple_type": "must be a list",
    "bool_type": "must be true or false",
    "bool_parsing": "must be true or false",
    "int_type": "must be an integer",
    "int_parsing": "must be an integer",
    "int_from_float": "must be an integer",
    "float_type": "must be a finite number",
    "float_parsing": "must be a finite number",
    "finite_number": "must be a finite number",
}


def _rule(err: dict[str, Any]) -> str:
    ctx = err.get("ctx") or {}
    for bound, sign in (("ge", ">="), ("gt", ">"), ("le", "<="), ("lt", "<")):
        if bound in ctx and err["type"].startswith(("greater", "less")):
            return f"must be {sign} {ctx[bound]}"
    if err["type"] == "literal_error":
        return f"must be one of {ctx.get('expected', '')}".replace("'", "")
    if err["type"] in _RULES:
        return _RULES[err["type"]]
    msg = err["msg"]  # "Input should be a valid date": "must be a valid date"
    return "must be" + msg[len("Input should be"):] if msg.startswith("Input should be") else f"must be valid: {msg}"


def unknown_key(valid: Iterable[str], noun: str = "key", of: str = "") -> str:
    """The rule for a key that is none of ``valid``: "is not a known key; valid keys here: a, b", or with ``noun``
    and ``of`` "is not a known option of scheduler 'sh'; valid options here: budget, num_configs"."""
    names = list(valid)
    where = f"is not a known {noun}{' of ' + of if of else ''}"
    return f"{where}; valid {noun}s here: {', '.join(names)}" if names else f"{where}; it takes no {noun}s"


def dotted(prefix: str = "", root: str = "config") -> Callable[[list[str]], str]:
    """The key of a location as a dotted path (``train.lr``) after ``prefix``; ``root`` for the whole input."""
    return lambda loc: ".".join([prefix, *loc] if prefix else loc) or root


def config_error(exc: ValidationError, root: str = "config", prefix: str = "", *,
                 key: Callable[[list[str]], str] | None = None, unknown: str = "is not a known key",
                 scope: str = "") -> ConfigError:
    """The first error of ``exc`` as a :class:`ConfigError` naming the key, the rule and the value; the one
    translation of Pydantic's errors for the run config, the search spaces, ``raynn tune``'s options and the
    schedulers' options.

    A :class:`ConfigError` raised inside a validator (a registry, a ``class_path``) comes out as it was raised; a
    :class:`Rule` or one of Pydantic's own errors is named by its location. ``key`` turns the location (its
    parts as strings, a :class:`Rule`'s ``key`` appended) into the key (default :func:`dotted` of ``prefix`` and
    ``root``: ``train.lr``; ``raynn tune`` names its flags, ``--max-concurrent``); ``unknown`` is the rule for
    a key the model does not take (see :func:`unknown_key`); ``scope`` follows a rule that Pydantic, not raynn,
    worded (``" for scheduler 'sh'"``)."""
    err = exc.errors(include_url=False)[0]
    inner = (err.get("ctx") or {}).get("error")
    if isinstance(inner, ConfigError):
        return inner
    loc = [str(p) for p in err["loc"]]
    value = err.get("input")
    if isinstance(inner, Rule):
        rule = inner.rule
        loc += [inner.key] if inner.key is not None else []
        value = value if inner.value is Rule._UNSET else inner.value
    elif err["type"] == "extra_forbidden":
        rule = unknown
    else:
        rule = _rule(err) + scope
    return ConfigError((key or dotted(prefix, root))(loc), rule, value)
