"""The published pigmentation models: the HIrisPlex-S webtool's eye colour, hair colour and hair
shade models, and the original IrisPlex eye model (Walsh 2011).

Each is a multinomial logistic regression on allele counts, applied exactly as the webtool
applies it::

    P(k) = exp(a_k + sum_j b_kj x_j) / (1 + sum_m exp(a_m + sum_j b_mj x_j)),

with the reference category's a and b equal to 0 and x_j the number of copies (0, 1, 2) of the
allele the model counts at SNP j, on the GRCh37 forward strand (``count_allele_forward`` in
``data/snp_panel_grch37.tsv``; rs312262906 is an insertion whose inserted allele, ALT ``CA``,
is counted). The coefficient tables are not shipped (they are the project's shared data): they
are read from a folder given as ``folder`` / ``--hirisplex`` or ``$GENOFACE_HIRISPLEX``, such as
``../shared/data/hirisplex`` (provenance in ``data/README.md``). Only the 1000 Genomes
frequencies that genoface computed from them ship, in ``data/``.

Missing SNPs. When a SNP is not typed the webtool does not drop its term: it switches to a model
refitted without it, whose coefficients are not published. genoface does not pretend to be the
webtool then. A person missing any SNP of a model gets no prediction from it (``"withhold"``,
the default), or, on request, the prediction averaged over the missing genotypes under
Hardy-Weinberg proportions at a stated 1000 Genomes population's allele frequencies
(``"marginalize"``); either way the record says ``complete: false`` and names the SNPs.

Skin colour is not here: its 36-SNP coefficients could not be recovered, so it stays a model
trained on a cohort (:class:`genoface.traits.TraitPredictor`).
"""

from __future__ import annotations

import io
import itertools
import os
import re
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy.special import softmax

from genoface.core.errors import GenofaceError
from genoface.io.genotypes import GenotypeData
from genoface.traits._panels import EYE_COLOURS, HAIR_COLOURS, panel_counts

#: Hair shade categories of the webtool (dark is its reference).
HAIR_SHADES = ("light", "dark")

#: Full references behind the citation keys of the published models.
CITATIONS = {
    "walsh2011": (
        "Walsh S, Liu F, Ballantyne KN, van Oven M, Lao O, Kayser M. IrisPlex: a sensitive DNA tool for "
        "accurate prediction of blue and brown eye colour in the absence of ancestry information. "
        "Forensic Sci Int Genet 5(3):170-180 (2011). doi:10.1016/j.fsigen.2010.02.004"
    ),
    "walsh2013": (
        "Walsh S, Liu F, Wollstein A, et al. The HIrisPlex system for simultaneous prediction of hair and "
        "eye colour from DNA. Forensic Sci Int Genet 7(1):98-115 (2013)"
    ),
    "chaitanya2018": (
        "Chaitanya L, Breslin K, Zuniga S, et al. The HIrisPlex-S system for eye, hair and skin colour "
        "prediction from DNA: introduction and forensic developmental validation. "
        "Forensic Sci Int Genet 35:123-135 (2018)"
    ),
}

#: How a person missing model SNPs is treated (see the module docstring).
MISSING_RULES = ("withhold", "marginalize")
#: 1000 Genomes phase 3 super-populations (and all 2,504 people) with shipped panel frequencies.
FREQUENCY_POPULATIONS = ("AFR", "AMR", "EAS", "EUR", "SAS", "ALL")
#: Marginalizing over more missing SNPs than this (3^k genotype combinations) is refused: the
#: prediction would be mostly the reference population's, not the person's.
MAX_MARGINALIZED = 10

_DATA = "data"
PANEL_FILE = "snp_panel_grch37.tsv"
FREQUENCY_FILE = "reference_frequencies_1000g.tsv"
IRISPLEX_2011_FILE = "irisplex_2011.tsv"
#: The environment variable naming the folder of the HIrisPlex-S tables.
TABLES_ENV = "GENOFACE_HIRISPLEX"
#: The published model that ``--irisplex walsh2011`` names.
IRISPLEX_2011 = "walsh2011"

