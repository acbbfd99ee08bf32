"""One place per concept: rules, generators, scenarios and sweep families register themselves
where they are defined; everything else derives from the registries. These tests fail when a
new one is registered but left out of the docs, the default TOML, the fuzz tests, the test
cases or the package's exports."""

from __future__ import annotations

import re
from importlib import resources
from pathlib import Path

import pytest
import test_fuzz_hedging as fuzz

import gammaext as g
from gammaext import config, lab
from gammaext.hedging import PathGenerator, Rule

ROOT = Path(__file__).resolve().parents[1]
DOCS = {name: (ROOT / "docs" / name).read_text() for name in ("hedging.md", "lab.md")}
TOML = resources.files("gammaext").joinpath("data/lab_default.toml").read_text()
TESTS = "\n".join(p.read_text() for p in (ROOT / "tests").glob("test_*.py")
                  if p.name != "test_registries.py")
RULE_CLASSES = sorted(set(Rule.registry.values()), key=lambda c: c.__name__)


def words(text: str) -> set[str]:
    return set(re.findall(r"[A-Za-z_][A-Za-z0-9_]*", text))


def test_the_registries_are_what_the_package_uses():
    assert config.RULE_TYPES is Rule.registry
    assert set(lab.sweep_rules("move", [0.01])) == {"move=0.01"}
    assert set(Rule.families) <= set(w for w in words(TOML))
    assert set(PathGenerator.registry) | {"user"} == set(g.hedging._PATH_KIND)
    for kind, make in lab.SCENARIOS.items():
        assert callable(make) and isinstance(kind, str)


@pytest.mark.parametrize("cls", RULE_CLASSES, ids=lambda c: c.__name__)
def test_every_rule_is_documented_exported_fuzzed_and_tested(cls):
    names = [k for k, v in Rule.registry.items() if v is cls]
    assert cls.__name__ in words(DOCS["hedging.md"]), "docs/hedging.md"
    assert any(n in words(TOML) for n in names), ("lab_default.toml lists the types", names)
    assert any(n in words(DOCS["lab.md"]) for n in names), ("docs/lab.md rule types", names)
    assert getattr(g, cls.__name__) is cls and cls.__name__ in g.__all__
    assert cls.__name__ in g.hedging.__all__
    fuzzed = set(fuzz.RULES) | {g.AnyOf, g.VolGate, g.Never}  # combinators: fuzz.rules()
    assert cls in fuzzed, "tests/test_fuzz_hedging.py RULES"
    assert f"g.{cls.__name__}(" in TESTS, "a test case"


@pytest.mark.parametrize("family", sorted(Rule.families))
def test_every_sweep_family_is_documented_and_builds(family):
    assert family in words(TOML) and family in words(DOCS["lab.md"] + lab.sweep_rules.__doc__)
    value = 2.0 if family == "clock" else 0.05
    (rule,) = lab.sweep_rules(family, [value]).values()
    assert isinstance(rule, Rule.families[family])
    lab.validate_rule(rule)


@pytest.mark.parametrize("kind", sorted(PathGenerator.registry))
def test_every_generator_is_documented_exported_fuzzed_and_tested(kind):
    cls = PathGenerator.registry[kind]
    assert cls.kind == kind
    assert cls.__name__ in words(DOCS["hedging.md"]), "docs/hedging.md"
    assert getattr(g, cls.__name__) is cls and cls.__name__ in g.__all__
    assert cls in fuzz.GENERATORS, "tests/test_fuzz_hedging.py GENERATORS"
    assert f"g.{cls.__name__}(" in TESTS, "a test case"


@pytest.mark.parametrize("kind", sorted(lab.SCENARIOS))
def test_every_scenario_is_documented(kind):
    assert kind in words(DOCS["lab.md"]), "docs/lab.md"
    if kind != "user":  # arrays of paths cannot be written in TOML
        assert kind in words(TOML), "lab_default.toml lists the kinds"


def test_registering_twice_is_refused():
    with pytest.raises(TypeError, match="registered twice"):

        class Again(Rule, name="move"):
            pass

    with pytest.raises(TypeError, match="registered twice"):

        class Again2(PathGenerator, kind="gbm"):
            pass

    with pytest.raises(TypeError, match="registered twice"):
        lab._kind("gbm")(lambda **kw: None)  # type: ignore[arg-type,return-value]
