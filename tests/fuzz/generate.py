"""Mutated ``mscsim`` command lines and input files, generated from the examples.

Every case starts from a valid command on a copy of an example (made cheap: short
horizons, few patients and replicates), then applies zero to two mutations: a bad
value, a deleted or unknown key in a TOML file, a broken or missing file, a bad flag
value, an unwritable output path, or a malformed command line. Case ``i`` of seed
``s`` is the same whatever the number of cases asked for.

Examples
--------
>>> first = generate_cases(3, seed=0)
>>> [c.ident for c in first] == [0, 1, 2]
True
>>> generate_cases(3, seed=0) == first
True
"""

from __future__ import annotations

import copy
import datetime as dt
import functools
import math
import random
import shlex
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.fuzz.toml_text import dumps, toml_value

__all__ = ["EXAMPLES", "Case", "generate_case", "generate_cases"]

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"

Path_ = tuple[str | int, ...]

ROUTES = (
    "intravenous",
    "intra_arterial",
    "intramuscular",
    "intra_articular",
    "intrathecal",
    "intralesional",
)


@dataclass(frozen=True)
class Case:
    """One command line and the files it runs on.

    Attributes
    ----------
    ident : int
        Index of the case in its seed's sequence.
    command : str
        The subcommand the case starts from (``root`` for ``--help``/``--version``).
    args : tuple of str
        Arguments after ``mscsim``; paths are relative to the case's directory.
    files : tuple of (str, bytes or None)
        Files to create in the case's directory; ``None`` makes a directory.
    mutations : tuple of str
        What was changed from the valid command, in words.
    target : (str, str) or None
        For a case whose one mutation is a bad value: the field's key or the flag,
        and the value as written in the file or on the command line.
    """

    ident: int
    command: str
    args: tuple[str, ...]
    files: tuple[tuple[str, bytes | None], ...]
    mutations: tuple[str, ...]
    target: tuple[str, str] | None = None

    @property
    def command_line(self) -> str:
        """The command as typed in a shell."""
        return shlex.join(["mscsim", *self.args])


@dataclass
class _Draft:
    command: str
    args: list[str]
    docs: dict[str, dict[str, Any]] = field(default_factory=dict)
    roles: dict[str, str] = field(default_factory=dict)
    raw: dict[str, bytes | None] = field(default_factory=dict)
    missing: set[str] = field(default_factory=set)
    notes: list[str] = field(default_factory=list)
    targets: list[tuple[str, str]] = field(default_factory=list)


# ---------------------------------------------------------------- base files


@dataclass(frozen=True)
class _Bases:
    scenarios: dict[str, dict[str, Any]]
    lots: dict[str, dict[str, Any]]
    trials: dict[str, dict[str, Any]]


def _cheap_scenario(doc: dict[str, Any]) -> dict[str, Any]:
    """Shorten a scenario: horizon <= 30 days, <= 3 patients, doses within the horizon."""
    doc = copy.deepcopy(doc)
    sim = doc.setdefault("simulation", {})
    sim["horizon_days"] = min(sim.get("horizon_days", 30), 30)
    sim["output_every_days"] = max(sim.get("output_every_days", 1), 0.5)
    if "population" in doc or "n_patients" in sim:
        sim["n_patients"] = min(sim.get("n_patients", 3), 3)
    for dose in doc.get("dose", []):
        dose["day"] = min(dose.get("day", 0), 5)
        if "every_days" in dose:
            dose["every_days"] = min(dose["every_days"], 7)
            dose["count"] = min(dose.get("count", 3), 3)
    return doc


def _cheap_trial(doc: dict[str, Any]) -> dict[str, Any]:
    """Shorten a trial: <= 3 replicates of <= 3 patients per arm, endpoint on day 28."""
    doc = copy.deepcopy(doc)
    doc["trial"]["replicates"] = min(doc["trial"].get("replicates", 3), 3)
    doc["trial"]["visit_days"] = [0, 14, 28]
    doc["endpoint"]["day"] = 28
    for arm in doc["arm"]:
        arm["n"] = min(arm["n"], 3)
    return doc


