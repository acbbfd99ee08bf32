"""Fuzzing the lab's TOML experiment files: the commented default file with random edits
(values replaced by random TOML literals, lines dropped or duplicated, junk inserted).

Invariant: load_config either returns an Experiment or raises ConfigError (a ValueError)
whose message starts with the dotted key at fault (or the file name for invalid TOML); never
another exception. Through the CLI such a file exits with code 2 and a one-line message.
GAMMAEXT_FUZZ_EXAMPLES=N runs a longer profile (see test_fuzz.py)."""

from __future__ import annotations

import re
from importlib import resources

import pytest
from hypothesis import given, strategies as st
from test_fuzz import FUZZ

from gammaext import cli
from gammaext.config import ConfigError, Experiment, load_config

# Fuzzed values far out of range (a rate of 2, a vol of 1e300) are valid but look like
# percentages: the InputWarning they give is documented behaviour, not a failure.
pytestmark = pytest.mark.filterwarnings("ignore::gammaext.InputWarning")

DEFAULT = resources.files("gammaext").joinpath("data/lab_default.toml").read_text()
LINES = DEFAULT.splitlines()
VALUE_LINES = [i for i, ln in enumerate(LINES) if re.match(r"^\s*[A-Za-z_]+\s*=", ln)]

literal = st.one_of(
    st.sampled_from(['0', '-1', '1e309', 'nan', 'inf', '-inf', '""', '"x"', 'true', '[]',
                     '[1, "a"]', '{}', '{ type = "move" }', '{ kind = "nope" }', '0.0',
                     '9223372036854775807', '1979-05-27', '"every_k"', '"oscillation"',
                     '[{ type = "never" }]', '2.5', '-0.5', '1e-300', '"../nope.csv"']),
    st.integers(-10**6, 10**6).map(str),
    st.floats(allow_nan=False, allow_infinity=False).map(repr),
)


@st.composite
def edited(draw):
    lines = list(LINES)
    for _ in range(draw(st.integers(1, 4))):
        op = draw(st.sampled_from(["value", "value", "value", "drop", "dup", "junk", "key"]))
        i = draw(st.sampled_from(VALUE_LINES))
        if i >= len(lines):
            continue
        if op == "value":
            key = lines[i].split("=", 1)[0]
            lines[i] = f"{key}= {draw(literal)}"
        elif op == "drop":
            lines[i] = ""
        elif op == "dup":
            lines.insert(i, lines[i])
        elif op == "key":
            lines.insert(i, f"{draw(st.from_regex(r'[a-z_]{1,10}', fullmatch=True))} = 1")
        else:
            lines.insert(i, draw(st.text(max_size=20)))
    return "\n".join(lines)


def check_load(path):
    try:
        exp = load_config(path)
    except ConfigError as exc:
        msg = str(exc)
        assert msg.startswith(f"{exc.key}: ") and exc.key, msg
        return exc
    assert isinstance(exp, Experiment) and exp.rules and exp.scenarios
    return None


@FUZZ
@given(text=edited())
def test_edited_config_loads_or_names_the_key(tmp_path_factory, text):
    path = tmp_path_factory.mktemp("toml") / "lab.toml"
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    check_load(path)


@FUZZ
@given(text=st.text(max_size=200))
def test_random_text_is_a_config_error(tmp_path_factory, text):
    path = tmp_path_factory.mktemp("toml") / "lab.toml"
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    exc = check_load(path)
    assert exc is not None  # random text is never a full experiment


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("[rules.move]\ntype = 'move'\nthreshold = -1\n[scenarios.a]\nkind = 'gbm'\n",
         "rules.move.threshold"),
        ("[rules.a]\ntype = 'never'\n[scenarios.a]\nkind = 'nope'\n", "scenarios.a.kind"),
        ("[rules.a\n", "lab.toml"),
    ],
    ids=["bad-threshold", "bad-scenario", "bad-toml"],
)
def test_cli_exits_2_naming_the_key(tmp_path, capsys, text, key):
    path = tmp_path / "lab.toml"
    path.write_text(text)
    code = cli.main(["rules", str(path), "--out", str(tmp_path / "out"), "--no-plots"])
    assert code == 2
    err = capsys.readouterr().err
    assert key in err and len(err.strip().splitlines()) == 1
