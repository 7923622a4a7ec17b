"""PromQL comparisons in runbooks: "error ratio > 0.05" as data.

A condition holds when any series the expression returns satisfies the
comparison (write an aggregate such as ``sum(...) / sum(...)`` to compare one
number). No data is not a match: an expression that returns nothing says
nothing is wrong. Prometheus being unreachable is neither true nor false: it is
*unknown*, and an action whose condition is unknown does not run.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from onduty.domain.promql_scope import parsed

Op = Literal[">", ">=", "<", "<=", "==", "!="]
_OPS: dict[str, Callable[[float, float], bool]] = {
    ">": operator.gt,
    ">=": operator.ge,
    "<": operator.lt,
    "<=": operator.le,
    "==": operator.eq,
    "!=": operator.ne,
}


class Comparison(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    expr: str = Field(min_length=1, max_length=4096)
    op: Op
    threshold: float

    @field_validator("expr")
    @classmethod
    def _parses(cls, value: str) -> str:
        return parsed(value)

    def __str__(self) -> str:
        return f"{self.expr} {self.op} {self.threshold:g}"


@dataclass(frozen=True)
class Evaluation:
    """The outcome of one comparison: holds True/False, or None when unknown."""

    holds: bool | None
    values: tuple[float, ...]
    message: str


def evaluate(comparison: Comparison, values: Sequence[float] | None, *, error: str | None = None) -> Evaluation:
    """Judge ``values`` (one per returned series) against the comparison."""
    if values is None:
        return Evaluation(None, (), f"unknown: {error or 'Prometheus gave no answer'} ({comparison})")
    finite = tuple(v for v in values if not math.isnan(v))
    if not finite:
        return Evaluation(False, (), f"no data for {comparison.expr!r}")
    compare = _OPS[comparison.op]
    matching = [v for v in finite if compare(v, comparison.threshold)]
    shown = ", ".join(f"{v:.4g}" for v in finite[:5]) + (" ..." if len(finite) > 5 else "")
    if matching:
        return Evaluation(True, finite, f"{comparison.expr} = {shown}, {comparison.op} {comparison.threshold:g}")
    return Evaluation(False, finite, f"{comparison.expr} = {shown}, not {comparison.op} {comparison.threshold:g}")


def all_hold(comparison: Comparison, values: Sequence[float]) -> bool:
    """For verification: every series satisfies it (a recovery is not one good pod of ten)."""
    compare = _OPS[comparison.op]
    finite = [v for v in values if not math.isnan(v)]
    return bool(finite) and all(compare(v, comparison.threshold) for v in finite)
