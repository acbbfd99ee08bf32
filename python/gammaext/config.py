"""Lab experiments described in TOML (``gammaext rules CONFIG.toml``).

The schema (every table optional except ``rules`` and ``scenarios``; see
``python/gammaext/data/lab_default.toml`` for a commented example)::

    [experiment]   n_paths, seed, chunk_size, threads, baseline, confidence
    [position]     vol, rate, div, hedge_vol (a number, "implied", "realized" or a table
                   {kind, length, warmup, floor}), legs = [{kind, strike | moneyness, expiry,
                   quantity}]
    [costs]        bps, half_spread_bps, half_spread, fixed, option_half_spread, impact_bps,
                   spread_vol
    [execution]    latency, fill ("quotes"; "observed" is research only)
    [accounting]   initial_hedge, entry_costs, exit_costs, close_options, financing
    [rules.NAME]   type = "every_k" | "move" | "delta_band" | ... and the rule's parameters;
                   any_of: rules = [{type = ...}, ...]; vol_gate: rule = {type = ...}
    [scenarios.NAME] kind = "oscillation" | "trend" | "noisy" | ... (gammaext.lab.SCENARIOS)
                   and its parameters; noise = {kind = "bounce", size = 0.0005}
    [sweep]        family = "move" | "clock" | "band" | ..., values = [...],
                   scenarios = [names] (default all)

Errors raise :class:`ConfigError`, whose message starts with the dotted key at fault
(``rules.move.threshold: ...``).
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from . import hedging as _h, lab as _lab

__all__ = ["ConfigError", "Experiment", "load_config", "parse_config"]


class ConfigError(ValueError):
    """A bad experiment configuration; ``key`` is the dotted key at fault."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(f"{key}: {message}")
        self.key = key
        self.message = message

    def __reduce__(self) -> tuple[type[ConfigError], tuple[str, str]]:
        # pickled with its two arguments (a Dask worker's error reaches the client intact)
        return type(self), (self.key, self.message)


#: Rule types by config name: the rules' own registry (``class Move(Rule, name="move")``).
RULE_TYPES: dict[str, type] = _h.Rule.registry
_CLASS_NAMES = {cls.__name__.lower(): cls for cls in RULE_TYPES.values()}


@dataclasses.dataclass
class Experiment:
    """A parsed configuration: the arguments of :func:`gammaext.lab.run_experiment` plus an
    optional sweep."""

    rules: dict[str, _h.Rule]
    scenarios: list[_lab.Scenario]
    options: dict[str, Any]
    confidence: float = 0.95
    sweep: dict[str, Any] | None = None


def _table(cfg: Mapping[str, Any], key: str, required: bool = False) -> Mapping[str, Any]:
    v = cfg.get(key)
    if v is None:
        if required:
            raise ConfigError(key, "missing table (required)")
        return {}
    if not isinstance(v, Mapping):
        raise ConfigError(key, f"must be a table, got {type(v).__name__}")
    return v


def _check_keys(where: str, got: Mapping[str, Any], allowed: set[str]) -> None:
    for k in got:
        if k not in allowed:
            raise ConfigError(f"{where}.{k}", f"unknown key; allowed: {', '.join(sorted(allowed))}")


def _construct(where: str, cls: Any, kwargs: Mapping[str, Any]) -> Any:
    names = {f.name for f in dataclasses.fields(cls)}
    _check_keys(where, kwargs, names)
    try:
        return cls(**kwargs)
    except (TypeError, ValueError) as exc:
        bad = next((k for k in kwargs if k in str(exc)), None)
        raise ConfigError(f"{where}.{bad}" if bad else where, str(exc)) from None


def parse_rule(where: str, spec: Any) -> _h.Rule:
    """One rule from a table ``{type = "...", ...}``."""
    if not isinstance(spec, Mapping):
        raise ConfigError(where, f"must be a table with a 'type', got {spec!r}")
    kind = spec.get("type")
    if kind is None:
        raise ConfigError(f"{where}.type", f"missing; one of {', '.join(sorted(RULE_TYPES))}")
    cls = RULE_TYPES.get(str(kind)) or _CLASS_NAMES.get(str(kind).lower())
    if cls is None:
        raise ConfigError(
            f"{where}.type", f"unknown rule type {kind!r}; one of {', '.join(sorted(RULE_TYPES))}"
        )
    args = {k: v for k, v in spec.items() if k != "type"}
    if cls is _h.AnyOf:
        _check_keys(where, args, {"rules"})
        subs = args.get("rules")
        if not isinstance(subs, list) or not subs:
            raise ConfigError(f"{where}.rules", "must be a non-empty array of rule tables")
        parts = [parse_rule(f"{where}.rules[{i}]", s) for i, s in enumerate(subs)]
        try:
            any_of = _h.AnyOf(*parts)
            _lab.validate_rule(any_of)
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"{where}.rules", str(exc)) from None
        return any_of
    if cls is _h.VolGate:
        if "rule" not in args:
            raise ConfigError(f"{where}.rule", "missing (the gated rule, a table)")
        args = {**args, "rule": parse_rule(f"{where}.rule", args["rule"])}
    rule: _h.Rule = _construct(where, cls, args)
    try:
        _lab.validate_rule(rule)
    except ValueError as exc:
        raise ConfigError(where, str(exc)) from None
    return rule


