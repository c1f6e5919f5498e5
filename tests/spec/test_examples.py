"""The packaged example tables are the example files, lot results written in."""

from __future__ import annotations

from pathlib import Path

import pytest

from mscsim.io.scenario import load_lot, load_scenario
from mscsim.spec.examples import EXAMPLE_SCENARIOS, example_scenario
from mscsim.spec.scenario import Scenario

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@pytest.mark.parametrize("name", sorted(EXAMPLE_SCENARIOS))
def test_each_packaged_example_is_its_file_with_the_lot_results_written_in(name: str) -> None:
    from_file = load_scenario(EXAMPLES / f"{name}.toml")
    product = from_file.product
    if product.lot is not None:
        lot = (
            load_lot(EXAMPLES / "uc_msc_lot.toml") if isinstance(product.lot, str) else product.lot
        )
        product = product.model_copy(
            update={"lot": None, "viability": lot.viability, "potency": lot.potency or 1.0}
        )
    from_file = from_file.model_copy(update={"product": product})
    packaged = Scenario.model_validate(example_scenario(name))
    assert packaged.model_dump(serialize_as_any=True) == from_file.model_dump(serialize_as_any=True)


def test_a_copy_can_be_changed_without_changing_the_example() -> None:
    copy = example_scenario("cli_bm_msc_im")
    copy["dose"][0]["cells_per_kg"] = 1.0
    assert EXAMPLE_SCENARIOS["cli_bm_msc_im"]["dose"][0]["cells_per_kg"] == 2e6