def _load_bases(root: Path = EXAMPLES) -> _Bases:
    """Read every example TOML file into scenarios, lots and trials (made cheap).

    A scenario's ``lot`` keeps only its file stem (the lot base); a trial's arms
    name the stem of their scenario base.
    """
    scenarios, lots, trials = {}, {}, {}
    for path in sorted(root.rglob("*.toml")):
        doc = tomllib.loads(path.read_text(encoding="utf-8"))
        name = path.relative_to(root).with_suffix("").as_posix()
        if "lot_id" in doc:
            lots[path.stem] = doc
        elif "trial" in doc:
            for arm in doc.get("arm", []):
                arm["scenario"] = Path(arm["scenario"]).stem
            trials[name] = _cheap_trial(doc)
        else:
            product = doc.get("product", {})
            if isinstance(product.get("lot"), str):
                product["lot"] = Path(product["lot"]).stem
            scenarios[name] = _cheap_scenario(doc)
    return _Bases(scenarios, lots, trials)


@functools.cache
def _bases() -> _Bases:
    """The examples, read once per process."""
    return _load_bases()


def _add_scenario(draft: _Draft, bases: _Bases, base: str, name: str) -> None:
    """Put scenario ``base`` into the draft as file ``name`` (and its lot beside it)."""
    doc = copy.deepcopy(bases.scenarios[base])
    product = doc.get("product", {})
    if isinstance(product.get("lot"), str):
        lot_name = name.replace(".toml", "_lot.toml")
        draft.docs[lot_name] = copy.deepcopy(bases.lots[product["lot"]])
        draft.roles[lot_name] = "lot"
        product["lot"] = lot_name
    draft.docs[name] = doc
    draft.roles[name] = "scenario"


# ---------------------------------------------------------------- valid commands


def _maybe(rng: random.Random, p: float, *items: str) -> list[str]:
    return list(items) if rng.random() < p else []


def _simulate(rng: random.Random, b: _Bases) -> _Draft:
    base = rng.choice(sorted(b.scenarios))
    d = _Draft(
        "simulate", ["simulate", "scenario.toml", "-o", rng.choice(["out.csv", "out.parquet"])]
    )
    _add_scenario(d, b, base, "scenario.toml")
    if "population" in b.scenarios[base]:
        d.args += _maybe(rng, 0.3, "--summary") + _maybe(rng, 0.3, "--covariates-out", "cov.csv")
        d.args += _maybe(rng, 0.2, "--chunk-size", "2")
    else:
        d.args += _maybe(rng, 0.3, "--doses-out", "doses.csv")
    d.args += _maybe(rng, 0.2, "--n-patients", "2") + _maybe(rng, 0.15, "--engine", "scipy")
    return d


def _compare(rng: random.Random, b: _Bases) -> _Draft:
    d = _Draft("compare", ["compare"])
    if rng.random() < 0.6:
        _add_scenario(d, b, rng.choice(sorted(b.scenarios)), "scenario.toml")
        d.args += ["scenario.toml", "--split", rng.choice(["1,2", "1,3", "2"])]
        d.args += _maybe(rng, 0.2, "--window-days", "14")
    else:
        for name in ("a.toml", "b.toml"):
            _add_scenario(d, b, rng.choice(sorted(b.scenarios)), name)
            d.args.append(name)
    d.args += _maybe(rng, 0.3, "-o", "cmp.csv") + _maybe(rng, 0.25, "--plot", "cmp.png")
    d.args += _maybe(rng, 0.2, "--effect-threshold", "0.3")
    d.args += _maybe(rng, 0.1, "--engine", "scipy")
    return d