# name -> (file, trait, categories in display order, title, citation keys)
_WEBTOOL = {
    "eye_colour_hirisplex_s": (
        "eye_webtool.tsv",
        "eye_colour",
        EYE_COLOURS,
        "HIrisPlex-S webtool eye colour model (6 IrisPlex SNPs)",
        ("walsh2011", "chaitanya2018"),
    ),
    "hair_colour_hirisplex_s": (
        "hair_webtool.tsv",
        "hair_colour",
        HAIR_COLOURS,
        "HIrisPlex-S webtool hair colour model (22 SNPs)",
        ("walsh2013", "chaitanya2018"),
    ),
    "hair_shade_hirisplex_s": (
        "shade_webtool.tsv",
        "hair_shade",
        HAIR_SHADES,
        "HIrisPlex-S webtool hair shade model (20 SNPs)",
        ("walsh2013", "chaitanya2018"),
    ),
}
_COMPLEMENT = str.maketrans("ACGT", "TGCA")
_HEADER = re.compile(r"log\(P([A-Za-z]+?)(?:Eye|Hair)/P([A-Za-z]+?)(?:Eye|Hair)\)")


# ---- the tables --------------------------------------------------------------------------------

#: The HIrisPlex-S tables a folder must hold (the coefficients and the panel; not shipped).
TABLE_FILES = (*(spec[0] for spec in _WEBTOOL.values()), IRISPLEX_2011_FILE, PANEL_FILE)


def hirisplex_folder(folder: str | os.PathLike | None = None) -> Path:
    """The folder of the HIrisPlex-S tables: ``folder``, else ``$GENOFACE_HIRISPLEX``; a clear
    error names what to give when neither holds them."""
    chosen = folder if folder is not None else os.environ.get(TABLES_ENV)
    if not chosen:
        raise GenofaceError(
            "the HIrisPlex-S coefficient tables are not shipped with genoface; give --hirisplex DIR or set "
            f"{TABLES_ENV} to a folder holding {', '.join(TABLE_FILES)} (such as ../shared/data/hirisplex)"
        )
    path = Path(chosen)
    missing = [name for name in TABLE_FILES if not (path / name).is_file()]
    if missing:
        raise GenofaceError(f"{path}: the HIrisPlex-S tables {', '.join(missing)} are not there; give their folder")
    return path


def _read_table(name: str, folder: str | os.PathLike | None = None) -> pd.DataFrame:
    """A HIrisPlex-S table from its folder, or the shipped frequency table of ``data/`` (read
    from the installed package, zip or folder alike)."""
    try:
        if name == FREQUENCY_FILE:
            text = resources.files("genoface.traits").joinpath(_DATA, name).read_text()
        else:
            text = (hirisplex_folder(folder) / name).read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise GenofaceError(f"{name} could not be read ({exc})") from None
    return pd.read_csv(io.StringIO(text), sep="\t", dtype=str, keep_default_na=False)


def webtool_panel(folder: str | os.PathLike | None = None) -> pd.DataFrame:
    """The 41 HIrisPlex-S SNPs: id, term (the webtool's column, e.g. rs12913832_T), chrom, pos
    (GRCh37), ref, alt, counted (the allele the models count, forward strand) and other.
    ``folder``: where the tables are (see :func:`hirisplex_folder`)."""
    t = _read_table(PANEL_FILE, folder)
    counted = t["count_allele_forward"].str.split().str[0]
    ok = (counted == t["alt"]) | (counted == t["ref"])
    if not ok.all():
        raise GenofaceError(f"{PANEL_FILE}: counted allele not REF or ALT at {list(t.loc[~ok, 'webtool_column'])}")
    return pd.DataFrame(
        {
            "id": t["webtool_column"].str.split("_").str[0],
            "term": t["webtool_column"],
            "chrom": t["chrom"],
            "pos": t["pos_grch37"].astype(np.int64),
            "ref": t["ref"],
            "alt": t["alt"],
            "counted": counted,
            "other": np.where(counted == t["alt"], t["ref"], t["alt"]),
        }
    )


