"""Specs as the API server reads them, for the spec models that read them without it.

``onduty lint`` and the operator's own parsing read runbook, policy and
diagnostic specs that did not come through the API server; each model says
what its CRD schema says, and this module holds what every one of them
shares, so the models import it rather than each other. Some of the API
server's reading is no field constraint:

* a null field is the same as an absent one (``nullable`` is false
  everywhere, so the API server prunes it): :func:`without_nulls`;
* values keep their JSON type: ``"5"`` is not an integer, ``1`` is not
  ``true`` — pydantic's lax mode would convert them, the API server does not:
  :func:`json_type_error`;
* a field is spelt as the CRD spells it (``dryRun``): the models also take
  their Python names (``dry_run``), which in a spec are unknown fields:
  :func:`python_name_in`, checked from each kind's root by :class:`SpecRoot`;
* a duration is one Go can hold, as the CRDs' CEL rules read them:
  :func:`go_duration`.

What is wrong with a spec is told one way too: :func:`describe_validation_error`
names each faulty field as kubectl would (``spec.levels[0].ackTimeout``) and
its value (:func:`shown`), in one of the :class:`Problems` styles the kinds'
messages have always used.

And the patterns the CRDs give for object names, cron expressions and
timestamps, so the models and the CRDs check one expression.
"""

from __future__ import annotations

import enum
import math
import re
import sys
import types
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Annotated, Any, Literal, TypeVar, Union, get_args, get_origin

from pydantic import BaseModel, ConfigDict, ValidationError, ValidationInfo, field_validator, model_validator

from onduty.domain import durations

# Kubernetes object names: RFC 1123 labels (namespaces, Services) and subdomains (most objects).
DNS_LABEL = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
DNS_SUBDOMAIN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
# The longest duration a spec may give (Go's time.Duration, which the API server's CEL uses).
MAX_DURATION = durations.MAX
_INT64 = range(-(2**63), 2**63)  # a JSON integer the API server takes
_T = TypeVar("_T")
# A policy window's five-field cron, as one expression both the model and the CRD
# (its pattern) read the same way: per field '*', a number or a range within
# the field's bounds (numbers of at most two digits), each with an optional
# /step of 1-99, in a comma-separated list; fields separated by spaces. That a
# range does not run backwards (5-2) is checked apart, in both.
_CRON_NUMBERS = ("[0-5]?[0-9]", "[01]?[0-9]|2[0-3]", "0?[1-9]|[12][0-9]|3[01]", "0?[1-9]|1[0-2]", "0?[0-7]")
_CRON_ITEMS = [f"([*]|({n})(-({n}))?)(/(0?[1-9]|[1-9][0-9]))?" for n in _CRON_NUMBERS]
CRON_PATTERN = "^ *" + " +".join(f"{item}(,{item})*" for item in _CRON_ITEMS) + " *$"
# What a cron must be, in the words of the CRD's rule message (which follows "must be ").
CRON_FORM = (
    "five cron fields such as '0 2 * * 6' (Saturdays 02:00): minute 0-59, hour 0-23, day of month 1-31,"
    " month 1-12, day of week 0-7 (0 and 7 are Sunday), as numbers, not names like Sat or shorthands like @daily"
)
_CRON_SHORTHANDS = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
_MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
_DAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")
# A policy window's start and end: RFC 3339 with an offset, years 1970-2999. The
# API server's date-time format and Python's parser each accept forms the
# other does not (lower-case 't', '+0100', offsets past 23:59, year 0); this
# is what both accept, and the CRD gives it as the pattern.
TIMESTAMP_PATTERN = (
    r"^(19[7-9][0-9]|2[0-9]{3})-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}([.][0-9]+)?"
    r"(Z|[+-]([01][0-9]|2[0-3]):[0-5][0-9])$"
)


def _numbered(field: str, names: tuple[str, ...], first: int) -> str:
    """A cron field with its three-letter names (``Sat``, ``jan``) as the numbers they stand for."""

    def number(found: re.Match[str]) -> str:
        name = found[0].lower()
        return str(names.index(name) + first) if name in names else found[0]

    return re.sub("[A-Za-z]{3}", number, field)


def cron_suggestion(value: str) -> str | None:
    """The cron ``value`` means, in numbers, where that is obvious (``0 2 * * Sat`` → ``0 2 * * 6``); None if not."""
    written = _CRON_SHORTHANDS.get(value.strip().lower())
    if written is None:
        fields = value.split()
        if len(fields) != 5:
            return None
        fields[3], fields[4] = _numbered(fields[3], _MONTHS, 1), _numbered(fields[4], _DAYS, 0)
        written = " ".join(fields)
    return written if re.fullmatch(CRON_PATTERN, written) else None