def _withdrawal(rng: random.Random, b: _Bases) -> _Draft:
    d = _Draft("withdrawal", ["withdrawal", "scenario.toml", "--follow-up-days", "30"])
    _add_scenario(d, b, rng.choice(sorted(b.scenarios)), "scenario.toml")
    d.args += _maybe(rng, 0.3, "--json") + _maybe(rng, 0.25, "--plot", "w.png")
    d.args += _maybe(rng, 0.2, "--stop-day", "10")
    return d


def _trial(rng: random.Random, b: _Bases) -> _Draft:
    d = _Draft("trial", ["trial", "trial.toml", "-o", "trialout"])
    doc = copy.deepcopy(b.trials[rng.choice(sorted(b.trials))])
    arm_files: dict[str, str] = {}
    for arm in doc["arm"]:
        name = arm_files.setdefault(arm["scenario"], f"arm{len(arm_files)}.toml")
        arm["scenario"] = name
    for base, name in arm_files.items():
        _add_scenario(d, b, base, name)
    d.docs["trial.toml"], d.roles["trial.toml"] = doc, "trial"
    d.args += _maybe(rng, 0.2, "--replicates", "2") + _maybe(rng, 0.2, "--seed", "3")
    d.args += _maybe(rng, 0.2, "--power-curve", "2,3")
    return d


def _qc(rng: random.Random, b: _Bases) -> _Draft:
    d = _Draft("qc", ["qc", "lot.toml"])
    d.docs["lot.toml"] = copy.deepcopy(b.lots[rng.choice(sorted(b.lots))])
    d.roles["lot.toml"] = "lot"
    d.args += _maybe(rng, 0.4, "--cells", "6.5e7") + _maybe(rng, 0.4, "--weight-kg", "65")
    d.args += _maybe(rng, 0.2, "--infusion-hours", "1") + _maybe(rng, 0.3, "--json")
    return d


def _dose(rng: random.Random, b: _Bases) -> _Draft:
    amount = rng.choice([["--cells-per-kg", "1e6"], ["--cells", "6.5e7"]])
    args = ["dose", "--route", rng.choice(ROUTES), "--weight-kg", rng.choice(["65", "20"])]
    return _Draft("dose", args + amount + _maybe(rng, 0.2, "--allow-beyond-evidence"))


def _export_sbml(rng: random.Random, b: _Bases) -> _Draft:
    d = _Draft("export-sbml", ["export-sbml", "scenario.toml", "-o", "model.xml"])
    _add_scenario(d, b, rng.choice(sorted(b.scenarios)), "scenario.toml")
    return d


def _sim_table(patients: int) -> bytes:
    """A wide table shaped like ``mscsim simulate`` output (decaying cell counts)."""
    head = "patient_id,time_day,cells_lung,cells_blood,cells_liver_spleen,cells_target,"
    head += "cells_total,effect,sara_score"
    rows = [head]
    for p in range(patients):
        for day in range(0, 11):
            lung, blood = 6e7 * math.exp(-1.5 * day), 1e5 * math.exp(-3.0 * day)
            liver, target = 1e7 * math.exp(-0.5 * day), 1e4 * (1 + p) * math.exp(-0.2 * day)
            total = lung + blood + liver + target
            rows.append(
                f"{p},{day},{lung!r},{blood!r},{liver!r},{target!r},{total!r},0.1,{13 + p * 0.1}"
            )
    return ("\n".join(rows) + "\n").encode()


def _summary_table() -> bytes:
    """A long table shaped like ``mscsim simulate --summary`` output."""
    rows = ["time_day,output,p5,p50,p95,mean"]
    for day in range(0, 11):
        for name, scale in (("cells_lung", 6e7), ("cells_total", 7e7), ("sara_score", 13.0)):
            v = scale * math.exp(-0.5 * day) if name.startswith("cells") else scale
            rows.append(f"{day},{name},{0.5 * v!r},{v!r},{1.5 * v!r},{v!r}")
    return ("\n".join(rows) + "\n").encode()


def _plot(rng: random.Random, b: _Bases) -> _Draft:
    d = _Draft("plot", ["plot", "table.csv", "-o", rng.choice(["fig.png", "fig.svg", "fig.pdf"])])
    d.raw["table.csv"] = rng.choice([_sim_table(1), _sim_table(3), _summary_table()])
    d.args += _maybe(rng, 0.3, "--log")
    return d


