"""``mscsim claims`` from the command line (in process)."""

from __future__ import annotations

import json

import pytest
from tests.analysis.test_claims import CONTRACT_IDS
from tests.cli.test_cli import invoke

from mscsim.analysis import claims as claims_module

KEYS = {"id", "claim", "verdict", "robustness", "deciding_parameters", "emergent", "references"}
CHEAP = ("dose_by_route", "survival_four_weeks", "distribution_losses")


@pytest.fixture
def cheap_claims(monkeypatch: pytest.MonkeyPatch) -> None:
    """Audit only the fast claims (the full audit is the slow test below)."""
    chosen = tuple(c for c in claims_module.CLAIMS if c.id in CHEAP)
    monkeypatch.setattr(claims_module, "CLAIMS", chosen)
    monkeypatch.setattr(claims_module, "CLAIM_IDS", CHEAP)


@pytest.mark.usefixtures("cheap_claims")
def test_json_lists_each_claim_with_the_contract_keys() -> None:
    code, stdout, _ = invoke("claims", "--json", "--samples", "4", "--seed", "2")
    assert code == 0
    data = json.loads(stdout)
    assert [d["id"] for d in data] == list(CHEAP)
    for d in data:
        assert KEYS <= set(d)
        assert d["verdict"] in {"holds", "does_not_hold", "cannot_tell"}
        assert 0 <= d["robustness"] <= 1
        assert isinstance(d["emergent"], bool)
        assert isinstance(d["deciding_parameters"], list)
        assert all(r.startswith("R") for r in d["references"])


@pytest.mark.slow
@pytest.mark.usefixtures("cheap_claims")
def test_same_seed_same_output() -> None:
    first = invoke("claims", "--json", "--samples", "4", "--seed", "9")
    again = invoke("claims", "--json", "--samples", "4", "--seed", "9")
    assert first[0] == 0 and first[1] == again[1]


@pytest.mark.usefixtures("cheap_claims")
def test_table_in_chinese() -> None:
    code, stdout, _ = invoke("claims", "--samples", "0", "--lang", "zh")
    assert code == 0
    assert "说法" in stdout and "静脉输注" in stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--samples", "1"], "--samples = 1: must be 0 (verdicts only) or a whole number from 2"),
        (["--samples", "-3"], "--samples = -3"),
        (["--samples", "20000"], "--samples = 20000"),
        (["--seed", "-1"], "--seed = -1"),
        (["--lang", "fr"], "--lang = 'fr'"),
    ],
)
def test_bad_flags_exit_2_with_one_line(args: list[str], message: str) -> None:
    code, _, stderr = invoke("claims", *args)
    assert code == 2
    assert stderr.count("\n") == 1 and message in stderr


@pytest.mark.slow
def test_full_audit_lists_every_claim_of_the_contract() -> None:
    code, stdout, _ = invoke("claims", "--json", "--samples", "0")
    assert code == 0
    data = json.loads(stdout)
    assert {d["id"] for d in data} >= set(CONTRACT_IDS)
    assert all(d["robustness"] is None for d in data)
