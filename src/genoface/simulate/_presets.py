"""Simulation presets: who is simulated, and how facial shape variance is divided.

Every preset states the share of total facial shape variance (the trace of the vertex
coordinate covariance, mm²) that each source contributes. The simulator scales each
component to its share, so ``fractions`` is a contract that the tests check against the faces
it produces. What is not assigned to a named source is non-genetic individual variation and the
heritable variation of the genome that is not simulated (``residual``).

The ``realistic``, ``han`` and ``mixed`` presets are calibrated to published studies
(``bench/calibrate_presets.py`` measures them against ``data/published_operating_points.tsv``;
docs/simulation.md says why each number is what it is):
- sex explains about 13% of facial shape variance, and continental ancestry about 10% in an
  admixed sample (Claes et al. 2014, PLoS Genet 10:e1004224);
- in adults the nose lengthens about 1.3 mm per decade (e.g. Sforza et al. 2010; Farkas);
- the simulated SNPs carry 200 known loci of small effect and a polygenic background, 1.3% of
  shape variance in all: a few simulated Mb given a whole genome's SNP heritability would be far
  more learnable than a real genome (Daetwyler et al. 2008), so the rest of the genome's heritable
  variation is drawn with the residual;
- the residual's spread along the face's age and BMI directions is set so that Sero et al.'s
  classifiers read age and BMI from a face as well as they did (AUC 0.671 and 0.661).
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields, replace
from numbers import Integral

from genoface.core.errors import GenofaceError
from genoface.simulate._genomes import GenomeLayout

#: Sources of facial shape variance, in the order reported everywhere.
COMPONENTS: tuple[str, ...] = ("ancestry", "sex", "age", "bmi", "genetic", "residual")


@dataclass(frozen=True)
class GeneticArchitecture:
    """How SNPs shape the face.

    n_regional_loci : loci with localized effects, each on one facial region (like PAX3 on the
        nasion, DCHS2 on nose shape, SOX9 on the chin, TBX15 on the cheeks): the "known loci".
    n_background_snps : polygenic background, effects spread over the whole shape space.
    regional_share : share of the genetic variance carried by the regional loci.
    effect_shape : gamma shape of per-locus effect variances (small = a few loci dominate).
    min_maf : causal SNPs are drawn among variants with at least this pooled MAF.
    max_locus_share : the largest share of any shape component's variance that one causal SNP
        may explain (published facial loci explain a few percent of a trait at most); 1 for no cap.
    """

    n_regional_loci: int = 300
    n_background_snps: int = 10_000
    regional_share: float = 0.4
    effect_shape: float = 1.0
    min_maf: float = 0.05
    max_locus_share: float = 1.0

    def __post_init__(self) -> None:
        for key in ("n_regional_loci", "n_background_snps"):
            value = getattr(self, key)
            if not isinstance(value, Integral) or isinstance(value, bool) or value < 0:
                raise GenofaceError(f"{key} must be a whole number >= 0, got {value!r}")
        checks = {
            "regional_share": 0.0 <= self.regional_share <= 1.0,
            "effect_shape": self.effect_shape > 0,
            "min_maf": 0.0 <= self.min_maf <= 0.5,
            "max_locus_share": 0.0 < self.max_locus_share <= 1.0,
        }
        for key, ok in checks.items():
            if not ok:
                raise GenofaceError(f"{key} = {getattr(self, key)!r} is out of range (see GeneticArchitecture)")


@dataclass(frozen=True)
class Preset:
    """A named simulation scenario. ``fractions`` maps each of :data:`COMPONENTS` except
    ``residual`` to its share of total shape variance; the residual takes the rest."""

    name: str
    description: str
    populations: dict[str, int]
    layout: GenomeLayout
    fractions: dict[str, float]
    architecture: GeneticArchitecture = field(default_factory=GeneticArchitecture)
    age_range: tuple[float, float] = (18.0, 80.0)
    male_fraction: float = 0.5
    #: SD (mm) of independent noise on every vertex coordinate, as scanning and dense
    #: registration leave (part of the residual share).
    measurement_sd_mm: float = 0.3
    #: Non-genetic individual variation along the age and BMI directions of the face (part of
    #: the residual share): how far a face's apparent age (years) and facial fat (kg/m²) stray
    #: from what age and BMI predict. They set how much a face tells of its owner's age and BMI.
    apparent_age_sd_years: float = 5.0
    facial_fat_sd_bmi: float = 1.5

    def __post_init__(self) -> None:
        for key in ("measurement_sd_mm", "apparent_age_sd_years", "facial_fat_sd_bmi"):
            if not getattr(self, key) >= 0:
                raise GenofaceError(f"preset {self.name!r}: {key} must be >= 0, got {getattr(self, key)!r}")
        unknown = set(self.fractions) - set(COMPONENTS[:-1])
        if unknown:
            raise GenofaceError(f"preset {self.name!r}: unknown variance components {sorted(unknown)}")
        for name, value in self.fractions.items():
            if not 0.0 <= value <= 1.0:
                raise GenofaceError(
                    f"preset {self.name!r}: the {name} share of shape variance must be in [0, 1], got {value}"
                )
        total = sum(self.fractions.values())
        if total > 1.0 + 1e-9:
            raise GenofaceError(
                f"preset {self.name!r}: variance shares must sum to <= 1 (the residual takes the rest), got {total:.3f}"
            )

    @property
    def n(self) -> int:
        return sum(self.populations.values())

    def variance_fractions(self) -> dict[str, float]:
        """Share of total shape variance of every component, residual included (sums to 1)."""
        out = {c: float(self.fractions.get(c, 0.0)) for c in COMPONENTS[:-1]}
        if len(self.populations) == 1:
            out["ancestry"] = 0.0  # one population: no between-population variance
        out["residual"] = 1.0 - sum(out.values())
        return out

    def customized(
        self,
        *,
        n: int | None = None,
        populations: str | None = None,
        contigs: int | None = None,
        contig_length: int | None = None,
        x_length: int | None = None,
        maf: float | None = None,
        demographic_model: str | None = None,
        snp_heritability: float | None = None,
        **architecture: float | int | None,
    ) -> Preset:
        """The preset with command-line overrides applied (None keeps the preset's value).

        ``populations`` is a comma-separated list of the demographic model's populations,
        optionally with counts: "CEU", "YRI,CEU,CHB" or "CEU=300,CHB=200". Without counts the
        people are split evenly. ``snp_heritability`` is the genetic share of total shape
        variance; ``architecture`` overrides fields of :class:`GeneticArchitecture`
        (``n_regional_loci=50``, ``max_locus_share=0.05``, ...).
        """
        p = self
        if snp_heritability is not None:
            p = replace(p, fractions={**p.fractions, "genetic": float(snp_heritability)})
        changes = {k: v for k, v in architecture.items() if v is not None}
        unknown = sorted(set(changes) - {f.name for f in fields(GeneticArchitecture)})
        if unknown:
            raise GenofaceError(f"unknown genetic architecture settings {unknown}")
        if changes:
            p = replace(p, architecture=replace(p.architecture, **changes))
        if populations is not None:
            p = replace(p, populations=_parse_populations(populations, n or p.n))
        layout = p.layout
        if contigs is not None or contig_length is not None:
            k = contigs if contigs is not None else len(layout.contig_lengths)
            length = contig_length if contig_length is not None else layout.contig_lengths[0]
            if k < 1 or length < 10_000:
                raise GenofaceError(f"need at least 1 contig of at least 10,000 bp, got {k} x {length}")
            layout = replace(layout, contig_lengths=(int(length),) * int(k))
        if x_length is not None:
            layout = replace(layout, x_length=int(x_length))
        if maf is not None:
            layout = replace(layout, maf=float(maf))
        if demographic_model is not None:
            layout = replace(layout, demographic_model=demographic_model)
        p = replace(p, layout=layout)
        if n is not None and n != p.n:
            p = p.with_size(n)
        return p

    def with_size(self, n: int) -> Preset:
        """The same preset with ``n`` people, split across populations in the same proportions."""
        if n < 10:
            raise GenofaceError(f"--n must be at least 10, got {n}")
        pops = list(self.populations)
        total = self.n
        counts = [int(round(n * self.populations[p] / total)) for p in pops]
        counts[-1] = n - sum(counts[:-1])
        if min(counts) < 1:
            raise GenofaceError(f"--n {n} is too small to give every population of preset {self.name!r} a person")
        return replace(self, populations=dict(zip(pops, counts, strict=True)))


#: The calibrated presets' shares of shape variance, genetic architecture and residual spread
#: along the age and BMI directions (see the module docstring):
#: - 200 known loci of small effect, none explaining more than 5% of a shape component (the
#:   largest published share is a few percent), and 5,000 common background SNPs carrying the
#:   sliver of the polygenic background that a few simulated Mb hold of a 2,900 Mb genome;
#: - apparent age and facial fat calibrated to Sero et al.'s single-classifier AUCs (age 0.671,
#:   BMI 0.661 in a European gallery of 295).
_CALIBRATED = {
    "fractions": {"ancestry": 0.10, "sex": 0.13, "age": 0.08, "bmi": 0.06, "genetic": 0.013},
    "architecture": GeneticArchitecture(
        n_regional_loci=200,
        n_background_snps=5_000,
        regional_share=0.95,
        effect_shape=2.0,
        min_maf=0.05,
        max_locus_share=0.05,
    ),
    "apparent_age_sd_years": 22.0,
    "facial_fat_sd_bmi": 6.0,
}
#: The first wave's architecture, kept for testing methods: few loci of large effect that a GWAS
#: of a few thousand people finds, SNP heritability 0.25. Not a picture of real faces.
_STRONG = {
    "fractions": {**_CALIBRATED["fractions"], "genetic": 0.25},
    "architecture": GeneticArchitecture(
        n_regional_loci=300, n_background_snps=10_000, regional_share=0.4, effect_shape=1.0
    ),
}
#: The small default genome and the three continental populations of the realistic preset.
_SMALL_GENOME = GenomeLayout(contig_lengths=(2_000_000,) * 4, x_length=1_000_000, maf=0.01)
_THREE_CONTINENTS = {"YRI": 200, "CEU": 200, "CHB": 200}

PRESETS: dict[str, Preset] = {
    p.name: p
    for p in (
        Preset(
            name="realistic",
            description=(
                "Calibrated to published studies: sex 13% and ancestry 10% of shape variance, age and "
                "BMI a further 14%; 200 known loci of small effect (none over 5% of a shape component) "
                "and 5,000 background SNPs carry 1.3%; faces tell age, BMI and SNPs as Sero et al. "
                "measured; three continental populations (YRI, CEU, CHB; stdpopsim OutOfAfrica_3G09). "
                "Small by default so that it runs in seconds."
            ),
            populations=_THREE_CONTINENTS,
            layout=_SMALL_GENOME,
            **_CALIBRATED,
        ),
        Preset(
            name="han",
            description=(
                "One East Asian population of 9,674 people, as in Difface (Jiao et al. 2025); the "
                "realistic calibration without between-population variance; adults 18-70."
            ),
            populations={"CHB": 9674},
            layout=GenomeLayout(contig_lengths=(5_000_000,) * 8, x_length=2_000_000, maf=0.01),
            **_CALIBRATED,
            age_range=(18.0, 70.0),
        ),
        Preset(
            name="mixed",
            description=(
                "Three continental populations, 1,061 people, as in Lippert et al. 2017 (an ethnically "
                "mixed cohort, mostly African and European); the realistic calibration."
            ),
            populations={"YRI": 480, "CEU": 420, "CHB": 161},
            layout=GenomeLayout(contig_lengths=(3_000_000,) * 6, x_length=1_000_000, maf=0.01),
            **_CALIBRATED,
        ),
        Preset(
            name="strong-loci",
            description=(
                "For testing methods, not a picture of real faces: the first wave's architecture, 300 "
                "regional loci of large effect (a few explain much of a shape component) and 10,000 "
                "background SNPs, SNP heritability 0.25; the realistic preset's populations and shares."
            ),
            populations=_THREE_CONTINENTS,
            layout=_SMALL_GENOME,
            **_STRONG,
        ),
        Preset(
            name="oligogenic",
            description=(
                "A learnable signal for testing models: 20 strong regional loci carry half of the "
                "shape variance in one population (CEU), with no polygenic background."
            ),
            populations={"CEU": 2000},
            layout=_SMALL_GENOME,
            fractions={"sex": 0.10, "age": 0.08, "bmi": 0.05, "genetic": 0.50},
            architecture=GeneticArchitecture(
                n_regional_loci=20, n_background_snps=0, regional_share=1.0, effect_shape=4.0, min_maf=0.1
            ),
        ),
    )
}

DEFAULT_PRESET = "realistic"


def _parse_populations(text: str, n: int) -> dict[str, int]:
    items = [t.strip() for t in text.split(",") if t.strip()]
    if not items:
        raise GenofaceError("--populations is empty; give e.g. CEU or YRI,CEU,CHB or CEU=300,CHB=200")
    if all("=" in t for t in items):
        out = {}
        for t in items:
            name, _, count = t.partition("=")
            try:
                out[name.strip()] = int(count)
            except ValueError:
                raise GenofaceError(f"--populations: {t!r} is not NAME=COUNT") from None
        return out
    if any("=" in t for t in items):
        raise GenofaceError("--populations: give counts for every population or for none")
    base, extra = divmod(n, len(items))
    return {name: base + (i < extra) for i, name in enumerate(items)}


def get_preset(name: str) -> Preset:
    """The preset called ``name``; a clear error lists the choices."""
    try:
        return PRESETS[name]
    except KeyError:
        raise GenofaceError(f"unknown preset {name!r}; choose one of: {', '.join(PRESETS)}") from None