def _listing(name: str, *extras: str) -> Callable[[random.Random, _Bases], _Draft]:
    def build(rng: random.Random, b: _Bases) -> _Draft:
        return _Draft(name, [name, *[e for e in extras if rng.random() < 0.4]])

    return build


def _root(rng: random.Random, b: _Bases) -> _Draft:
    command = rng.choice(["", *sorted(FLAGS)])
    return _Draft("root", [command, "--help"] if command else [rng.choice(["--help", "--version"])])


BUILDERS: dict[str, tuple[float, Callable[[random.Random, _Bases], _Draft]]] = {
    "simulate": (24, _simulate),
    "compare": (12, _compare),
    "withdrawal": (12, _withdrawal),
    "trial": (9, _trial),
    "qc": (11, _qc),
    "dose": (10, _dose),
    "plot": (9, _plot),
    "export-sbml": (6, _export_sbml),
    "params": (4, _listing("params", "--json", "--full")),
    "models": (2, _listing("models", "--json")),
    "sources": (2, _listing("sources", "--json")),
    "root": (3, _root),
}

# Flags by kind of value; "-o" stands for "--output" too.
FLAGS: dict[str, dict[str, str]] = {
    "simulate": {
        "-o": "table_out",
        "--doses-out": "table_out",
        "--covariates-out": "table_out",
        "--n-patients": "int",
        "--chunk-size": "int",
        "--dask": "dask",
        "--engine": "engine",
    },
    "compare": {
        "--split": "list",
        "--window-days": "float",
        "--effect-threshold": "float",
        "-o": "table_out",
        "--plot": "figure_out",
        "--engine": "engine",
    },
    "withdrawal": {
        "--stop-day": "float",
        "--follow-up-days": "float",
        "--plot": "figure_out",
        "--engine": "engine",
    },
    "trial": {
        "-o": "dir_out",
        "--replicates": "int",
        "--seed": "int",
        "--power-curve": "list",
        "--dask": "dask",
    },
    "qc": {"--cells": "float", "--weight-kg": "float", "--infusion-hours": "float"},
    "dose": {
        "--route": "route",
        "--weight-kg": "float",
        "--cells": "float",
        "--cells-per-kg": "float",
    },
    "params": {"--model": "text"},
    "plot": {"-o": "figure_out"},
    "export-sbml": {"-o": "sbml_out"},
    # Commands that run fits, samples or a server are fuzzed through --help only
    # (their refusals have their own tests): a case must finish in seconds.
    "fit": {},
    "sensitivity": {},
    "claims": {},
    "report": {},
    "serve": {},
    "models": {},
    "sources": {},
}

# Bad flag values by kind. Values that start real work (a Dask cluster, a million
# patients) are left out: they are valid requests, too slow for a fuzz case.
FLAG_VALUES: dict[str, list[str]] = {
    "int": ["-1", "0", "1000000000", "1000000000000", "99999999999999999999", "abc", "", "1.5",
            "1e3", "nan", " 2", "0x10", "-0"],
    "float": ["-1", "0", "-0", "nan", "inf", "-inf", "1e308", "1e-320", "1e9", "abc", "",
              "1,5", "0x1p3", "1e400"],
    "list": ["", ",", "1,,2", "a,b", "-1,2", "0", "1,1", "2,1", "1.5,2", "1e9", "1;2",
             " 1 , 2 ", "\u0661,\u0662", "999999999999999999999", "1,2,"],
    "engine": ["foo", "", "FAST", "fast "],
    "route": ["foo", "", "IV", "intravenous,intramuscular"],
    "text": ["", "nope", "SCA", "sca\n"],
    "dask": ["", "lan:4", "local:abc", "local:0", "local:-1", "local:1.5", "LOCAL", "tcp://"],
}  # fmt: skip