@dataclass(frozen=True)
class PublishedModel:
    """A published multinomial logistic pigmentation model with fixed coefficients.

    ``intercept`` (C,) and ``coef`` (C, k) are the log-odds of each category against
    ``reference`` (whose row is 0), over ``categories`` in display order; ``snps``, ``counted``
    and ``other`` name each SNP and its counted / other allele on the GRCh37 forward strand.
    """

    name: str
    trait: str
    title: str
    categories: tuple[str, ...]
    reference: str
    snps: tuple[str, ...]
    counted: tuple[str, ...]
    other: tuple[str, ...]
    intercept: np.ndarray
    coef: np.ndarray
    citations: tuple[str, ...]
    source: str

    def counts(self, data: GenotypeData) -> np.ndarray:
        """(n, k) copies of each SNP's counted allele (NaN: absent, not called, alleles unfit)."""
        return panel_counts(
            data.genotypes,
            data.variants,
            np.array(self.snps, dtype=str),
            np.array(self.counted, dtype=str),
            np.array(self.other, dtype=str),
        )

    def predict_proba(self, counts: np.ndarray) -> np.ndarray:
        """(n, C) probabilities by the published formula; NaN rows where a count is missing."""
        x = np.asarray(counts, dtype=np.float64)
        if x.ndim != 2 or x.shape[1] != len(self.snps):
            raise GenofaceError(f"{self.name} needs counts of its {len(self.snps)} SNPs, got shape {x.shape}")
        return softmax(self.intercept[None, :] + x @ self.coef.T, axis=1)

    def describe(self) -> dict[str, Any]:
        """JSON-able summary: title, citations, SNPs and counted alleles."""
        return {
            "title": self.title,
            "trait": self.trait,
            "categories": list(self.categories),
            "reference_category": self.reference,
            "citation": list(self.citations),
            "snps": dict(zip(self.snps, self.counted, strict=True)),
            "source": self.source,
        }


def _categories(columns: list[str], expected: tuple[str, ...], name: str) -> tuple[list[str], str]:
    """Non-reference categories of the coefficient columns, and the reference category."""
    found = [_HEADER.fullmatch(c) for c in columns]
    if not all(found):
        raise GenofaceError(f"{name}: unexpected coefficient columns {columns}")
    cats = [m.group(1).lower() for m in found]
    refs = {m.group(2).lower() for m in found}
    if len(refs) != 1 or set(cats) | refs != set(expected):
        raise GenofaceError(f"{name}: categories {cats} against {refs}, expected {expected}")
    return cats, refs.pop()


def _webtool_model(name: str, folder: str | os.PathLike | None) -> PublishedModel:
    file, trait, display, title, cites = _WEBTOOL[name]
    t = _read_table(file, folder)
    panel = webtool_panel(folder).set_index("term")
    cats, reference = _categories(list(t.columns[4:]), display, file)
    values = t.iloc[:, 4:].astype(np.float64).to_numpy()
    if t["term"].iloc[0] != "intercept":
        raise GenofaceError(f"{file}: the first row must be the intercept")
    terms = t["term"].iloc[1:].tolist()
    unknown = [x for x in terms if x not in panel.index]
    if unknown:
        raise GenofaceError(f"{file}: terms {unknown} are not in {PANEL_FILE}")
    counted = t["count_allele_forward"].iloc[1:].tolist()
    if counted != panel.loc[terms, "counted"].tolist():
        raise GenofaceError(f"{file}: counted alleles disagree with {PANEL_FILE}")
    intercept = np.zeros(len(display))
    coef = np.zeros((len(display), len(terms)))
    for i, c in enumerate(cats):
        row = display.index(c)
        intercept[row], coef[row] = values[0, i], values[1:, i]
    return PublishedModel(
        name=name,
        trait=trait,
        title=title,
        categories=tuple(display),
        reference=reference,
        snps=tuple(panel.loc[terms, "id"]),
        counted=tuple(counted),
        other=tuple(panel.loc[terms, "other"]),
        intercept=intercept,
        coef=coef,
        citations=cites,
        source=file,
    )


