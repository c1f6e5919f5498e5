"""``mscsim claims``: the claims patients hear, each checked by a computation."""

from __future__ import annotations

from enum import StrEnum
from typing import TYPE_CHECKING, Annotated

import typer

from mscsim.cli.common import progress_callback, user_errors
from mscsim.cli.display import print_json, print_table
from mscsim.errors import SpecError

if TYPE_CHECKING:
    from collections.abc import Sequence

    from mscsim.analysis.claims import ClaimResult

__all__ = ["MAX_SAMPLES", "claims"]

MAX_SAMPLES = 10_000
"""Largest ``--samples``: each point of a claim's sample is at least one simulation, and the
trial claim's a small trial (about 2-3 s), so 10,000 points are hours of work."""


class Language(StrEnum):
    """Language of the table's texts."""

    en = "en"
    zh = "zh"


_HEADERS = {
    "en": ("claim", "verdict", "robustness", "decided by", "emergent", "references"),
    "zh": ("说法", "结论", "稳健性", "决定参数", "由动力学产生", "参考文献"),
}
_VERDICT_TEXT = {
    "en": {"holds": "holds", "does_not_hold": "does not hold", "cannot_tell": "cannot tell"},
    "zh": {"holds": "成立", "does_not_hold": "不成立", "cannot_tell": "无法判断"},
}
_YES_NO = {"en": ("yes", "no"), "zh": ("是", "否")}


@user_errors
def claims(
    lang: Annotated[
        Language, typer.Option("--lang", help="Language of the table text: en or zh.")
    ] = Language.en,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print a JSON list, one object per claim.")
    ] = False,
    samples: Annotated[
        int,
        typer.Option("--samples", help="Latin hypercube points per claim for robustness."),
    ] = 16,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the samples.")] = 0,
) -> None:
    """Check each claim about MSC therapy by a computation: verdict, robustness, what decides it.

    The verdict is at the library defaults; robustness is the share of a seeded
    Latin hypercube sample over the plausible ranges of the claim's guessed and
    inferred parameters in which it holds.
    """
    from mscsim.analysis.claims import audit_claims

    if samples == 1 or not 0 <= samples <= MAX_SAMPLES:
        raise SpecError(
            f"--samples = {samples}: must be 0 (verdicts only) or a whole number "
            f"from 2 to {MAX_SAMPLES:,}"
        )
    if seed < 0:
        raise SpecError(f"--seed = {seed}: must be >= 0")
    with progress_callback("claims") as progress:
        results = audit_claims(samples=samples, seed=seed, lang=lang.value, progress=progress)
    if as_json:
        print_json([r.to_dict() for r in results])
        return
    _print(results, lang.value)


def _print(results: Sequence[ClaimResult], lang: str) -> None:
    """Print one row per claim in ``lang``."""
    from rich import box
    from rich.table import Table

    table = Table(box=box.SIMPLE_HEAD, pad_edge=False)
    for header in _HEADERS[lang]:
        table.add_column(header)
    yes, no = _YES_NO[lang]
    for r in results:
        robustness = "-" if r.robustness is None else f"{r.robustness:.2f}"
        table.add_row(
            f"{r.id}: {r.claim}",
            _VERDICT_TEXT[lang][r.verdict],
            robustness,
            ", ".join(r.deciding_parameters) or "-",
            yes if r.emergent else no,
            ", ".join(r.references) or "-",
        )
    print_table(table)