OUT_PATHS: dict[str, list[str]] = {
    "table_out": ["/proc/out.csv", "afile.txt/out.csv", "adir.csv", "x" * 300 + ".csv",
                  "out.xlsx", "out", "", ".", "newdir/sub/out.csv", "out.CSV", "afile.txt"],
    "figure_out": ["/proc/fig.png", "afile.txt/fig.png", "adir.png", "x" * 300 + ".png",
                   "fig.jpg", "fig", "", "newdir/sub/fig.svg", "afile.txt"],
    "sbml_out": ["/proc/m.xml", "afile.txt/m.xml", "adir.xml", "x" * 300 + ".xml", "m.csv",
                 "m", "", ".", "newdir/sub/m.sbml"],
    "dir_out": ["/proc/trialout", "afile.txt", "afile.txt/sub", "x" * 300, "", "adir.csv"],
}  # fmt: skip

A_FILE = b"a file, not a directory\n"


# ---------------------------------------------------------------- document mutations


def _paths(node: Any, prefix: Path_ = ()) -> list[Path_]:
    """Every path to a value below ``node`` (tables, arrays and scalars)."""
    out: list[Path_] = []
    items: list[tuple[str | int, Any]] = []
    if isinstance(node, dict):
        items = list(node.items())
    elif isinstance(node, list):
        items = list(enumerate(node))
    for key, value in items:
        out.append((*prefix, key))
        out += _paths(value, (*prefix, key))
    return out


def _get(doc: Any, path: Path_) -> Any:
    for key in path:
        doc = doc[key]
    return doc


def _dotted(path: Path_) -> str:
    return "".join(f"[{k}]" if isinstance(k, int) else f".{k}" for k in path).lstrip(".")


def _bad_values(original: Any) -> list[tuple[str, Any]]:
    """Replacement values for ``original``: wrong types, edge and absurd numbers."""
    values: list[tuple[str, Any]] = [
        ("true", True), ("false", False), ("'abc'", "abc"), ("''", ""), ("[]", []),
        ("[original]", [original]), ("{}", {}), ("-1", -1), ("0", 0), ("-0.0", -0.0),
        ("nan", math.nan), ("inf", math.inf), ("-inf", -math.inf), ("1e308", 1e308),
        ("1e-320", 1e-320), ("2**63-1", 2**63 - 1), ("-2**63", -(2**63)), ("10**30", 10**30),
        ("1e9", 1e9), ("0.5", 0.5), ("1e-9", 1e-9), ("a date", dt.date(2026, 1, 1)),
        ("a 5000-character string", "x" * 5000),
    ]  # fmt: skip
    if isinstance(original, int | float) and not isinstance(original, bool):
        values += [
            (f"'{original}' (a numeric string)", str(original)),
            ("the original negated", -original),
            ("the original x 1e6", original * 1e6),
            ("the original + 0.5", original + 0.5),
        ]
    elif isinstance(original, bool):
        values += [("1", 1), ("'true'", "true")]
    elif isinstance(original, str):
        values += [
            ("upper case", original.upper()),
            ("with a trailing space", original + " "),
            ("cut short", original[:-1]),
            ("'missing.toml'", "missing.toml"),
            ("'.'", "."),
            ("'/dev/null'", "/dev/null"),
            ("'scenario.toml'", "scenario.toml"),
            ("'trial.toml'", "trial.toml"),
        ]
    elif isinstance(original, list):
        values += [
            ("reversed", original[::-1]),
            ("with -1 appended", [*original, -1]),
            ("1000 copies of its first item", original[:1] * 1000),
            ("[nan]", [math.nan]),
        ]
    return values


def _pick_key(rng: random.Random, d: _Draft) -> tuple[str, Path_] | None:
    """Choose a file of the draft and a key path in it (None if there is none)."""
    if not d.docs:
        return None
    name = rng.choice(sorted(d.docs))
    paths = _paths(d.docs[name])
    if not paths:
        return None
    return name, rng.choice(paths)