def webtool_models(folder: str | os.PathLike | None = None) -> list[PublishedModel]:
    """The HIrisPlex-S webtool's eye colour, hair colour and hair shade models (tables from
    ``folder``, see :func:`hirisplex_folder`)."""
    return [_webtool_model(name, folder) for name in _WEBTOOL]


def irisplex_2011_model(
    path: str | os.PathLike | None = None, folder: str | os.PathLike | None = None
) -> PublishedModel:
    """The original IrisPlex eye model (Walsh et al. 2011, supplementary table 3), from the
    tables' folder (``folder``, see :func:`hirisplex_folder`) or from ``path``, a table of the
    same form (term, minor_allele, blue, intermediate; first row alpha, the intercepts).

    The table's alleles are on the strand of the webtool's terms (rs12913832 T, rs1800407 A,
    ...), so each is put on the GRCh37 forward strand the way the webtool's own term is; that
    gives the same counted allele and coefficient sign as the webtool's eye model at five SNPs
    and the other allele (opposite sign) at rs12896399, as expected.
    """
    source = IRISPLEX_2011_FILE if path is None else str(path)
    if path is None:
        t = _read_table(IRISPLEX_2011_FILE, folder)
    else:
        try:
            t = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False)
        except (OSError, ValueError) as exc:
            raise GenofaceError(f"{path}: not a readable IrisPlex table ({exc})") from None
    need = {"term", "minor_allele", "blue", "intermediate"}
    if not need <= set(t.columns) or len(t) < 2 or t["term"].iloc[0] != "alpha":
        raise GenofaceError(f"{source}: an IrisPlex table needs columns {sorted(need)} and a first row 'alpha'")
    panel = webtool_panel(folder).set_index("id")
    snps = t["term"].iloc[1:].tolist()
    unknown = [s for s in snps if s not in panel.index]
    if unknown:
        raise GenofaceError(f"{source}: SNPs {unknown} are not HIrisPlex-S SNPs")
    counted, other = [], []
    for snp, letter in zip(snps, t["minor_allele"].iloc[1:], strict=True):
        row = panel.loc[snp]
        # The webtool term's letter is its counted allele on the term's strand.
        reverse = row["term"].split("_")[1] != row["counted"]
        fwd = [row["ref"], row["alt"]]
        on_term_strand = [a.translate(_COMPLEMENT) if reverse else a for a in fwd]
        if letter not in on_term_strand:
            raise GenofaceError(f"{source}: allele {letter} of {snp} is not one of {'/'.join(on_term_strand)}")
        k = on_term_strand.index(letter)
        counted.append(fwd[k])
        other.append(fwd[1 - k])
    values = t[["blue", "intermediate"]].astype(np.float64).to_numpy()
    intercept = np.zeros(len(EYE_COLOURS))
    coef = np.zeros((len(EYE_COLOURS), len(snps)))
    for i, c in enumerate(("blue", "intermediate")):
        row = EYE_COLOURS.index(c)
        intercept[row], coef[row] = values[0, i], values[1:, i]
    return PublishedModel(
        name="eye_colour_irisplex_2011",
        trait="eye_colour",
        title="IrisPlex eye colour model (Walsh et al. 2011)",
        categories=EYE_COLOURS,
        reference="brown",
        snps=tuple(snps),
        counted=tuple(counted),
        other=tuple(other),
        intercept=intercept,
        coef=coef,
        citations=("walsh2011",),
        source=source,
    )


def reference_frequencies(population: str = "EUR") -> pd.Series:
    """Frequency of each HIrisPlex-S SNP's counted allele in a 1000 Genomes phase 3
    super-population (or ALL 2,504 people), indexed by rsID (``data/README.md`` says how)."""
    if population not in FREQUENCY_POPULATIONS:
        raise GenofaceError(
            f"unknown reference population {population!r}; use one of {', '.join(FREQUENCY_POPULATIONS)}"
        )
    t = _read_table(FREQUENCY_FILE).set_index("id")
    return t[population].astype(np.float64)