#: Which key a scenario's run-time error is about, by the words of the message (first match).
_CHECK_KEYS = (
    ("vol path", "position.vol"),
    ("intensity", "intensity"),
    ("n_steps", "n_steps"),
    ("times", "times"),
    ("dt", "dt"),
    ("implied_vol", "implied_vol"),
)


def _scenario(
    where: str, spec: Any, name: str, base: Path, position: _h.Position
) -> _lab.Scenario:
    sc = _build_scenario(where, spec, name, base)
    try:
        sc.check(position)
    except (TypeError, ValueError) as exc:
        key = next((k for words, k in _CHECK_KEYS if words in str(exc)), None)
        where_key = where if key is None else key if "." in key else f"{where}.{key}"
        raise ConfigError(where_key, str(exc)) from None
    return sc


def _build_scenario(where: str, spec: Any, name: str, base: Path) -> _lab.Scenario:
    if not isinstance(spec, Mapping):
        raise ConfigError(where, f"must be a table with a 'kind', got {spec!r}")
    kind = spec.get("kind", name if name in _lab.SCENARIOS else None)
    if kind is None:
        raise ConfigError(f"{where}.kind", f"missing; one of {', '.join(sorted(_lab.SCENARIOS))}")
    if not isinstance(kind, str) or kind not in _lab.SCENARIOS or kind == "user":
        raise ConfigError(
            f"{where}.kind",
            f"unknown scenario kind {kind!r}; one of "
            f"{', '.join(sorted(k for k in _lab.SCENARIOS if k != 'user'))}",
        )
    args = dict(spec)
    args.pop("kind", None)
    if "noise" in args:
        n = args["noise"]
        if not isinstance(n, Mapping):
            raise ConfigError(f"{where}.noise", "must be a table {kind = ..., size = ...}")
        args["noise"] = _construct(f"{where}.noise", _h.Noise, n)
    if kind == "bootstrap" and "file" in args:
        f = Path(str(args["file"]))
        args["file"] = f if f.is_absolute() else base / f
    try:
        return _lab.scenario(kind, name=name, **args)
    except TypeError as exc:
        bad = next((k for k in args if f"'{k}'" in str(exc)), None)
        if bad and "unexpected keyword" in str(exc):
            raise ConfigError(
                f"{where}.{bad}",
                f"unknown key for scenario kind {kind!r}; allowed: "
                f"{', '.join(sorted(_lab.scenario_keys(kind)))}",
            ) from None
        bad = bad or next((k for k in args if k in str(exc)), None)
        raise ConfigError(f"{where}.{bad}" if bad else where, str(exc)) from None
    except (ValueError, FileNotFoundError) as exc:
        bad = next((k for k in args if k in str(exc)), None)
        raise ConfigError(f"{where}.{bad}" if bad else where, str(exc)) from None