def _mutate_value(rng: random.Random, d: _Draft) -> bool:
    picked = _pick_key(rng, d)
    if picked is None:
        return False
    name, path = picked
    label, value = rng.choice(_bad_values(_get(d.docs[name], path)))
    _get(d.docs[name], path[:-1])[path[-1]] = value
    d.notes.append(f"{name}: {_dotted(path)} = {label}")
    key = next((k for k in reversed(path) if isinstance(k, str)), name)
    d.targets.append((key, toml_value(value)))
    return True


def _delete_key(rng: random.Random, d: _Draft) -> bool:
    picked = _pick_key(rng, d)
    if picked is None:
        return False
    name, path = picked
    del _get(d.docs[name], path[:-1])[path[-1]]
    d.notes.append(f"{name}: {_dotted(path)} deleted")
    return True


def _unknown_key(rng: random.Random, d: _Draft) -> bool:
    if not d.docs:
        return False
    name = rng.choice(sorted(d.docs))
    doc = d.docs[name]
    holders = [()] + [p for p in _paths(doc) if isinstance(_get(doc, p), dict)]
    holder_path = rng.choice(holders)
    holder = _get(doc, holder_path)
    siblings = sorted(k for k in holder if isinstance(k, str))
    if siblings and rng.random() < 0.6:
        key = rng.choice(siblings)
        key = rng.choice([key + "s", key[:-1], key.upper(), key.replace("_", "-")])
    else:
        key = rng.choice(["colour", "notes", "n_patient", "Horizon_days", "é"])
    if key in holder:
        return False
    holder[key] = rng.choice([1, "x", True, 0.5])
    d.notes.append(f"{name}: unknown key {_dotted((*holder_path, key))!r} added")
    return True


def _graft(rng: random.Random, d: _Draft) -> bool:
    """Copy a table or key another example of the same kind has into this file."""
    if not d.docs:
        return False
    name = rng.choice(sorted(d.docs))
    kind = d.roles[name]
    b = _bases()
    donors = {"scenario": b.scenarios, "lot": b.lots, "trial": b.trials}[kind]
    donor = donors[rng.choice(sorted(donors))]
    paths = [p for p in _paths(donor) if len(p) <= 2 and all(isinstance(k, str) for k in p)]
    path = rng.choice(paths)
    value = copy.deepcopy(_get(donor, path))
    if path[-1] in ("lot", "scenario"):
        return False
    holder = d.docs[name]
    for key in path[:-1]:
        if not isinstance(holder.get(key), dict):
            holder[key] = {}
        holder = holder[key]
    holder[path[-1]] = value
    d.notes.append(f"{name}: {_dotted(path)} copied from another example")
    return True


# ---------------------------------------------------------------- file mutations


def _text_mutations(rng: random.Random, text: str) -> list[tuple[str, bytes | None]]:
    lines = text.splitlines(keepends=True)
    keyed = [i for i, ln in enumerate(lines) if "=" in ln and not ln.lstrip().startswith("#")]
    headers = [i for i, ln in enumerate(lines) if ln.startswith("[") and not ln.startswith("[[")]
    cut = rng.randrange(1, max(2, len(text)))
    at = rng.randrange(len(lines) + 1)
    out: list[tuple[str, bytes | None]] = [
        ("empty", b""),
        ("blank lines only", b"\n \n\t\n"),
        ("a comment only", b"# nothing here\n"),
        ("UTF-8 byte-order mark", b"\xef\xbb\xbf" + text.encode()),
        ("UTF-16", text.encode("utf-16")),
        ("binary", rng.randbytes(rng.choice([1, 64, 4096]))),
        ("cut short", text[:cut].encode()),
        ("invalid UTF-8", text[:cut].encode() + b"\xff\xfe" + text[cut:].encode()),
        ("a NUL byte", text[:cut].encode() + b"\x00" + text[cut:].encode()),
        ("'= =' line", "".join([*lines[:at], "= =\n", *lines[at:]]).encode()),
        ("CRLF line ends", text.replace("\n", "\r\n").encode()),
        ("a directory", None),
    ]
    if keyed:
        last = lines[keyed[-1]]
        out.append(("duplicate key", (text + last).encode()))
    if headers:
        first = lines[headers[0]]
        out.append(("duplicate table", (text + "\n" + first).encode()))
        broken = text.replace(first, first.replace("]", "", 1), 1)
        out.append(("unclosed table header", broken.encode()))
    return out


