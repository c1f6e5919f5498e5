"""The parameter library: every default is sourced, in range, and cites real references."""

from __future__ import annotations

import math
import re
from pathlib import Path

import pytest

from mscsim.errors import EvidenceError
from mscsim.evidence import SITES, Verdict, assess_dose, load_library
from mscsim.models import CellKinetics
from mscsim.spec import Route

DOSSIER = Path(__file__).resolve().parents[2] / "docs" / "MSC_EVIDENCE.md"
REQUIRED = [
    "lung_trap_fraction",
    "target_half_life_days",
    "target_capacity_cells",
    "local_leak_per_day",
    "early_loss_fraction",
]


def test_required_parameter_names_exist_with_their_units() -> None:
    lib = load_library()
    units = {name: lib.get(name).unit for name in REQUIRED}
    assert units == {
        "lung_trap_fraction": "fraction",
        "target_half_life_days": "day",
        "target_capacity_cells": "cells",
        "local_leak_per_day": "1/day",
        "early_loss_fraction": "fraction",
    }


def defaults() -> list[tuple[str, str]]:
    return [(p.name, site) for p in load_library() for site in ("systemic", *p.sites)]


@pytest.mark.parametrize(("name", "site"), defaults())
def test_every_default_is_plausible_allowed_tagged_and_sourced(name: str, site: str) -> None:
    p = load_library().get(name)
    d = p.default(site)
    low, high = d.plausible
    assert low <= d.value <= high
    assert p.allowed[0] <= low and high <= p.allowed[1]
    assert d.evidence in {"S", "S2", "I", "G"}
    assert len(d.source) > 20
    if d.evidence in {"S", "S2", "I"}:
        assert re.search(r"\bR\d+\b", d.source), "a seen or inferred value cites a reference"


def test_every_cited_reference_exists_in_the_evidence_dossier() -> None:
    listed = set(re.findall(r"^- \*\*(R\d+)\*\*", DOSSIER.read_text(), flags=re.M))
    cited = set()
    for p in load_library():
        for site in ("systemic", *p.sites):
            cited |= set(re.findall(r"\bR\d+\b", p.default(site).source))
    assert cited, "the library cites references"
    assert cited <= listed, f"cited but not in the dossier: {sorted(cited - listed)}"


def test_site_defaults_name_known_sites_only() -> None:
    for p in load_library():
        assert set(p.sites) <= set(SITES)


def test_the_kinetics_model_reads_only_library_parameters() -> None:
    model = CellKinetics()
    names = {p.name for p in model.parameters}
    assert set(REQUIRED) <= names
    assert {p.model for p in model.parameters} == {"msc_kinetics", "msc_immunity"}


def test_unknown_parameter_lookup_suggests_close_names() -> None:
    with pytest.raises(EvidenceError, match="did you mean lung_trap_fraction"):
        load_library().get("lung_trap_fractoin")


VERDICTS = [
    ("intravenous", 6.5e7, 65, Verdict.TYPICAL),
    ("intravenous", 1.0e8, 70, Verdict.TYPICAL),
    ("intravenous", 4.0e8, 70, Verdict.UNUSUAL),
    ("intravenous", 6.5e8, 65, Verdict.UNUSUAL),  # 1e7/kg: the highest studied, not beyond
    ("intravenous", 1.0e9, 70, Verdict.BEYOND),
    ("intramuscular", 1.4e8, 70, Verdict.TYPICAL),  # 2e6/kg, as in limb trials (R9)
    ("intramuscular", 1.6e8, 70, Verdict.UNUSUAL),
    ("intramuscular", 2.5e8, 70, Verdict.BEYOND),
    ("intra_articular", 1e8, 70, Verdict.UNUSUAL),
    ("intra_articular", 1.01e8, 70, Verdict.BEYOND),
    ("intrathecal", 2e7, 70, Verdict.TYPICAL),
    ("intrathecal", 7e7, 70, Verdict.BEYOND),
    ("intra_arterial", 1e8, 70, Verdict.NO_EVIDENCE),
]


@pytest.mark.parametrize(("route", "cells", "weight", "verdict"), VERDICTS)
def test_dose_verdicts_follow_the_route_evidence(
    route: str, cells: float, weight: float, verdict: Verdict
) -> None:
    assert assess_dose(route, cells=cells, weight_kg=weight).verdict is verdict


def test_every_route_has_dose_evidence_with_sources_and_rule_of_thumb() -> None:
    for route in Route:
        ev = assess_dose(route, cells=1e7, weight_kg=70).evidence
        assert ev.source and ev.rule_of_thumb
        assert ("tens of millions" in ev.rule_of_thumb) == (not route.is_local)
        for bound in (ev.highest_cells, ev.highest_cells_per_kg):
            assert bound is None or (math.isfinite(bound) and bound > 0)