def parse_config(cfg: Mapping[str, Any], base: str | os.PathLike[str] = ".") -> Experiment:
    """An :class:`Experiment` from a parsed TOML mapping; relative files are read from
    ``base`` (the config file's folder)."""
    top = {
        "experiment", "position", "costs", "accounting", "execution", "rules", "scenarios",
        "sweep",
    }
    for k in cfg:
        if k not in top:
            raise ConfigError(k, f"unknown table; allowed: {', '.join(sorted(top))}")
    exp = _table(cfg, "experiment")
    _check_keys(
        "experiment", exp, {"n_paths", "seed", "chunk_size", "threads", "baseline", "confidence"}
    )
    options: dict[str, Any] = {}
    for k, typ in (("n_paths", int), ("seed", int), ("chunk_size", int), ("threads", int)):
        if k in exp:
            v = exp[k]
            low = 1 if k in ("n_paths", "chunk_size") else 0
            if not isinstance(v, typ) or isinstance(v, bool) or v < low:
                raise ConfigError(f"experiment.{k}", f"must be an integer >= {low}, got {v!r}")
            options[k] = v
    confidence = exp.get("confidence", 0.95)
    if not isinstance(confidence, (int, float)) or not 0 < confidence < 1:
        raise ConfigError("experiment.confidence", f"must be in (0, 1), got {confidence!r}")

    pos = dict(_table(cfg, "position"))
    if "legs" in pos:
        legs = pos["legs"]
        if not isinstance(legs, list) or not legs:
            raise ConfigError("position.legs", "must be a non-empty array of leg tables")
        pos["legs"] = tuple(
            _construct(f"position.legs[{i}]", _h.Leg, leg) for i, leg in enumerate(legs)
        )
    if isinstance(pos.get("hedge_vol"), dict):  # a table: the realized hedge vol's settings
        pos["hedge_vol"] = _construct("position.hedge_vol", _h.HedgeVol, pos["hedge_vol"])
    if isinstance(pos.get("roll"), dict):  # a table: the roll rule's settings
        pos["roll"] = _construct("position.roll", _h.Roll, pos["roll"])
    options["position"] = _construct("position", _h.Position, pos)
    options["costs"] = _construct("costs", _h.Costs, _table(cfg, "costs"))
    options["accounting"] = _construct("accounting", _h.Accounting, _table(cfg, "accounting"))
    options["execution"] = _construct("execution", _h.Execution, _table(cfg, "execution"))

    rules_t = _table(cfg, "rules", required=True)
    if not rules_t:
        raise ConfigError("rules", "no rules (add [rules.NAME] tables)")
    rules = {str(n): parse_rule(f"rules.{n}", s) for n, s in rules_t.items()}
    if "baseline" in exp:
        if not isinstance(exp["baseline"], str) or exp["baseline"] not in rules:
            raise ConfigError("experiment.baseline", f"{exp['baseline']!r} is not a rule name")
        options["baseline"] = exp["baseline"]

    sc_t = _table(cfg, "scenarios", required=True)
    if not sc_t:
        raise ConfigError("scenarios", "no scenarios (add [scenarios.NAME] tables)")
    base_path = Path(base)
    scenarios = [
        _scenario(f"scenarios.{n}", s, str(n), base_path, options["position"])
        for n, s in sc_t.items()
    ]

    sweep = None
    if "sweep" in cfg:
        sw = _table(cfg, "sweep")
        _check_keys("sweep", sw, {"family", "values", "scenarios"})
        if "family" not in sw:
            raise ConfigError("sweep.family", "missing (e.g. 'move', 'clock', 'band')")
        vals = sw.get("values")
        if (
            not isinstance(vals, list)
            or not vals
            or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in vals)
        ):
            raise ConfigError("sweep.values", "must be a non-empty array of numbers")
        try:
            srules = _lab.sweep_rules(str(sw["family"]), vals)
        except (TypeError, ValueError) as exc:
            key = "sweep.family" if "family" in str(exc) else "sweep.values"
            raise ConfigError(key, str(exc)) from None
        names = sw.get("scenarios", [s.name for s in scenarios])
        # scenarios = 0 or = [[]] were bare TypeErrors (found by fuzzing)
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            raise ConfigError("sweep.scenarios", f"must be an array of names, got {names!r}")
        known = {s.name for s in scenarios}
        for n in names:
            if n not in known:
                raise ConfigError("sweep.scenarios", f"{n!r} is not a scenario name")
        sweep = {
            "rules": srules,
            "params": dict(zip(srules, (float(v) for v in vals))),
            "scenarios": [s for s in scenarios if s.name in names],
        }
    return Experiment(rules, scenarios, options, float(confidence), sweep)


def read_toml(path: Path) -> dict[str, Any]:
    """A TOML file as a mapping (tomllib, or the ``tomli`` backport); ConfigError if it is not
    valid TOML."""
    try:
        import tomllib
    except ModuleNotFoundError:  # Python < 3.11
        try:
            import tomli as tomllib  # type: ignore[no-redef,import-not-found,unused-ignore]
        except ModuleNotFoundError:
            raise ImportError(
                "reading TOML needs Python >= 3.11 (tomllib) or the tomli package "
                "(pip install tomli)"
            ) from None
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(path.name, f"not valid TOML: {exc}") from None


def load_config(path: str | os.PathLike[str]) -> Experiment:
    """Read and parse a TOML experiment file."""
    p = Path(path)
    return parse_config(read_toml(p), base=p.parent)