def _table_mutations(rng: random.Random, text: str) -> list[tuple[str, bytes | None]]:
    rows = text.splitlines()
    head, body = rows[0].split(","), rows[1:]
    col = rng.randrange(len(head))
    row = rng.randrange(len(body))

    def replace_cell(value: str) -> bytes:
        cells = body[row].split(",")
        cells[col] = value
        return "\n".join([rows[0], *body[:row], ",".join(cells), *body[row + 1 :]]).encode()

    def drop_column() -> bytes:
        return "\n".join(
            ",".join(c for j, c in enumerate(r.split(",")) if j != col) for r in rows
        ).encode()

    return [
        ("header only", (rows[0] + "\n").encode()),
        ("one row", "\n".join(rows[:2]).encode()),
        (f"column {head[col]} dropped", drop_column()),
        (f"{head[col]} cell 'abc'", replace_cell("abc")),
        (f"{head[col]} cell nan", replace_cell("nan")),
        (f"{head[col]} cell inf", replace_cell("inf")),
        (f"{head[col]} cell -1e9", replace_cell("-1e9")),
        (f"{head[col]} cell empty", replace_cell("")),
        ("duplicate column names", text.replace(head[col], head[0], 1).encode()),
        ("semicolon separated", text.replace(",", ";").encode()),
        ("rows reversed", "\n".join([rows[0], *body[::-1]]).encode()),
    ]


def _break_file(rng: random.Random, d: _Draft) -> bool:
    names = sorted(set(d.docs) | {n for n, v in d.raw.items() if v is not None})
    if not names:
        return False
    name = rng.choice(names)
    if rng.random() < 0.08:
        d.missing.add(name)
        d.notes.append(f"{name}: missing")
        return True
    content = d.raw.get(name)
    text = content.decode(errors="replace") if content is not None else dumps(d.docs[name])
    options = _text_mutations(rng, text)
    if name.endswith(".csv") and len(text.splitlines()) > 2:
        options += _table_mutations(rng, text) * 2
    label, content = rng.choice(options)
    d.raw[name] = content
    d.notes.append(f"{name}: {label}")
    return True


# ---------------------------------------------------------------- flag mutations


def _flag_index(args: list[str], flag: str) -> int | None:
    names = {flag, "--output"} if flag == "-o" else {flag}
    hits = [i for i, a in enumerate(args) if a in names]
    return hits[-1] if hits else None


def _set_flag(args: list[str], flag: str, value: str, rng: random.Random) -> None:
    i = _flag_index(args, flag)
    if i is not None and i + 1 < len(args):
        args[i + 1] = value
    elif rng.random() < 0.2:
        args.append(f"{flag}={value}" if flag.startswith("--") else f"{flag}{value}")
    else:
        args += [flag, value]


def _bad_flag(rng: random.Random, d: _Draft) -> bool:
    flags = {k: v for k, v in FLAGS.get(d.command, {}).items() if not v.endswith("_out")}
    if not flags:
        return False
    flag = rng.choice(sorted(flags))
    value = rng.choice(FLAG_VALUES[flags[flag]])
    _set_flag(d.args, flag, value, rng)
    d.notes.append(f"{flag} {value!r}")
    d.targets.append((flag, value))
    return True


