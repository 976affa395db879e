"""``genoface traits`` on files: a genotype file (VCF/BCF, PLINK, 23andMe/AncestryDNA) in, one
record of traits per person out, from a trained trait predictor, an IrisPlex coefficient file
and PGS Catalog scoring files."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from genoface.errors import GenofaceError
from genoface.genetics._consumer import consumer_genotype_data
from genoface.io import read_covariates, read_genotypes
from genoface.io.genotypes import GenotypeData
from genoface.models.prediction import is_consumer_file, read_genotypes_for_model, select_samples
from genoface.traits._panels import EYE_COLOURS, irisplex_from_spec, load_irisplex_coefficients, panel_counts
from genoface.traits._pgs import read_scoring_file, score, scoring_panel
from genoface.traits._predictor import BASES, TraitPredictor, load_trait_predictor


@dataclass
class ReferencePanel:
    """Labelled reference genomes without faces (a TraitPredictor fits on these attributes)."""

    sample_ids: np.ndarray
    genotypes: np.ndarray
    variants: pd.DataFrame
    covariates: pd.DataFrame
    meta: dict = field(default_factory=dict)


def fit_reference(genotypes: str | os.PathLike, labels: str | os.PathLike, *, seed: int = 0) -> TraitPredictor:
    """A trait predictor fitted on a reference panel: genotypes (VCF/BCF or PLINK) and a TSV of
    their labels (sample_id and any of sex, population, eye_colour, hair_colour, skin_colour,
    height_cm). Every genotyped person needs a row: a mismatch names the ids."""
    data = read_genotypes(genotypes)
    table = read_covariates(labels, required=(), known_only=True)
    missing = pd.Index(data.sample_ids).difference(table.index)
    if len(missing):
        raise GenofaceError(
            f"{labels}: no row for {len(missing)} reference samples of {Path(genotypes).name}, e.g. "
            f"{', '.join(map(str, missing[:5]))}; give every genotyped person a row"
        )
    panel = ReferencePanel(
        data.sample_ids, data.genotypes, data.variants, table.loc[data.sample_ids], {"name": Path(genotypes).name}
    )
    return TraitPredictor(random_state=seed).fit(panel)


@dataclass
class TraitsReport:
    """``records``: one dict per person (``genoface traits --json``); ``notes``: how the input
    was read (SNPs found, strand flips, PGS variants matched)."""

    records: list[dict[str, Any]]
    notes: list[str] = field(default_factory=list)


def _read(path: Path, panel: pd.DataFrame | None, plain: GenotypeData | None) -> tuple[GenotypeData, str | None]:
    """The genotypes: ``plain`` (a VCF/PLINK file, read once), or a consumer file read against
    ``panel`` (it has no REF/ALT); the note says how many panel SNPs were read."""
    if plain is not None:
        return plain, None
    if panel is None:
        raise GenofaceError(f"{path}: a 23andMe/AncestryDNA file can only be read against a panel; give --model")
    data, report = consumer_genotype_data(path, panel)
    return data, f"{path.name}: {report['n_called']:,} of {report['n_panel']:,} panel SNPs read"


def traits_for_file(
    genotypes: str | os.PathLike,
    *,
    model: str | os.PathLike | None = None,
    samples: Sequence[str] | None = None,
    basis: str = "dna",
    pgs: Sequence[str | os.PathLike] = (),
    irisplex: str | os.PathLike | None = None,
    only: Sequence[str] | None = None,
    reference: tuple[str | os.PathLike, str | os.PathLike] | None = None,
) -> TraitsReport:
    """Predict every available trait for the people in ``genotypes``.

    ``model``: a trait predictor (its directory or a model directory holding one in traits/);
    ``basis``: "dna" or "demographic" (sex and ancestry only); ``pgs``: PGS Catalog scoring files
    whose scores are added; ``irisplex``: an IrisPlex coefficient file (JSON), whose eye-colour
    probabilities are added as ``eye_colour_irisplex``; ``only``: keep just these traits (names
    as in the output, e.g. sex, eye_colour, height_cm, or a PGS id); ``reference``: (genotypes,
    labels TSV) of a reference panel to fit a trait predictor on, instead of ``model``.
    """
    path = Path(genotypes)
    if basis not in BASES:
        raise GenofaceError(f"unknown basis {basis!r}; use one of {', '.join(BASES)}")
    if model is not None and reference is not None:
        raise GenofaceError("give either --model or --reference, not both")
    if model is None and reference is None and not pgs and irisplex is None:
        raise GenofaceError(
            "nothing to predict: give --model (a trained model or trait predictor), --reference, --pgs or --irisplex"
        )
    notes: list[str] = []
    records: dict[str, dict[str, Any]] = {}
    ids: np.ndarray | None = None
    plain = None if is_consumer_file(path) else select_samples(read_genotypes(path), list(samples or []), path)
    if model is not None or reference is not None:
        predictor = load_trait_predictor(model) if model is not None else fit_reference(*reference)
        data, report = read_genotypes_for_model(path, predictor, plain)
        if report is not None:
            notes.append(f"{path.name}: {report['n_called']:,} of the predictor's {report['n_panel']:,} SNPs read")
        ids = np.asarray(data.sample_ids, dtype=str)
        records = {r["sample_id"]: r for r in predictor.predict(data, basis).records()}
    if irisplex is not None:
        model_, panel = irisplex_from_spec(load_irisplex_coefficients(irisplex))
        table = pd.DataFrame({"id": panel[0], "ref": panel[2], "alt": panel[1]})
        data, note = _read(path, table, plain)
        notes += [note] if note else []
        counts = panel_counts(data.genotypes, data.variants, *panel)
        probs = model_.predict_proba(counts)
        for i, sample in enumerate(np.asarray(data.sample_ids, dtype=str)):
            records.setdefault(sample, {"sample_id": sample})["eye_colour_irisplex"] = {
                "probabilities": dict(zip(EYE_COLOURS, map(float, probs[i]), strict=True)),
                "panel_snps_typed": int((~np.isnan(counts[i])).sum()),
            }
    for file in pgs:
        scoring = read_scoring_file(file)
        data, note = _read(path, scoring_panel(scoring), plain)
        notes += [note] if note else []
        scores, report = score(scoring, data, source=str(path))
        name = scoring.pgs_id or Path(file).name
        trait = scoring.metadata.get("trait_reported", "")
        notes.append(
            f"{name}: {report['n_matched']:,} of {report['n_scoring']:,} variants scored "
            f"({report['n_strand_flipped']:,} strand-flipped, {report['n_ambiguous_dropped']:,} ambiguous dropped, "
            f"{report['n_allele_mismatch']:,} allele mismatches, {report['n_missing_from_genotypes']:,} not in the genotypes)"
        )
        for sample, row in scores.iterrows():
            records.setdefault(str(sample), {"sample_id": str(sample)}).setdefault("pgs", {})[name] = {
                "trait": trait,
                "score": float(row["score"]),
                "n_variants_used": int(row["n_variants_used"]),
            }
    order = list(ids) if ids is not None else list(records)
    people = [records[s] for s in order if s in records]
    return TraitsReport(_only(people, only) if only else people, notes)


def _only(people: list[dict[str, Any]], names: Sequence[str]) -> list[dict[str, Any]]:
    """The records cut down to the traits ``names``; a name nothing predicts is an error."""
    available = list(
        dict.fromkeys(k for r in people for k in (*r, *r.get("pgs", {})) if k not in ("sample_id", "basis", "pgs"))
    )
    unknown = [n for n in names if n not in available]
    if unknown:
        raise GenofaceError(f"unknown trait {unknown[0]!r}; these inputs give: {', '.join(available)}")
    keep = set(names)
    out = []
    for r in people:
        row = {k: v for k, v in r.items() if k in ("sample_id", "basis") or k in keep}
        pgs = {k: v for k, v in r.get("pgs", {}).items() if k in keep}
        out.append(row | ({"pgs": pgs} if pgs else {}))
    return out