def panel_frequencies(data: GenotypeData, groups: Any, folder: str | os.PathLike | None = None) -> pd.DataFrame:
    """Counted-allele frequencies of the 41 HIrisPlex-S SNPs in ``data`` per group (one label
    per person) and over everyone (ALL): how ``data/reference_frequencies_1000g.tsv`` is made
    from the 1000 Genomes VCF. NaN where a SNP was not read."""
    groups = np.asarray(groups, dtype=str)
    if groups.shape != (data.n_samples,):
        raise GenofaceError(f"groups has {groups.size} labels for {data.n_samples} people; give one each")
    panel = webtool_panel(folder)
    x = panel_counts(
        data.genotypes,
        data.variants,
        panel["id"].to_numpy(dtype=str),
        panel["counted"].to_numpy(dtype=str),
        panel["other"].to_numpy(dtype=str),
    )
    out = pd.DataFrame({"id": panel["id"], "counted": panel["counted"]})
    for g in [*sorted(set(groups)), "ALL"]:
        rows = x if g == "ALL" else x[groups == g]
        called = (~np.isnan(rows)).sum(axis=0)
        with np.errstate(invalid="ignore", divide="ignore"):
            out[g] = np.where(called > 0, np.nansum(rows, axis=0) / (2.0 * called), np.nan)
    return out


# ---- predicting ---------------------------------------------------------------------------------


@dataclass
class PublishedPrediction:
    """A published model's predictions for ``n`` people.

    probabilities : (n, C) over ``model.categories``, NaN where withheld. complete : (n,) every
    model SNP typed. method : (n,) "exact" (the published formula on complete data),
    "marginalized" (missing SNPs averaged over at ``population``'s frequencies) or "withheld".
    missing : per person, the model SNPs not typed.
    """

    model: PublishedModel
    sample_ids: np.ndarray
    probabilities: np.ndarray
    complete: np.ndarray
    method: np.ndarray
    missing: list[list[str]]
    population: str | None = None
    notes: list[str] = field(default_factory=list)

    def record(self, i: int) -> dict[str, Any]:
        """Person ``i`` as a JSON-able dict (``genoface traits --json``)."""
        p = self.probabilities[i]
        out: dict[str, Any] = {
            "probabilities": None
            if np.isnan(p).any()
            else dict(zip(self.model.categories, map(float, p), strict=True)),
            "model": self.model.title,
            "citation": list(self.model.citations),
            "complete": bool(self.complete[i]),
            "method": str(self.method[i]),
            "missing_snps": list(self.missing[i]),
            "panel_snps_typed": len(self.model.snps) - len(self.missing[i]),
        }
        if self.method[i] == "marginalized":
            out["missing_snp_frequencies"] = f"1000 Genomes phase 3 {self.population}"
        if self.method[i] == "withheld":
            out["reason"] = (
                f"{len(self.missing[i])} of the model's {len(self.model.snps)} SNPs missing; the webtool would "
                "switch to an unpublished reduced model"
                + ("" if self.population is None else f"; more than {MAX_MARGINALIZED} to average over")
            )
        return out

    def summary(self) -> str:
        """One line: how many people got the exact, marginalized or no prediction."""
        n = len(self.sample_ids)
        if n and all(len(m) == len(self.model.snps) for m in self.missing):
            return f"{self.model.name}: none of its {len(self.model.snps)} SNPs in the genotypes (matched by rsID)"
        parts = [f"{(self.method == m).sum():,} {m}" for m in ("exact", "marginalized", "withheld")]
        text = f"{self.model.name}: {n:,} people, " + ", ".join(p for p in parts if not p.startswith("0 "))
        lost = pd.Series([s for m in self.missing for s in m]).value_counts()
        if len(lost):
            text += "; missing " + ", ".join(f"{s} ({c:,})" for s, c in lost.head(5).items())
            text += ", ..." if len(lost) > 5 else ""
        if self.population is None and (self.method == "withheld").any():
            text += " (--missing-snps EUR, or another population, averages over missing SNPs)"
        return text