def _bad_output(rng: random.Random, d: _Draft) -> bool:
    flags = {k: v for k, v in FLAGS.get(d.command, {}).items() if v.endswith("_out")}
    if not flags:
        return False
    flag = rng.choice(sorted(flags))
    given = [a for a in d.args[1:] if a.endswith((".toml", ".csv", ".parquet"))]
    choices = [*OUT_PATHS[flags[flag]], *given]
    value = rng.choice(choices)
    if value.startswith("afile.txt"):
        d.raw["afile.txt"] = A_FILE
    if value.startswith("adir"):
        d.raw[value] = None
    _set_flag(d.args, flag, value, rng)
    d.notes.append(f"{flag} {value if len(value) < 40 else value[:12] + '...'!r}")
    return True


def _bad_command_line(rng: random.Random, d: _Draft) -> bool:
    args = d.args
    options = [i for i, a in enumerate(args) if a.startswith("-") and i > 0]
    choice = rng.randrange(8)
    if choice == 0:
        args.append("--bogus")
        d.notes.append("unknown option --bogus")
    elif choice == 1 and options:
        i = rng.choice(options)
        args[i] = args[i][:-1] if args[i].startswith("--") else "-O"
        d.notes.append(f"misspelt option {args[i]}")
    elif choice == 2 and (i := _flag_index(args, "-o")) is not None:
        del args[i : i + 2]
        d.notes.append("required --output left out")
    elif choice == 3 and len(args) > 1 and not args[1].startswith("-"):
        del args[1]
        d.notes.append("positional argument left out")
    elif choice == 4:
        args.insert(min(2, len(args)), "extra.toml")
        d.notes.append("extra positional argument")
    elif choice == 5 and args and args[0] in FLAGS:
        args[0] = args[0][:-1]
        d.notes.append(f"unknown command {args[0]}")
    elif choice == 6 and FLAGS.get(d.command):
        flag = rng.choice(sorted(FLAGS[d.command]))
        args.append(flag)
        d.notes.append(f"{flag} without a value")
    else:
        args.append("--help")
        d.notes.append("--help")
    return True


MUTATIONS: dict[str, tuple[float, Callable[[random.Random, _Draft], bool]]] = {
    "value": (35, _mutate_value),
    "delete": (10, _delete_key),
    "unknown": (8, _unknown_key),
    "graft": (5, _graft),
    "file": (12, _break_file),
    "flag": (15, _bad_flag),
    "output": (10, _bad_output),
    "command line": (5, _bad_command_line),
}


# ---------------------------------------------------------------- cases


def _files(d: _Draft) -> tuple[tuple[str, bytes | None], ...]:
    files: dict[str, bytes | None] = {}
    for name, doc in d.docs.items():
        files[name] = dumps(doc).encode()
    files.update(d.raw)
    return tuple(sorted((k, v) for k, v in files.items() if k not in d.missing))


def generate_case(ident: int, seed: int) -> Case:
    """Return case ``ident`` of the sequence ``seed`` (independent of the others)."""
    rng = random.Random(f"mscsim-fuzz:{seed}:{ident}")  # noqa: S311 - reproducible, not secret
    names = sorted(BUILDERS)
    command = rng.choices(names, weights=[BUILDERS[n][0] for n in names])[0]
    draft = BUILDERS[command][1](rng, _bases())
    n_mutations = rng.choices([0, 1, 2], weights=[8, 70, 22])[0]
    kinds = sorted(MUTATIONS)
    weights = [MUTATIONS[k][0] for k in kinds]
    done, tries = 0, 0
    while done < n_mutations and tries < 20:
        tries += 1
        kind = rng.choices(kinds, weights=weights)[0]
        done += MUTATIONS[kind][1](rng, draft)
    return Case(
        ident=ident,
        command=command,
        args=tuple(draft.args),
        files=_files(draft),
        mutations=tuple(draft.notes) or ("none",),
        target=draft.targets[0] if len(draft.notes) == len(draft.targets) == 1 else None,
    )


def generate_cases(n: int, seed: int, start: int = 0) -> list[Case]:
    """Return cases ``start`` to ``start + n - 1`` of the sequence ``seed``."""
    return [generate_case(i, seed) for i in range(start, start + n)]
