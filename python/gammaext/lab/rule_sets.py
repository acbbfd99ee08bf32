"""Rules as the lab names them: labels, validation and one-parameter sweeps of a rule family."""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from .. import hedging as _h
from ..hedging import (
    Rule,
)


def rule_label(rule: Rule) -> str:
    """A short label: ``Move(0.01)``, ``EveryK(1)``, ``DeltaBand(0.1)|MaxInterval(24)``."""
    if isinstance(rule, _h.AnyOf):
        return "|".join(rule_label(r) for r in rule.rules)
    if isinstance(rule, _h.VolGate):
        return f"VolGate({rule_label(rule.rule)},{rule.min_ratio:g})"
    names: list[str] = (
        [f.name for f in dataclasses.fields(rule)] if dataclasses.is_dataclass(rule) else []
    )
    first = [getattr(rule, n) for n in names[:1]]
    arg = ",".join(f"{v:g}" if isinstance(v, float) else str(v) for v in first)
    return f"{type(rule).__name__}({arg})"


def _as_rules(rules: Any) -> dict[str, Rule]:
    if isinstance(rules, Rule):
        rules = [rules]
    if isinstance(rules, Mapping):
        out = {str(k): v for k, v in rules.items()}
    else:
        out = {}
        for r in rules:
            label = rule_label(r) if isinstance(r, Rule) else repr(r)
            if label in out:
                label = f"{label}#{len(out)}"
            out[label] = r
    if not out:
        raise ValueError("no rules")
    for k, r in out.items():
        if not isinstance(r, Rule):
            raise TypeError(f"rule {k!r} must be a Rule, got {type(r).__name__}")
        try:
            validate_rule(r)
        except ValueError as exc:
            raise ValueError(f"rule {k!r}: {exc}") from None
    return out


def validate_rule(rule: Rule) -> None:
    """Raise ValueError if the rule cannot be run (e.g. two Move rules in one AnyOf)."""
    rule._params(_h._Params(), 1.0)


def sweep_rules(family: str | Callable[[float], Rule], values: Iterable[float]) -> dict[str, Rule]:
    """Rules of one family over parameter values, named ``family=value``.

    family: ``move`` (relative move threshold), ``clock`` (every k steps), ``band`` (delta band
    as a fraction of the option quantity), ``band_shares``, ``trend_band``, ``atr`` (ATR
    multiple), ``whalley_wilmott`` (risk aversion; the cost is the run's own),
    ``profile_band`` and ``imbalance_band`` (base width as a fraction; they need signals), or
    a callable value -> Rule.
    """
    make: Callable[[float], Rule]
    if isinstance(family, str):
        try:
            cls = Rule.families[family]
        except KeyError:
            raise ValueError(
                f"unknown rule family {family!r}; known: {sorted(Rule.families)}"
            ) from None
        fname = family
        make = functools.partial(cls._sweep, family=family)
    else:
        make, fname = family, getattr(family, "__name__", "rule")
    vals = [float(v) for v in values]
    if not vals:
        raise ValueError("sweep values are empty")
    return {f"{fname}={v:g}": make(v) for v in vals}