def cron_problem_in_words(value: str) -> str | None:
    """Why ``value`` is not a cron the CRD accepts, with the fix where one is obvious; None if it is one."""
    if re.fullmatch(CRON_PATTERN, value):
        return None
    fix = cron_suggestion(value)
    return f"{value!r} is not {CRON_FORM}" + (f"; write {fix!r}" if fix else "")


def go_duration(value: Any) -> Any:
    """``value`` if it is a duration the CRD accepts (``90s``, ``1h30m``, ``1d``, at most :data:`MAX_DURATION`).

    Anything but a string is left to the type check.
    """
    if not isinstance(value, str):
        return value
    problem = durations.problem(value)
    if problem:
        raise ValueError(problem)
    return value


def _json_kinds(annotation: Any) -> frozenset[str] | None:
    """The JSON types a field of this Python type takes in the CRD schema; None for any."""
    origin = get_origin(annotation)
    if origin is Annotated:
        return _json_kinds(get_args(annotation)[0])
    if origin in (Union, types.UnionType):
        kinds: set[str] = set()
        for arg in get_args(annotation):
            if arg is type(None):
                continue
            inner = _json_kinds(arg)
            if inner is None:
                return None
            kinds |= inner
        return frozenset(kinds)
    if origin is Literal:
        return frozenset(k for value in get_args(annotation) if (k := _json_kind(value)) is not None)
    if origin in (tuple, list, set, frozenset):
        return frozenset({"array"})
    if origin in (dict, Mapping) or annotation is dict:
        return frozenset({"object"})
    simple = {bool: "boolean", int: "integer", str: "string", datetime: "string"}
    if annotation in simple:
        return frozenset({simple[annotation]})
    if annotation is float:
        return frozenset({"integer", "number"})
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return frozenset({"object"})
    return None


def _json_kind(value: Any) -> str | None:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        # A whole float is an integer to the API server too: kubectl sends 2.0 as 2.
        return "integer" if value.is_integer() else "number"
    if isinstance(value, (str, datetime)):
        return "string"
    if isinstance(value, (list, tuple)):
        return "array"
    if isinstance(value, (Mapping, BaseModel)):
        return "object"
    return None


def json_type_error(value: Any, annotation: Any) -> str | None:
    """Why the API server would refuse ``value`` for a field of type ``annotation`` by its JSON type, or None."""
    if isinstance(value, float) and not math.isfinite(value):
        return "must be a finite number"  # JSON has no NaN or infinity
    wanted, kind = _json_kinds(annotation), _json_kind(value)
    if isinstance(value, int) and not isinstance(value, bool) and value not in _INT64:
        # The API server reads an integer past int64 as a float: a number field takes it, an integer one does not.
        if wanted is None or "number" not in wanted:
            return "must fit in a 64-bit integer"
        if abs(value) > sys.float_info.max:
            return "must be a finite number"
    if wanted is None or kind is None or kind in wanted:
        return None
    return f"must be of type {' or '.join(sorted(wanted))}, not {kind}"


def without_nulls(data: Any) -> Any:
    """A mapping without its null values: the API server prunes them, so null and absent are one."""
    if isinstance(data, Mapping):
        return {key: value for key, value in data.items() if value is not None}
    return data


def distinct(values: Sequence[Any]) -> Sequence[Any]:
    """``values`` if none repeats (``x-kubernetes-list-type: set``)."""
    seen: list[Any] = []
    for value in values:
        if value in seen:
            raise ValueError(f"duplicate value {value!r}")
        seen.append(value)
    return values


def string_set(
    values: _T,
    *,
    max_items: int | None = None,
    max_length: int,
    pattern: str | None = None,
    min_items: int = 0,
    min_length: int = 0,
    unique: bool = True,
) -> _T:
    """``values`` if it is a set (``x-kubernetes-list-type: set``; a plain list if not ``unique``) of bounded strings.

    The CRD's ``minItems``/``maxItems`` and its items' ``minLength``,
    ``maxLength`` and ``pattern``, for a validator; the runbook models say the
    same with ``Field`` in their declarations.
    """
    if not isinstance(values, (list, tuple)):
        return values  # the type check says what is wrong
    if len(values) < min_items:
        raise ValueError(f"must have at least {min_items} item(s)")
    if max_items is not None and len(values) > max_items:
        raise ValueError(f"must have at most {max_items} items, not {len(values)}")
    for index, value in enumerate(values):
        if not isinstance(value, str):
            continue
        if len(value) > max_length:
            raise ValueError(f"[{index}]: must be at most {max_length} characters, not {len(value)}")
        if len(value) < min_length:
            raise ValueError(f"[{index}]: {value!r} must be at least {min_length} character(s) long")
        if pattern is not None and not re.fullmatch(pattern, value):
            raise ValueError(f"[{index}]: {value!r} is not {in_words(pattern)}")
    if unique:
        distinct(values)
    return values


