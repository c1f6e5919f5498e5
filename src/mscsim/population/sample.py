"""Draw virtual patients: covariates, random effects and lots, keyed by patient id.

Patient ``i`` gets its standard normal deviates from
``SeedSequence(seed, spawn_key=(i,))``, in a fixed layout (one slot per
covariate, per varying parameter and per lot draw). A patient's values therefore
never depend on which other patients are drawn with it, on chunk sizes or on
workers.

Defaults: every parameter of the model with an ``omega`` varies log-normally
(for the built-in models ``mscsim params`` lists them with their source), kept
within the parameter's own allowed range; weight varies log-normally
around the patient's weight with :data:`DEFAULT_WEIGHT_CV`; with
``lot_variability`` each patient receives a lot drawn from the source's
lot-to-lot distributions (:mod:`mscsim.population.lots`); each allogeneic
recipient forms donor-specific antibodies (covariate ``forms_dsa`` = 1, the only
patients whose memory clears later doses faster) with probability
``dsa_probability`` (R42), from one more slot after the parameters' (autologous
recipients: 0; :mod:`mscsim.models.immunity`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from scipy.special import ndtr, ndtri

from mscsim.engine.events import ResolvedDose
from mscsim.errors import SpecError
from mscsim.evidence.library import Parameter, ParameterLibrary, load_library
from mscsim.models.base import Array, Model
from mscsim.models.diseases import BASELINE_COVARIATE
from mscsim.models.immunity import DSA_COVARIATE
from mscsim.population.lots import lot_variability
from mscsim.population.seeds import spawned_states
from mscsim.problem.build import default_model
from mscsim.spec.disease import Genotype, ScaSpec
from mscsim.spec.population import Distribution, PopulationSpec
from mscsim.spec.scenario import Scenario

__all__ = ["DEFAULT_WEIGHT_CV", "VirtualPatients", "deviates", "sample_patients"]

DEFAULT_WEIGHT_CV = 0.2
"""Between-patient CV of body weight when the population gives none (a guess
spanning typical adult weights, about 45-95 kg around 65 kg)."""

_GENOTYPES = [g for g in Genotype if g is not Genotype.POOLED]


def deviates(seed: int, patient_ids: NDArray[np.int64], n_slots: int) -> Array:
    """Return standard normal deviates, shape ``(n_patients, n_slots)``, keyed by patient id."""
    bits = spawned_states(seed, patient_ids, n_slots)  # each patient's SeedSequence, at once
    u = ((bits >> np.uint64(11)).astype(np.float64) + 0.5) * 2.0**-53
    out: Array = ndtri(u)
    return out


@dataclass(frozen=True)
class VirtualPatients:
    """Sampled patients, ready to simulate.

    Attributes
    ----------
    patient_ids : ndarray of int
    params : dict of str to ndarray
        Parameters and covariates, each ``(1,)`` or ``(n,)``.
    doses : tuple of ResolvedDose
        Viable cells per patient (weight and lot viability included).
    covariates : DataFrame
        One row per patient: ``patient_id`` and every sampled covariate.
    """

    patient_ids: NDArray[np.int64]
    params: dict[str, Array]
    doses: tuple[ResolvedDose, ...]
    covariates: pd.DataFrame


def _correlated(z: Array, names: list[str], spec: PopulationSpec) -> Array:
    corr = spec.correlation
    if corr is None:
        return z
    idx = [names.index(n) for n in corr.names]
    m = np.array(corr.matrix)
    w, v = np.linalg.eigh(m)
    root = v * np.sqrt(np.clip(w, 0, None))
    out = z.copy()
    out[:, idx] = z[:, idx] @ root.T
    return out


def _varied(p: Parameter, values: Array) -> Array:
    low, high = p.allowed
    out: Array = np.clip(values, low, high)
    return out


def _forms_dsa(params: Mapping[str, Array], u: Array, n: int) -> Array:
    """Return 1 for allogeneic recipients whose uniform draw ``u`` is below ``dsa_probability``."""
    share = np.broadcast_to(params["dsa_probability"], (n,))
    allogeneic = np.broadcast_to(params["is_allogeneic"], (n,)) > 0
    out: Array = ((u < share) & allogeneic).astype(float)
    return out


def sample_patients(
    scenario: Scenario,
    params: Mapping[str, Array],
    doses: Sequence[ResolvedDose],
    patient_ids: NDArray[np.int64],
    *,
    viability: float,
    model: Model | None = None,
) -> VirtualPatients:
    """Draw the patients ``patient_ids`` of ``scenario``'s population.

    ``params`` and ``doses`` are the scenario's resolved values for its typical
    patient (:func:`~mscsim.problem.problem_from_scenario`); ``viability`` is the
    viability they assume. ``model`` (default: the scenario's
    :func:`~mscsim.problem.default_model`) gives the parameters that may vary:
    their default omegas and allowed ranges.

    Raises
    ------
    SpecError
        If the scenario has no ``[population]`` or names unknown parameters.
    """
    spec = scenario.population
    if spec is None:
        raise SpecError("population: the scenario has no [population] table")
    ids = np.asarray(patient_ids, dtype=np.int64)
    n = ids.size
    own = ParameterLibrary((model or default_model(scenario)).parameters)
    omegas = spec.omegas({p.name: p.omega for p in own if p.name in params})
    names = sorted(omegas)
    # Slot layout: weight, age, baseline, sex, genotype, lot potency, lot viability,
    # parameters, donor-specific antibodies (appended last, so earlier slots keep their draws).
    z = deviates(spec.seed, ids, 8 + len(names))
    eta = _correlated(z[:, 7 : 7 + len(names)], names, spec)
    out = {k: np.asarray(v, dtype=float) for k, v in params.items()}
    cov: dict[str, Array | NDArray[np.int64] | list[str]] = {"patient_id": ids}

    weight_dist = spec.weight_kg or Distribution(
        dist="lognormal", median=scenario.patient.weight_kg, cv=DEFAULT_WEIGHT_CV
    )
    weight = weight_dist.from_normal(z[:, 0])
    if np.any(weight <= 0):
        raise SpecError("population.weight_kg: draws must be > 0 kg; set min")
    out["weight_kg"] = weight
    cov["weight_kg"] = weight
    if spec.age_years is not None:
        out["age_years"] = np.clip(spec.age_years.from_normal(z[:, 1]), 0, 120)
        cov["age_years"] = out["age_years"]
    if spec.baseline is not None:
        out[BASELINE_COVARIATE] = spec.baseline.from_normal(z[:, 2])
        cov["baseline"] = out[BASELINE_COVARIATE]
    if spec.female_fraction is not None:
        cov["female"] = ndtr(z[:, 3]) < spec.female_fraction
    if spec.genotype_mix is not None:
        disease = scenario.disease
        if not isinstance(disease, ScaSpec):
            raise SpecError("population.genotype_mix: needs [disease] model = 'sca'")
        genotypes = list(spec.genotype_mix)
        edges = np.cumsum([spec.genotype_mix[g] for g in genotypes])
        pick = np.minimum(np.searchsorted(edges, ndtr(z[:, 4]), side="right"), len(genotypes) - 1)
        # The SCA model carries only its own genotype's slope; the others are
        # built-in library values.
        library = load_library()
        slope = f"sara_progression_{disease.genotype.value.lower()}_per_year"
        rates = np.array(
            [library.get(f"sara_progression_{g.value.lower()}_per_year").value for g in genotypes]
        )
        out[slope] = rates[pick]
        cov["genotype"] = [genotypes[i].value for i in pick]
    lot_viability = np.full(n, viability)
    if spec.lot_variability:
        lots = lot_variability(
            scenario.product.source,
            potency=float(np.asarray(params["potency"]).reshape(-1)[0]),
            viability=viability,
        ).from_deviates(z[:, 5], ndtr(z[:, 6]))
        out["potency"] = lots["potency"].to_numpy()
        lot_viability = lots["viability"].to_numpy()
        cov["lot_potency"] = out["potency"]
        cov["lot_viability"] = lot_viability
    for j, name in enumerate(names):
        typical = np.broadcast_to(out[name], (n,))
        out[name] = _varied(own.get(name), typical * np.exp(omegas[name] * eta[:, j]))
        cov[name] = out[name]
    if DSA_COVARIATE in params:  # the scenario's patient says whether they form DSA
        out[DSA_COVARIATE] = np.broadcast_to(params[DSA_COVARIATE], (n,)).astype(float)
        cov[DSA_COVARIATE] = out[DSA_COVARIATE]
    elif "dsa_probability" in out:
        out[DSA_COVARIATE] = _forms_dsa(out, ndtr(z[:, -1]), n)
        cov[DSA_COVARIATE] = out[DSA_COVARIATE]

    events = scenario.regimen.expand()
    resolved = []
    for event, dose in zip(events, doses, strict=True):
        if event.cells is not None:
            cells = np.full(n, event.cells)
        else:
            cells = float(event.cells_per_kg or 0.0) * weight
        resolved.append(
            ResolvedDose(dose.time_day, dose.route, cells * lot_viability, dose.duration_day)
        )
    return VirtualPatients(ids, out, tuple(resolved), pd.DataFrame(cov))