def predict_published(
    model: PublishedModel,
    data: GenotypeData,
    *,
    missing: str = "withhold",
    population: str = "EUR",
    counts: np.ndarray | None = None,
) -> PublishedPrediction:
    """Apply ``model`` to everyone in ``data``.

    A person with every model SNP typed gets the published formula exactly. A person missing
    some gets, by ``missing``: "withhold" (default), no probabilities; "marginalize", the
    probabilities averaged over the missing SNPs' genotypes in Hardy-Weinberg proportions at the
    counted allele's frequency in 1000 Genomes ``population`` (SNPs taken as independent), up to
    :data:`MAX_MARGINALIZED` missing SNPs. ``counts``: the (n, k) counts if already read.
    """
    if missing not in MISSING_RULES:
        raise GenofaceError(f"missing must be one of {', '.join(MISSING_RULES)}, got {missing!r}")
    x = model.counts(data) if counts is None else np.asarray(counts, dtype=np.float64)
    n, k = x.shape
    absent = np.isnan(x)
    complete = ~absent.any(axis=1)
    probs = np.full((n, len(model.categories)), np.nan)
    method = np.full(n, "withheld", dtype=object)
    if complete.any():
        probs[complete] = model.predict_proba(x[complete])
        method[complete] = "exact"
    freq = None
    if missing == "marginalize" and not complete.all():
        freq = reference_frequencies(population).reindex(list(model.snps)).to_numpy()
        patterns, inverse = np.unique(absent[~complete], axis=0, return_inverse=True)
        rows = np.flatnonzero(~complete)
        for p_i, pattern in enumerate(patterns):
            if pattern.sum() > MAX_MARGINALIZED:
                continue
            who = rows[inverse.reshape(-1) == p_i]
            probs[who] = _marginalize(model, x[who], pattern, freq)
            method[who] = "marginalized"
    snps = np.array(model.snps)
    return PublishedPrediction(
        model=model,
        sample_ids=np.asarray(data.sample_ids, dtype=str),
        probabilities=probs,
        complete=complete,
        method=method.astype(str),
        missing=[snps[a].tolist() for a in absent],
        population=population if missing == "marginalize" else None,
    )


def _marginalize(model: PublishedModel, x: np.ndarray, pattern: np.ndarray, freq: np.ndarray) -> np.ndarray:
    """(n, C) probabilities averaged over every genotype combination of the SNPs in ``pattern``
    (Hardy-Weinberg at ``freq``, independent SNPs), the other SNPs as typed in ``x``."""
    miss = np.flatnonzero(pattern)
    f = freq[miss]
    combos = np.array(list(itertools.product((0.0, 1.0, 2.0), repeat=len(miss)))).reshape(-1, len(miss))
    hwe = np.stack([(1 - f) ** 2, 2 * f * (1 - f), f**2], axis=1)  # (m, 3)
    weight = np.prod(hwe[np.arange(len(miss))[None, :], combos.astype(int)], axis=1) if len(miss) else np.ones(1)
    base = model.intercept[None, :] + np.where(np.isnan(x), 0.0, x) @ model.coef.T  # typed SNPs only
    shift = combos @ model.coef[:, miss].T  # (3^m, C)
    out = np.empty((len(x), len(model.categories)))
    step = max(1, 2_000_000 // (len(combos) * len(model.categories)))  # bounds the (people, combos, C) block
    for r0 in range(0, len(x), step):
        p = softmax(base[r0 : r0 + step, None, :] + shift[None, :, :], axis=2)
        out[r0 : r0 + step] = np.einsum("c,icj->ij", weight, p)
    return out


def published_model(name: str | os.PathLike, folder: str | os.PathLike | None = None) -> PublishedModel:
    """A published model by name (``eye_colour_hirisplex_s``, ..., or ``walsh2011`` for the
    2011 IrisPlex table; tables from ``folder``), or an IrisPlex-form table file."""
    if str(name) in _WEBTOOL:
        return _webtool_model(str(name), folder)
    if str(name) in (IRISPLEX_2011, "eye_colour_irisplex_2011"):
        return irisplex_2011_model(folder=folder)
    if Path(name).is_file():
        return irisplex_2011_model(name, folder)
    raise GenofaceError(
        f"unknown published model {str(name)!r}; use one of {', '.join([*_WEBTOOL, IRISPLEX_2011])} or a table file"
    )