def python_name_in(model: type[BaseModel], data: Any, path: str = "") -> str | None:
    """Where ``data`` spells a field by its Python name (``dry_run``) rather than the CRD's (``dryRun``), or None.

    The models also take Python names, so code can build them; in a spec
    such a key is an unknown field, which the API server refuses.
    """
    if not isinstance(data, Mapping):
        return None
    fields = {info.alias or name: info for name, info in model.model_fields.items()}
    for key, value in data.items():
        info = fields.get(key)
        if info is None:
            alias = next((f.alias for n, f in model.model_fields.items() if n == key and f.alias), None)
            if alias:
                return f"{path}{key}: unknown field (the CRD calls it {alias})"
            continue
        found = _python_name_in_value(info.annotation, value, f"{path}{key}")
        if found:
            return found
    return None


def _python_name_in_value(annotation: Any, value: Any, path: str) -> str | None:
    origin, args = get_origin(annotation), get_args(annotation)
    if origin is Annotated:
        return _python_name_in_value(args[0], value, path)
    if origin in (Union, types.UnionType) and isinstance(value, Mapping):
        # Optional, or the diagnostics' union, where the ``type`` says which model it is.
        models = [
            arg
            for arg in args
            if isinstance(arg, type)
            and issubclass(arg, BaseModel)
            and ("type" not in arg.model_fields or value.get("type") in get_args(arg.model_fields["type"].annotation))
        ]
        return python_name_in(models[0], value, f"{path}.") if models else None
    if origin in (tuple, list) and args and isinstance(value, list):
        for index, item in enumerate(value):
            found = _python_name_in_value(args[0], item, f"{path}[{index}]")
            if found:
                return found
        return None
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return python_name_in(annotation, value, f"{path}.")
    return None


class SpecModel(BaseModel):
    """A spec as the API server reads it: unknown fields refused, null is absent, values keep their JSON type.

    The base of the Runbook and RemediationPolicy models, so ``onduty lint``, the
    operator and ``kubectl apply`` give one answer.
    """

    model_config = ConfigDict(extra="forbid", populate_by_name=True, frozen=True)

    @model_validator(mode="before")
    @classmethod
    def _without_nulls(cls, data: Any) -> Any:
        return without_nulls(data)

    @field_validator("*", mode="before")
    @classmethod
    def _json_type(cls, value: Any, info: ValidationInfo) -> Any:
        problem = json_type_error(value, cls.model_fields[info.field_name or ""].annotation)
        if problem:
            raise ValueError(problem)
        return value


class SpecRoot(SpecModel):
    """The whole spec of a kind: a field spelt by its Python name anywhere inside is refused.

    Checked once, from the root, so the message names the field's whole path
    (``levels[0].ack_timeout: unknown field (the CRD calls it ackTimeout)``).
    """

    @model_validator(mode="before")
    @classmethod
    def _spelt_as_the_crd(cls, data: Any) -> Any:
        problem = python_name_in(cls, data)
        if problem:
            raise ValueError(problem)
        return data


# -- what is wrong with a spec ---------------------------------------------------------


def shown(value: object) -> str:
    """``repr(value)`` cut to 80 characters, for an error message that names a bad value."""
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


class Problems(enum.Enum):
    """How much :func:`describe_validation_error` tells: the first problem, or every one; always in onduty's words."""

    # The first problem only (a status condition has room for one):
    # spec.levels[0].ackTimeout: '5 minutes' is not a duration; write 5m
    FIRST = "first"
    # Every problem, separated by '; ':
    # spec.timeZone: required; spec.layers[0].rotation: '1 week' is not a duration; write 1w
    OWN_WORDS = "own words"
    # Every problem, as OWN_WORDS (the kinds that once had pydantic's words keep their name for it).
    PYDANTIC = "pydantic"


_VALUE_ERROR = "Value error, "  # how pydantic opens the message of a ValueError a validator raised


def field_path(loc: Sequence[int | str], prefix: str = "spec") -> str:
    """Where a problem is, as kubectl names it: ``spec.levels[0].ackTimeout`` (``levels[0]...`` without a prefix)."""
    path = prefix
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path


def _items(count: object) -> str:
    return f"{count} item" if count == 1 else f"{count} items"


def _characters(count: object) -> str:
    return f"{count} character" if count == 1 else f"{count} characters"


