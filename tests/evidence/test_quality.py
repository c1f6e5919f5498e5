"""Source profiles, release criteria and lot-to-lot variability."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mscsim.errors import SpecError
from mscsim.evidence.release import Status, assess_lot
from mscsim.evidence.sources import resolve_product, source_profile, source_profiles
from mscsim.population import lot_variability
from mscsim.spec import CellSource, Lot, Product

DOSSIER = Path(__file__).resolve().parents[2] / "docs" / "MSC_EVIDENCE.md"

GOOD_LOT: dict[str, Any] = {
    "viability_percent": 92,
    "sterility": "negative",
    "mycoplasma": "negative",
    "endotoxin_eu_per_ml": 0.5,
    "product_volume_ml": 50,
    "passage": 4,
    "trilineage_differentiation": True,
    "markers_positive_percent": {"CD73": 99, "CD90": 98, "CD105": 97},
    "markers_negative_percent": {
        "CD34": 0.5,
        "CD45": 0.4,
        "CD14": 0.6,
        "CD19": 0.2,
        "HLA-DR": 0.8,
    },
}


def lot(**changes: Any) -> Lot:
    return Lot.model_validate({**GOOD_LOT, **changes})


def test_every_source_has_a_profile_citing_references_in_the_dossier() -> None:
    listed = set(re.findall(r"\*\*(R\d+)\*\*", DOSSIER.read_text()))
    for profile in source_profiles().values():
        frame = profile.to_frame()
        assert {"potency", "survival", "immunogenicity", "post_thaw_viability"} <= set(
            frame["field"]
        )
        assert (frame["plausible_low"] <= frame["value"]).all()
        assert (frame["value"] <= frame["plausible_high"]).all()
        cited = {r for text in frame["source"] for r in re.findall(r"\bR\d+\b", text)}
        assert cited and cited <= listed


def test_post_thaw_viability_is_the_measured_one_where_measured() -> None:
    # R79: AD-MSC 92.95%, UC-MSC 94.44% right after thaw.
    assert source_profile("adipose").post_thaw_viability == pytest.approx(0.93, abs=0.001)
    assert source_profile("umbilical_cord").post_thaw_viability == pytest.approx(0.944)


def test_donor_age_lowers_potency_for_adult_sources_only() -> None:
    bm = source_profile("bone_marrow")
    assert bm.donor_age_factor(None) == 1.0
    assert bm.donor_age_factor(30) == pytest.approx(1.0)
    assert bm.donor_age_factor(70) == pytest.approx(0.9**4)
    assert bm.donor_age_factor(10) > 1.0
    with pytest.raises(SpecError, match="newborn"):
        source_profile("umbilical_cord").donor_age_factor(25)


def test_product_values_come_from_product_then_lot_then_source() -> None:
    uc = {"source": "umbilical_cord", "donor": "allogeneic"}
    assert resolve_product(Product.model_validate(uc)).viability == pytest.approx(0.944)
    from_lot = resolve_product(Product.model_validate({**uc, "lot": lot(potency=0.5)}))
    assert (from_lot.viability, from_lot.viability_from, from_lot.potency) == (0.92, "lot", 0.5)
    given_ = resolve_product(Product.model_validate({**uc, "viability": 0.8, "potency": 2}))
    assert (given_.viability, given_.viability_from, given_.potency) == (0.8, "product", 2.0)
    # Autologous cells are as old as the patient.
    auto = Product.model_validate({"source": "bone_marrow", "donor": "autologous"})
    assert resolve_product(auto, patient_age_years=50).potency == pytest.approx(0.81)


@pytest.mark.parametrize(
    ("product", "message"),
    [
        ({"donor": "autologous", "hla_match": 0.5}, "hla_match = 0.5: applies to allogeneic"),
        ({"source": "umbilical_cord", "donor_age_years": 30}, "newborn"),
        ({"viability": 0.9, "lot": GOOD_LOT}, "viability = 0.9: the lot gives"),
        ({"potency": 2, "lot": {**GOOD_LOT, "potency": 1.2}}, "potency = 2: the lot gives"),
        ({"lot": {**GOOD_LOT, "source": "adipose"}}, "the lot is 'adipose'"),
    ],
)
def test_inconsistent_products_are_refused(product: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Product.model_validate({"source": "bone_marrow", "donor": "allogeneic", **product})


def test_a_good_lot_passes_every_judged_criterion() -> None:
    result = assess_lot(lot(), cells=5e7, weight_kg=70)
    assert result.passed
    judged = {c.name for c in result.criteria if c.status is Status.PASS}
    assert {"viability", "sterility", "mycoplasma", "endotoxin", "CD105+", "HLA-DR-"} <= judged


FAILS = [
    ("viability", {"viability_percent": 69.9}),
    ("sterility", {"sterility": "positive"}),
    ("mycoplasma", {"mycoplasma": "positive"}),
    ("CD73+", {"markers_positive_percent": {"CD73": 94.9, "CD90": 99, "CD105": 99}}),
    ("CD105+", {"markers_positive_percent": {"CD73": 99, "CD90": 99}}),
    ("CD45-", {"markers_negative_percent": {**GOOD_LOT["markers_negative_percent"], "CD45": 2.1}}),
    (
        "CD14 or CD11b-",
        {"markers_negative_percent": {"CD34": 0, "CD45": 0, "CD19": 0, "HLA-DR": 0}},
    ),
    ("trilineage differentiation", {"trilineage_differentiation": False}),
]


@pytest.mark.parametrize(("criterion", "change"), FAILS, ids=[f[0] for f in FAILS])
def test_each_failing_criterion_is_named_alone(criterion: str, change: dict[str, Any]) -> None:
    result = assess_lot(lot(**change), cells=5e7, weight_kg=70)
    assert [c.name for c in result.failures] == [criterion]
    assert result.failures[0].line.startswith(f"FAIL {criterion}: ")


def test_either_marker_of_a_pair_may_be_reported() -> None:
    negative = {"CD34": 0.1, "CD45": 0.1, "CD11b": 0.3, "CD79a": 0.2, "HLA-DR": 0.1}
    assert assess_lot(lot(markers_negative_percent=negative), weight_kg=70).passed


@settings(max_examples=50, deadline=None)
@given(
    eu_per_ml=st.floats(0, 20),
    volume=st.floats(1, 500),
    share=st.floats(0.01, 3),
    weight=st.floats(3, 150),
    hours=st.floats(0.1, 12),
)
def test_endotoxin_is_checked_per_kg_and_hour_at_the_planned_dose(
    eu_per_ml: float, volume: float, share: float, weight: float, hours: float
) -> None:
    total = 1e8
    result = assess_lot(
        lot(endotoxin_eu_per_ml=eu_per_ml, product_volume_ml=volume, total_cells=total),
        cells=share * total,
        weight_kg=weight,
        infusion_hours=hours,
    )
    dose = eu_per_ml * volume * share / weight / max(hours, 1.0)
    endotoxin = next(c for c in result.criteria if c.name == "endotoxin")
    assert endotoxin.status is (Status.PASS if dose <= 5.0 else Status.FAIL)


def test_endotoxin_without_a_weight_is_not_assessed_and_does_not_fail() -> None:
    result = assess_lot(lot(endotoxin_eu_per_ml=1000))
    endotoxin = next(c for c in result.criteria if c.name == "endotoxin")
    assert endotoxin.status is Status.NOT_ASSESSED and result.passed


@pytest.mark.parametrize("source", list(CellSource))
def test_lot_variability_recovers_its_distributions(source: CellSource) -> None:
    dist = lot_variability(source, potency=1.5)
    lots = dist.sample(200_000, rng=7)
    n = len(lots)
    log_p = np.log(lots["potency"])
    # Median and CV of the log-normal potency, within a few standard errors.
    assert np.exp(log_p.mean()) == pytest.approx(1.5, rel=4 * dist.potency_sigma / np.sqrt(n))
    cv = lots["potency"].std() / lots["potency"].mean()
    assert cv == pytest.approx(dist.potency_cv, rel=0.03)
    v = lots["viability"]
    assert (v > 0).all() and (v <= 1).all()
    assert v.mean() == pytest.approx(dist.viability_mean, abs=4 * dist.viability_sd / np.sqrt(n))
    assert v.std() == pytest.approx(dist.viability_sd, rel=0.03)


def test_lot_draws_map_deviates_one_to_one() -> None:
    dist = lot_variability("adipose")
    z = np.array([-1.0, 0.0, 1.0])
    u = np.array([0.1, 0.5, 0.9])
    lots = dist.from_deviates(z, u)
    assert lots["potency"].is_monotonic_increasing and lots["viability"].is_monotonic_increasing
    assert lots["potency"][1] == pytest.approx(1.0)
    # Any subset of deviates gives the same lots: draws can be keyed by lot or patient.
    np.testing.assert_array_equal(dist.from_deviates(z[1:], u[1:]).to_numpy(), lots[1:].to_numpy())
