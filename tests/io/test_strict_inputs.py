"""Values keep their TOML types, and every file problem is one line naming the file.

Booleans are not numbers and quoted numbers are not numbers, in every loader
(scenario, product, lot, trial and the population inside a scenario); refusals
show the value as it was typed.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from mscsim.errors import SpecError
from mscsim.io import load_lot, load_scenario, load_trial, parse_scenario
from mscsim.spec import Dose, Scenario

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"

SCENARIO = """\
[patient]
weight_kg = 65

[product]
source = "umbilical_cord"
donor = "allogeneic"

[[dose]]
route = "intravenous"
cells_per_kg = 1e6
every_days = 90
count = 4

[disease]
model = "sca"
baseline_score = 13

[simulation]
horizon_days = 365
n_patients = 2

[parameters]
effect_ec50_ng = 1.0

[population]
seed = 3
omega = {target_half_life_days = 0.3}
lot_variability = true
"""

LOT = """\
lot_id = "L-1"
viability_percent = 92
sterility = "negative"
mycoplasma = "negative"
endotoxin_eu_per_ml = 0.5
product_volume_ml = 50
passage = 4
trilineage_differentiation = true

[markers_positive_percent]
CD90 = 98
"""

TRIAL = """\
[trial]
replicates = 10
visit_days = [0, 180, 365]

[endpoint]
output = "sara_score"
day = 365

[[arm]]
name = "treated"
n = 4
scenario = "arm.toml"