def _sized(value: object) -> str:
    return f", not {len(value)}" if isinstance(value, str | list | tuple | dict) else ""


def in_own_words(problem: Mapping[str, Any]) -> str:
    """One of pydantic's problems as onduty says it: ``required``, ``must be at most 1000, not 5000``."""
    kind, ctx, value = problem["type"], problem.get("ctx") or {}, problem.get("input")
    shown_value = f", not {shown(value)}" if isinstance(value, str | int | float) else ""
    if kind == "missing":
        return "required"
    if kind == "extra_forbidden":
        return "unknown field"
    if kind == "value_error":
        return str(problem["msg"]).removeprefix(_VALUE_ERROR)
    if kind == "string_too_long":
        return f"must be at most {_characters(ctx.get('max_length'))}{_sized(value)}"
    if kind == "string_too_short":
        return f"must be at least {_characters(ctx.get('min_length'))} long"
    if kind == "too_long":
        return f"must have at most {_items(ctx.get('max_length'))}{_sized(value)}"
    if kind == "too_short":
        return f"must have at least {_items(ctx.get('min_length'))}"
    bounds = {
        "greater_than": ("more than", "gt"),
        "greater_than_equal": ("at least", "ge"),
        "less_than": ("less than", "lt"),
        "less_than_equal": ("at most", "le"),
    }
    if kind in bounds:
        words, key = bounds[kind]
        return f"must be {words} {ctx.get(key)}{shown_value}"
    if kind in ("literal_error", "enum"):
        return f"must be one of {ctx.get('expected')}{shown_value}"
    if kind == "string_pattern_mismatch":
        return f"{shown(value)} is not {in_words(str(ctx.get('pattern')))}"
    types_ = {
        "string_type": "a string",
        "int_type": "an integer",
        "int_parsing": "an integer",
        "float_type": "a number",
        "float_parsing": "a number",
        "bool_type": "true or false",
        "bool_parsing": "true or false",
        "dict_type": "a mapping",
        "model_type": "a mapping",
        "model_attributes_type": "a mapping",
        "list_type": "a list",
        "tuple_type": "a list",
    }
    if kind in types_:
        return f"must be {types_[kind]}{shown_value}"
    message = str(problem["msg"]).removeprefix(_VALUE_ERROR)
    return message.replace("Input should be", "must be", 1) + shown_value


def _explained_by_another(problem: Mapping[str, Any], problems: Sequence[Mapping[str, Any]]) -> bool:
    """A list's item count after its bad items were dropped: the bad item is the problem to tell."""
    loc = tuple(problem["loc"])
    return problem["type"] == "too_short" and any(
        other is not problem and tuple(other["loc"])[: len(loc)] == loc and len(other["loc"]) > len(loc)
        for other in problems
    )


_NO_VALUE = ("missing",)  # the problem is the field, not its value


def in_words(pattern: str) -> str:
    """What a value matching ``pattern`` is, for a message: the names people know by name, else the expression."""
    known = {
        DNS_LABEL: "a lower-case DNS label (letters, digits and '-', e.g. web-1)",
        DNS_SUBDOMAIN: "a lower-case RFC 1123 subdomain (letters, digits, '-' and '.', e.g. web-1)",
    }
    return known.get(pattern, f"a value matching {pattern}")


def _named_apart(value: object) -> bool:
    """Whether a message about ``value`` names it after the message: a scalar or an empty collection."""
    if isinstance(value, str | int | float | bool):
        return True
    return isinstance(value, Mapping | list | tuple) and not value


def describe_validation_error(
    error: ValidationError, prefix: str = "spec", *, style: Problems = Problems.PYDANTIC, document: str = ""
) -> str:
    """What is wrong, field by field, in onduty's words; ``document`` names a problem with the whole of it (no field).

    ``spec.allowedActions: required``, ``spec.steps[0].timeout: '5 minutes' is not a duration; write 5m``:
    the field as kubectl names it, then what it must be, naming the value.
    """
    problems = error.errors(include_url=False)
    problems = [p for p in problems if not _explained_by_another(p, problems)] or problems
    lines = []
    for problem in problems[:1] if style is Problems.FIRST else problems:
        message, value = in_own_words(problem), problem.get("input")
        if problem["type"] not in _NO_VALUE and _named_apart(value) and shown(value) not in message:
            message += f" (got {shown(value)})"
        # A set's item names its index and value itself: spec.inform[1]: 'Bad_Name' does not match ...
        joint = "" if message.startswith("[") else ": "
        lines.append(f"{field_path(problem['loc'], prefix) or document}{joint}{message}")
    return "; ".join(lines)
