"""``genoface traits`` on files: a genotype file (VCF/BCF, PLINK, 23andMe/AncestryDNA) in, one
record of traits per person out: genetic sex and the published HIrisPlex-S pigmentation models
out of the box, plus a trained trait predictor, an IrisPlex coefficient file and PGS Catalog
scoring files where given."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from genoface.core.errors import GenofaceError
from genoface.core.schema import in_par, is_x, is_y
from genoface.genetics import (
    CALL_CONFIDENCE,
    ConsumerGenotypes,
    GenomeFile,
    consumer_genotype_data,
    genetic_sex,
)
from genoface.io import GenotypeData, read_covariates, read_genotypes
from genoface.traits import (
    BASES,
    CITATIONS,
    EYE_COLOURS,
    FREQUENCY_POPULATIONS,
    IRISPLEX_2011,
    PublishedModel,
    TraitPredictor,
    irisplex_from_spec,
    load_irisplex_coefficients,
    load_trait_predictor,
    panel_counts,
    predict_published,
    published_model,
    read_scoring_file,
    score,
    scoring_panel,
    webtool_models,
    webtool_panel,
)


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
    was read (SNPs found, strand flips, PGS variants matched, missing panel SNPs); ``models``:
    the published models used, by output name, with their citation keys; ``citations``: the
    full reference of each key."""

    records: list[dict[str, Any]]
    notes: list[str] = field(default_factory=list)
    models: dict[str, dict[str, Any]] = field(default_factory=dict)
    citations: dict[str, str] = field(default_factory=dict)


def _read(
    file: GenomeFile, panel: pd.DataFrame | None, plain: GenotypeData | None, *, ambiguous: str = "drop"
) -> tuple[GenotypeData, str | None]:
    """The genotypes: ``plain`` (a VCF/PLINK file, read once), or a consumer file's calls read
    against ``panel`` (they have no REF/ALT); the note says how the panel was matched."""
    if plain is not None:
        return plain, None
    if panel is None:
        raise GenofaceError(f"{file.path}: a 23andMe/AncestryDNA file can only be read against a panel; give --model")
    data, report = consumer_genotype_data(file.calls, panel, ambiguous=ambiguous)
    return data, report.summary()


def _published_panel(folder: str | os.PathLike | None) -> pd.DataFrame:
    """The HIrisPlex-S SNPs as a panel a consumer file is read against (GRCh37, ALT counted)."""
    return webtool_panel(folder)[["id", "chrom", "pos", "ref", "alt"]]


def _consumer_sex_data(calls: ConsumerGenotypes) -> GenotypeData:
    """One person's X and Y calls from a consumer file, coded by zygosity only (0 homozygous or
    haploid, 1 heterozygous, -1 missing; all :func:`genetic_sex` reads). The files are on
    GRCh37, so X calls inside its pseudo-autosomal regions (diploid in men) are left out."""
    par = in_par(calls.chrom, calls.pos, "GRCh37")
    keep = (is_x(calls.chrom) & ~par) | is_y(calls.chrom)
    a1, a2 = calls.allele1[keep], calls.allele2[keep]
    dosage = np.where(a1 == "", -1, np.where((a2 != "") & (a2 != a1), 1, 0)).astype(np.int8)
    variants = pd.DataFrame(
        {"chrom": calls.chrom[keep], "pos": calls.pos[keep], "id": calls.rsid[keep], "ref": "N", "alt": "N"}
    )
    at = variants["chrom"] + ":" + variants["pos"].astype(str)
    variants["id"] = variants["id"].where(~variants["id"].duplicated(), at)  # ids must be unique
    return GenotypeData(np.array([calls.sample_id]), dosage[None, :], variants)