[[arm]]
name = "placebo"
n = 4
placebo = true
scenario = "arm.toml"
"""

Loader = Callable[[Path], object]


def _write(tmp_path: Path, kind: str, text: str) -> tuple[Loader, Path]:
    (tmp_path / "arm.toml").write_text(SCENARIO)
    path = tmp_path / f"{kind}.toml"
    path.write_text(text)
    loaders: dict[str, Loader] = {"scenario": load_scenario, "lot": load_lot, "trial": load_trial}
    return loaders[kind], path


# (loader, line as written, line as mutated, message)
COERCED = [
    ("scenario", "horizon_days = 365", "horizon_days = true",
     r"^simulation\.horizon_days = true: must be a number of days > 0 and <= 36500$"),
    ("scenario", "n_patients = 2", "n_patients = true",
     r"^simulation\.n_patients = true: must be a whole number >= 1"),
    ("scenario", "n_patients = 2", "n_patients = 2.0",
     r"^simulation\.n_patients = 2\.0: must be a whole number >= 1"),
    ("scenario", "baseline_score = 13", "baseline_score = true",
     r"^disease\.baseline_score = true: must be a number >= 0 and <= 40$"),
    ("scenario", "effect_ec50_ng = 1.0", "effect_ec50_ng = true",
     r"^parameters\.effect_ec50_ng = true: must be a number$"),
    ("scenario", "effect_ec50_ng = 1.0", 'effect_ec50_ng = "1.0"',
     r"^parameters\.effect_ec50_ng = '1\.0': must be a number$"),
    ("scenario", "weight_kg = 65", 'weight_kg = "65"',
     r"^patient\.weight_kg = '65': must be a number >=? [\d.]+ and <= 400$"),
    ("scenario", "count = 4", 'count = "4"',
     r"^dose\[0\]\.count = '4': must be a whole number >= 1 and <= 10000$"),
    ("scenario", "every_days = 90", "every_days = false",
     r"^dose\[0\]\.every_days = false: must be a number of days > 0$"),
    ("scenario", "seed = 3", "seed = true",
     r"^population\.seed = true: must be a whole number >= 0"),
    ("scenario", "omega = {target_half_life_days = 0.3}", 'omega = {target_half_life_days = "0.3"}',
     r"^population\.omega\.target_half_life_days = '0\.3': must be a number$"),
    ("scenario", "lot_variability = true", "lot_variability = 1",
     r"^population\.lot_variability = 1: must be true or false$"),
    ("scenario", "[patient]", "patient = 3\n[x]",
     r"^patient = 3: must be a table$"),
    ("lot", "viability_percent = 92", "viability_percent = true",
     r"^lot '.*': viability_percent = true: must be a number > 0 and <= 100$"),
    ("lot", "CD90 = 98", 'CD90 = "98"',
     r"^lot '.*': markers_positive_percent\.CD90 = '98': must be a number$"),
    ("lot", "passage = 4", "passage = 4.5",
     r"^lot '.*': passage = 4\.5: must be a whole number >= 0 and <= 100$"),
    ("lot", "trilineage_differentiation = true", 'trilineage_differentiation = "yes"',
     r"^lot '.*': trilineage_differentiation = 'yes': must be true or false$"),
    ("trial", "day = 365", 'day = "365"',
     r"^endpoint\.day = '365': must be a number of days > 0$"),
    ("trial", "replicates = 10", "replicates = true",
     r"^trial\.replicates = true: must be a whole number >= 1"),
    ("trial", "visit_days = [0, 180, 365]", 'visit_days = [0, "180", 365]',
     r"^trial\.visit_days\[1\] = '180': must be a number$"),
    ("trial", "placebo = true", "placebo = 1",
     r"^arm\[1\]\.placebo = 1: must be true or false$"),
]  # fmt: skip

TEXTS = {"scenario": SCENARIO, "lot": LOT, "trial": TRIAL}


@pytest.mark.parametrize(("kind", "line", "mutated", "message"), COERCED)
def test_a_value_of_the_wrong_type_is_refused_as_typed(
    tmp_path: Path, kind: str, line: str, mutated: str, message: str
) -> None:
    loader, path = _write(tmp_path, kind, TEXTS[kind])
    loader(path)  # the unmutated file loads
    assert line in TEXTS[kind]
    path.write_text(TEXTS[kind].replace(line, mutated, 1))
    with pytest.raises(SpecError, match=message) as info:
        loader(path)
    assert "\n" not in str(info.value)


def _example_files() -> list[Path]:
    return sorted(EXAMPLES.rglob("*.toml"))


def _loader_for(text: str) -> Loader:
    if re.search(r"^\[\[arm\]\]", text, re.MULTILINE):
        return load_trial
    if re.search(r"^viability_percent\s*=", text, re.MULTILINE):
        return load_lot
    return load_scenario


_NUMBER = r"[-+]?(?:\d[\d_]*)(?:\.\d+)?(?:[eE][-+]?\d+)?"
_KEY_LINE = re.compile(rf"^(?P<key>[A-Za-z][\w-]*) = (?P<value>{_NUMBER}|true|false)\b", re.M)


def _mutations() -> list[Any]:
    """Every ``key = number`` or ``key = true`` line of every example, typed wrongly."""
    cases = []
    for path in _example_files():
        text = path.read_text(encoding="utf-8")
        for match in _KEY_LINE.finditer(text):
            key, value = match["key"], match["value"]
            wrong = ["1", '"true"'] if value in ("true", "false") else ["true", f'"{value}"']
            for typed in wrong:
                mutated = text[: match.start("value")] + typed + text[match.end("value") :]
                shown = typed.replace('"', "'")
                rel = path.relative_to(EXAMPLES)
                cases.append(pytest.param(rel, mutated, key, shown, id=f"{rel}:{key}={typed}"))
    return cases


@pytest.fixture(scope="module")
def examples_copy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("examples")
    shutil.copytree(EXAMPLES, root, dirs_exist_ok=True, ignore=shutil.ignore_patterns("*.py"))
    return root


@pytest.mark.parametrize("rel", [p.relative_to(EXAMPLES) for p in _example_files()], ids=str)
def test_every_example_file_loads(rel: Path) -> None:
    path = EXAMPLES / rel
    _loader_for(path.read_text(encoding="utf-8"))(path)


@pytest.mark.parametrize(("rel", "text", "key", "shown"), _mutations())
def test_every_example_value_typed_wrongly_is_refused(
    examples_copy: Path, rel: Path, text: str, key: str, shown: str
) -> None:
    path = (examples_copy / rel).with_name("mutated.toml")
    path.write_text(text, encoding="utf-8")
    with pytest.raises(SpecError) as info:
        _loader_for(text)(path)
    message = str(info.value)
    assert "\n" not in message
    assert re.search(rf"\b{re.escape(key)} = {re.escape(shown)}: must be ", message), message


def test_python_api_is_as_strict_as_the_files() -> None:
    with pytest.raises(SpecError, match=r"^simulation\.horizon_days = true: must be a number"):
        parse_scenario(
            {
                "patient": {"weight_kg": 65},
                "product": {"source": "bone_marrow", "donor": "autologous"},
                "simulation": {"horizon_days": True},
            }
        )
    # Enumerations are given by their text; integers are numbers.
    dose = Dose(route="intravenous", cells=10**8, every_days=90, count=2)
    assert dose.cells == 1e8 and isinstance(dose.cells, float)


@pytest.mark.parametrize(
    ("kind", "line", "mutated", "message"),
    [
        ("lot", 'lot_id = "L-1"', 'lot_id = ""', r"^lot '.*': lot_id = '': must not be empty"),
        ("lot", 'lot_id = "L-1"', 'lot_id = "  "', r"^lot '.*': lot_id = '  ': must not be empty"),
        ("trial", 'name = "treated"', 'name = " "', r"^arm\[0\]\.name = ' ': must not be empty"),
        ("trial", 'output = "sara_score"', 'output = ""', r"^endpoint\.output = '': must not be"),
        ("trial", 'scenario = "arm.toml"', 'scenario = ""', r"^arm\[0\]\.scenario = '': must name"),
        (
            "scenario",
            'donor = "allogeneic"',
            'donor = "allogeneic"\nlot = " "',
            r"^product\.lot = ' ': must name a lot file",
        ),
    ],
)
def test_blank_identifiers_are_refused(
    tmp_path: Path, kind: str, line: str, mutated: str, message: str
) -> None:
    loader, path = _write(tmp_path, kind, TEXTS[kind].replace(line, mutated, 1))
    with pytest.raises(SpecError, match=message):
        loader(path)


def test_a_byte_order_mark_is_read_normally(tmp_path: Path) -> None:
    path = tmp_path / "bom.toml"
    path.write_bytes(b"\xef\xbb\xbf" + SCENARIO.encode())
    assert isinstance(load_scenario(path), Scenario)


@pytest.mark.parametrize("text", [b"", b"   \n\n", b"# only a comment\n\n# another\n"])
@pytest.mark.parametrize("kind", ["scenario", "lot", "trial"])
def test_an_empty_file_says_so(tmp_path: Path, kind: str, text: bytes) -> None:
    loader, path = _write(tmp_path, kind, "")
    path.write_bytes(text)
    with pytest.raises(SpecError, match=rf"^{kind} = '.*{kind}\.toml': the file is empty$"):
        loader(path)


@pytest.mark.parametrize("data", [b"\x89PNG\r\n\x1a\n\x00\x00", bytes(range(256)) * 4])
def test_a_binary_file_is_one_line(tmp_path: Path, data: bytes) -> None:
    path = tmp_path / "s.toml"
    path.write_bytes(data)
    with pytest.raises(SpecError, match=r"^scenario = '.*': not a text file .*") as info:
        load_scenario(path)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "[patient]\nweight_kg = 65\n\n[simulation]\nhorizon_days : 5\n",
            r"not valid TOML at line 5, column 14: expected '=' after a key in a key/value pair; "
            r"found ': 5'$",
        ),
        (
            "[patient\nweight_kg = 3",
            r"not valid TOML at line 1, column 9: expected '\]' at the end of a table declaration; "
            r"found the end of the line$",
        ),
        (
            "[patient]\nweight_kg = sixty\n",
            r"not valid TOML at line 2, column 13: .*; found 'sixty'$",
        ),
        ("a = [1,\n", r"not valid TOML at the end of the file: invalid value$"),
    ],
)
def test_toml_syntax_errors_give_the_position_and_what_was_expected(
    tmp_path: Path, text: str, message: str
) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(SpecError, match=r"^scenario = '.*bad\.toml': " + message) as info:
        load_scenario(path)
    assert "\n" not in str(info.value)
