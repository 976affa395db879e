"""The pigmentation SNP panels (IrisPlex, HIrisPlex-S) and reading a panel's allele counts out of
a genotype table, whatever strand or allele orientation the table uses.

Sources of the panels:
- IrisPlex, eye colour, 6 SNPs: Walsh S, Liu F, Ballantyne KN, van Oven M, Lao O, Kayser M.
  "IrisPlex: a sensitive DNA tool for accurate prediction of blue and brown eye colour in the
  absence of ancestry information." Forensic Sci Int Genet 5(3):170-180 (2011),
  doi:10.1016/j.fsigen.2010.02.004. The model form (multinomial logistic regression on allele
  counts, brown the reference) follows Liu F et al., Curr Biol 19(5):R192-R193 (2009).
- HIrisPlex (24 SNPs, eye + hair): Walsh S et al., Forensic Sci Int Genet 7(1):98-115 (2013).
- HIrisPlex-S (41 SNPs, + skin): Chaitanya L et al., Forensic Sci Int Genet 35:123-135 (2018).

These panels are what trained models (fitted on a cohort with the labels) read. The published
coefficients of the HIrisPlex-S webtool and of the original IrisPlex model ship separately,
with their provenance, in :mod:`genoface.traits._webtool`; a coefficient file the user
transcribes is read by :func:`load_irisplex_coefficients`.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pandas as pd

from genoface.core.errors import GenofaceError
from genoface.genetics import match_variants

EYE_COLOURS = ("blue", "intermediate", "brown")
HAIR_COLOURS = ("blond", "brown", "red", "black")
SKIN_COLOURS = ("very pale", "pale", "intermediate", "dark", "dark to black")

IRISPLEX_SNPS = ("rs12913832", "rs1800407", "rs12896399", "rs16891982", "rs1393350", "rs12203592")
HIRISPLEX_S_SNPS = (
    # HIrisPlex (eye and hair): MC1R first, then the other pigmentation genes
    "rs312262906", "rs11547464", "rs885479", "rs1805008", "rs1805005", "rs1805006", "rs1805007",
    "rs1805009", "rs201326893", "rs2228479", "rs1110400", "rs28777", "rs16891982", "rs12821256",
    "rs4959270", "rs12203592", "rs1042602", "rs1800407", "rs2402130", "rs12913832", "rs2378249",
    "rs12896399", "rs1393350", "rs683",
    # added by HIrisPlex-S (skin)
    "rs3114908", "rs1800414", "rs10756819", "rs2238289", "rs17128291", "rs6497292", "rs1129038",
    "rs1667394", "rs1126809", "rs1470608", "rs1426654", "rs6119471", "rs1545397", "rs6059655",
    "rs12441727", "rs3212355", "rs8051733",
)  # fmt: skip


def panel_counts(
    genotypes: np.ndarray, variants: pd.DataFrame, ids: np.ndarray, counted: np.ndarray, other: np.ndarray
) -> np.ndarray:
    """(n, k) float copies of each panel SNP's ``counted`` allele, NaN where the SNP is absent,
    the call missing, or the alleles fit neither strand.

    A SNP is found by id and its alleles matched to the table's REF/ALT by the allele matcher
    (:func:`genoface.genetics._alleles.match_variants`, forward strand): the ALT dosage when the
    counted allele is ALT, 2 - dosage when it is REF, the same after complementing both alleles
    (a table on the other strand); where ``other`` is "" only the counted allele is compared.
    Strand-ambiguous SNPs (A/T, C/G) are read as written: genotype tables are forward-strand.
    """
    ids = np.asarray(ids, dtype=str)
    panel = pd.DataFrame({"id": ids, "ref": np.asarray(other, dtype=str), "alt": np.asarray(counted, dtype=str)})
    match = match_variants(panel, variants, strand="forward")
    out = np.full((genotypes.shape[0], len(ids)), np.nan)
    if len(match.cols):
        g = np.asarray(genotypes[:, match.cols], dtype=np.float64)
        g = np.where(g < 0, np.nan, g)
        out[:, match.rows] = np.where(match.flip, 2.0 - g, g)
    return out


def load_irisplex_coefficients(path: str | os.PathLike) -> dict:
    """Read an IrisPlex coefficient file (JSON) the user transcribed from the paper::

        {"source": "Walsh et al. 2011, Table ...",
         "reference": "brown",
         "intercepts": {"blue": ..., "intermediate": ...},
         "snps": [{"id": "rs12913832", "counted": "G", "other": "A",
                   "blue": ..., "intermediate": ...}, ...]}

    Every one of the six IrisPlex SNPs must be listed, each with its counted allele.
    """
    path = Path(path)
    try:
        spec = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise GenofaceError(f"{path}: not a readable JSON coefficient file ({exc})") from None
    for key in ("reference", "intercepts", "snps"):
        if key not in spec:
            raise GenofaceError(f"{path}: no {key!r} entry; see genoface.traits.load_irisplex_coefficients")
    others = [c for c in EYE_COLOURS if c != spec["reference"]]
    ids = [str(s.get("id")) for s in spec["snps"]]
    if sorted(ids) != sorted(IRISPLEX_SNPS):
        raise GenofaceError(f"{path}: the snps must be exactly the six IrisPlex SNPs {', '.join(IRISPLEX_SNPS)}")
    for s in spec["snps"]:
        missing = [k for k in ("counted", *others) if k not in s]
        if missing:
            raise GenofaceError(f"{path}: SNP {s['id']} lacks {', '.join(missing)}")
    return spec


def irisplex_from_spec(spec: dict):
    """The IrisPlex model of a coefficient spec (:func:`load_irisplex_coefficients`) as a
    :class:`~genoface.traits.CategoricalTrait` over the spec's SNPs, with the panel (ids,
    counted alleles, other alleles) that :func:`panel_counts` reads."""
    from genoface.traits._classifiers import CategoricalTrait

    others = [c for c in EYE_COLOURS if c != spec["reference"]]
    snps = spec["snps"]
    model = CategoricalTrait.from_coefficients(
        EYE_COLOURS,
        spec["reference"],
        {c: float(spec["intercepts"][c]) for c in others},
        {c: [float(s[c]) for s in snps] for c in others},
    )
    panel = (
        np.array([s["id"] for s in snps], dtype=str),
        np.array([s["counted"] for s in snps], dtype=str),
        np.array([s.get("other", "") for s in snps], dtype=str),
    )
    return model, panel