def _sex_records(data: GenotypeData) -> tuple[dict[str, dict[str, Any]], str | None]:
    """Out-of-the-box genetic sex per person (:func:`genetic_sex`), and a note on how; empty
    when the file has no X and no Y SNP (no sex is made up)."""
    sex = genetic_sex(data.genotypes, data.variants)
    if sex is None:
        return {}, "no chromosome X or Y SNP in the genotypes: no genetic sex"
    out = {}
    for sample, r in zip(np.asarray(data.sample_ids, dtype=str), sex.itertuples(index=False), strict=True):
        out[sample] = {
            "sex": {"M": float(r.p_male), "F": float(1.0 - r.p_male)},
            "sex_call": {
                "call": str(r.call),
                "confidence": CALL_CONFIDENCE,
                "log_lr": float(r.log_lr),
                "n_x_snps": int(r.n_x),
                "n_x_heterozygous": int(r.n_x_het),
                "n_y_snps": int(r.n_y),
                "n_y_called": int(r.n_y_called),
                "method": str(r.method),
            },
        }
    calls = sex["call"].value_counts()
    methods = sex["method"][~sex["method"].str.startswith("unknown")]
    note = (
        f"genetic sex ({methods.iloc[0] if len(methods) else sex['method'].iloc[0]}): "
        + ", ".join(f"{calls.get(c, 0):,} {c}" for c in ("M", "F", "unknown"))
        + f" (a sex is called at P >= {CALL_CONFIDENCE:g})"
    )
    return out, note


def traits_for_file(
    genotypes: str | os.PathLike | GenomeFile,
    *,
    model: str | os.PathLike | TraitPredictor | None = None,
    samples: Sequence[str] | None = None,
    basis: str = "dna",
    pgs: Sequence[str | os.PathLike] = (),
    irisplex: str | os.PathLike | None = None,
    only: Sequence[str] | None = None,
    reference: tuple[str | os.PathLike, str | os.PathLike] | None = None,
    missing_snps: str = "withhold",
    pgs_ambiguous: str = "drop",
    pgs_missing: str = "mean",
    hirisplex: str | os.PathLike | None = None,
) -> TraitsReport:
    """Predict every available trait for the people in ``genotypes``.

    With no other input: genetic sex (:func:`genoface.genetics.genetic_sex`, no trained
    model) and the published HIrisPlex-S webtool models, under their own names
    (``eye_colour_hirisplex_s``, ``hair_colour_hirisplex_s``, ``hair_shade_hirisplex_s``), when
    their tables are at hand: in the folder ``hirisplex`` or ``$GENOFACE_HIRISPLEX`` (they are not
    shipped; without them a note says the published models were not applied).
    ``model``: a trait predictor (its directory, a model directory holding one in traits/, or
    the predictor itself),
    whose trained traits are added under their usual names (eye_colour, ...; its sex replaces the
    out-of-the-box one); ``basis``: "dna" or "demographic" (sex and ancestry only: no published
    SNP models then); ``pgs``: PGS Catalog scoring files whose scores are added; ``irisplex``:
    an IrisPlex coefficient file (JSON, added as ``eye_colour_irisplex``), or ``walsh2011`` / a
    table of that form (the original IrisPlex model, added as ``eye_colour_irisplex_2011``);
    ``only``: keep just these traits (names as in the output, or a PGS id); ``reference``:
    (genotypes, labels TSV) of a reference panel to fit a trait predictor on, instead of
    ``model``; ``missing_snps``: for people missing SNPs of a published model, "withhold" (no
    prediction, the default) or a 1000 Genomes population (AFR, AMR, EAS, EUR, SAS, ALL) at
    whose allele frequencies the missing genotypes are averaged over (flagged incomplete);
    ``pgs_ambiguous``, ``pgs_missing``: the A/T and C/G rule and the missing-call rule of
    `genoface.traits.score` (defaults as the PGS Catalog calculator and plink2).
    """
    if basis not in BASES:
        raise GenofaceError(f"unknown basis {basis!r}; use one of {', '.join(BASES)}")
    if model is not None and reference is not None:
        raise GenofaceError("give either --model or --reference, not both")
    rule, population = _missing_rule(missing_snps)
    # a GenomeFile is already read (a server reads an upload once for every model)
    found = _Found(
        genotypes.select(samples) if isinstance(genotypes, GenomeFile) else GenomeFile.read(genotypes, samples)
    )
    if model is not None or reference is not None:
        _add_trained(found, _trait_predictor(model, reference), basis)
    if not any("sex" in r for r in found.records.values()):
        _add_sex(found)
    used: list[PublishedModel] = []
    if basis == "dna":
        used = _add_published(found, irisplex, rule, population, hirisplex)
    if irisplex is not None and not _is_published_table(irisplex):
        _add_irisplex_json(found, irisplex)
    for file in pgs:
        _add_pgs(found, file, pgs_ambiguous, pgs_missing)
    return found.report(only, used)


@dataclass
class _Found:
    """What the traits of one file add up to: a record per person, and notes on how."""

    file: GenomeFile
    records: dict[str, dict[str, Any]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    ids: np.ndarray | None = None

    def __post_init__(self) -> None:
        if self.file.plain is not None:
            self.ids = np.asarray(self.file.plain.sample_ids, dtype=str)

    def person(self, sample: str) -> dict[str, Any]:
        return self.records.setdefault(str(sample), {"sample_id": str(sample)})

    def note(self, text: str | None) -> None:
        if text:
            self.notes.append(text)

    def report(self, only: Sequence[str] | None, used: list[PublishedModel]) -> TraitsReport:
        order = list(self.ids) if self.ids is not None else list(self.records)
        people = [self.records[s] for s in order if s in self.records]
        people = _only(people, only) if only else people
        shown = {k for r in people for k in r}
        models = {pm.name: pm.describe() for pm in used if pm.name in shown}
        citations = {k: CITATIONS[k] for m in models.values() for k in m["citation"]}
        return TraitsReport(people, self.notes, models, citations)


def _trait_predictor(model: Any, reference: tuple | None) -> TraitPredictor:
    """The trait predictor given (already loaded: a server keeps it), loaded from its
    directory, or fitted on the reference panel."""
    if isinstance(model, TraitPredictor):
        return model
    return load_trait_predictor(model) if model is not None else fit_reference(*reference)


def _add_trained(found: _Found, predictor: TraitPredictor, basis: str) -> None:
    """The trait predictor's traits (its sex replaces the out-of-the-box one)."""
    data, report = found.file.on_panel(predictor.panel_)
    found.note(f"{report.summary()} (the trait predictor's panel)")
    found.ids = np.asarray(data.sample_ids, dtype=str)
    found.records = {r["sample_id"]: r for r in predictor.predict(data, basis).records()}


def _add_sex(found: _Found) -> None:
    """Out-of-the-box genetic sex, when no trained predictor gave one."""
    file = found.file
    sex, note = _sex_records(_consumer_sex_data(file.calls) if file.consumer else file.plain)
    found.note(note)
    for sample, rec in sex.items():
        found.person(sample).update(rec)


def _add_published(
    found: _Found,
    irisplex: str | os.PathLike | None,
    rule: str,
    population: str | None,
    folder: str | os.PathLike | None,
) -> list[PublishedModel]:
    """The published HIrisPlex-S models (and a published IrisPlex table given as ``irisplex``),
    their tables from ``folder`` or ``$GENOFACE_HIRISPLEX``. Without either, and with no
    published table asked for, a note says they were not applied; a folder given that lacks
    them is an error."""
    asked = folder is not None or (irisplex is not None and _is_published_table(irisplex))
    try:
        published = webtool_models(folder)
    except GenofaceError as exc:
        if asked:
            raise
        found.note(f"published pigmentation models not applied: {exc}")
        return []
    if irisplex is not None and _is_published_table(irisplex):
        published.append(published_model(irisplex, folder))
    # Consumer files state the GRCh37 forward strand: A/T and C/G panel SNPs read as written.
    try:
        data, note = _read(found.file, _published_panel(folder), found.file.everything, ambiguous="keep")
    except GenofaceError as exc:  # a consumer file without any HIrisPlex-S SNP
        found.note(f"published pigmentation models not applied: {exc}")
        return []
    found.note(note)
    for pm in published:
        pred = predict_published(pm, data, missing=rule, population=population or "EUR")
        found.note(pred.summary())
        for i, sample in enumerate(pred.sample_ids):
            found.person(sample)[pm.name] = pred.record(i)
    return published


def _add_irisplex_json(found: _Found, irisplex: str | os.PathLike) -> None:
    """Eye colour from an IrisPlex coefficient file (JSON), as ``eye_colour_irisplex``."""
    model, panel = irisplex_from_spec(load_irisplex_coefficients(irisplex))
    table = pd.DataFrame({"id": panel[0], "ref": panel[2], "alt": panel[1]})
    data, note = _read(found.file, table, found.file.plain)
    found.note(note)
    counts = panel_counts(data.genotypes, data.variants, *panel)
    probs = model.predict_proba(counts)
    for i, sample in enumerate(np.asarray(data.sample_ids, dtype=str)):
        found.person(sample)["eye_colour_irisplex"] = {
            "probabilities": dict(zip(EYE_COLOURS, map(float, probs[i]), strict=True)),
            "panel_snps_typed": int((~np.isnan(counts[i])).sum()),
        }


def _add_pgs(found: _Found, file: str | os.PathLike, ambiguous: str, missing: str) -> None:
    """The polygenic score of a PGS Catalog scoring file, under its PGS id."""
    scoring = read_scoring_file(file)
    data, note = _read(found.file, scoring_panel(scoring), found.file.everything, ambiguous=ambiguous)
    found.note(note)
    scores, report = score(scoring, data, ambiguous=ambiguous, missing=missing, source=str(found.file.path))
    name = scoring.pgs_id or Path(file).name
    trait = scoring.metadata.get("trait_reported", "")
    found.note(report["summary"])
    for sample, row in scores.iterrows():
        found.person(sample).setdefault("pgs", {})[name] = {
            "trait": trait,
            "score": float(row["score"]),
            "n_variants_used": int(row["n_variants_used"]),
        }


def _missing_rule(missing_snps: str) -> tuple[str, str | None]:
    """("withhold", None) or ("marginalize", population) from the ``--missing-snps`` value."""
    value = str(missing_snps)
    if value == "withhold":
        return "withhold", None
    if value.upper() in FREQUENCY_POPULATIONS:
        return "marginalize", value.upper()
    raise GenofaceError(
        f"--missing-snps must be 'withhold' or a 1000 Genomes population ({', '.join(FREQUENCY_POPULATIONS)}), "
        f"got {value!r}"
    )


def _is_published_table(irisplex: str | os.PathLike) -> bool:
    """``walsh2011`` (the 2011 IrisPlex table of the HIrisPlex-S folder) or a .tsv table of that form."""
    return str(irisplex) == IRISPLEX_2011 or Path(irisplex).suffix.lower() in (".tsv", ".txt")


def _only(people: list[dict[str, Any]], names: Sequence[str]) -> list[dict[str, Any]]:
    """The records cut down to the traits ``names``; a name nothing predicts is an error."""
    hidden = ("sample_id", "basis", "pgs", "sex_call")
    available = list(dict.fromkeys(k for r in people for k in (*r, *r.get("pgs", {})) if k not in hidden))
    unknown = [n for n in names if n not in available]
    if unknown:
        raise GenofaceError(f"unknown trait {unknown[0]!r}; these inputs give: {', '.join(available)}")
    keep = set(names) | ({"sex_call"} if "sex" in names else set())  # the call goes with its probability
    out = []
    for r in people:
        row = {k: v for k, v in r.items() if k in ("sample_id", "basis") or k in keep}
        pgs = {k: v for k, v in r.get("pgs", {}).items() if k in keep}
        out.append(row | ({"pgs": pgs} if pgs else {}))
    return out
