"""Simulated genomes: checked against population-genetic theory and against the slow, obvious
decoder (``ts.genotype_matrix()`` filtered afterwards)."""

from __future__ import annotations

import json

import msprime
import numpy as np
import pandas as pd
import pytest
import stdpopsim

from genoface.core.errors import GenofaceError
from genoface.simulate import GenomeLayout, SimulatedGenomes, _genomes, simulate_genomes

OOA = "OutOfAfrica_3G09"
THREE = ("YRI", "CEU", "CHB")


def _males(n: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).random(n) < 0.5


@pytest.fixture(scope="module")
def unfiltered() -> tuple[SimulatedGenomes, np.ndarray]:
    """No MAF filter, so that diversity and Fst can be compared with coalescent expectations;
    20 Mb of autosome give 20 nearly independent 1 Mb blocks for the jackknife."""
    is_male = _males(60, seed=1)
    layout = GenomeLayout(contig_lengths=(4_000_000,) * 5, x_length=5_000_000, maf=0.0, demographic_model=OOA)
    return simulate_genomes({p: 20 for p in THREE}, is_male, layout, seed=11), is_male


@pytest.fixture(scope="module")
def small() -> tuple[SimulatedGenomes, np.ndarray]:
    """The default layout (MAF 0.01), three populations of 30."""
    is_male = _males(90, seed=2)
    return simulate_genomes({p: 30 for p in THREE}, is_male, GenomeLayout(), seed=5), is_male


# --------------------------------------------------------------------------------------------
# Theory


def _mean_coalescence_time(debugger: msprime.DemographyDebugger, lineages: dict[str, int]) -> float:
    """E[T] for two lineages, integrating P(not yet coalesced) over a fixed grid (fine through
    the growth epochs, geometric beyond) plus an exponential tail at the last rate. Agrees with
    msprime's adaptive ``mean_coalescence_time`` to 0.1% on OutOfAfrica_3G09, where that one
    needs max_iter=20 to converge and takes ~15 s per call."""
    steps = np.unique(np.concatenate([np.linspace(0, 6_000, 1_000), np.geomspace(6_000, 2e5, 200)]))
    rates, p_alive = debugger.coalescence_rate_trajectory(steps=steps, lineages=lineages, double_step_validation=False)
    area = ((p_alive[1:] + p_alive[:-1]) / 2 * np.diff(steps)).sum()  # trapezoid rule
    return float(area + p_alive[-1] / rates[-1])


def _model_fst(demography: msprime.Demography, p: str, q: str) -> float:
    """Hudson's Fst implied by the model: 1 - mean within-population T / between-population T."""
    dd = demography.debug()
    t_p, t_q = (_mean_coalescence_time(dd, {x: 2}) for x in (p, q))
    return 1 - (t_p + t_q) / 2 / _mean_coalescence_time(dd, {p: 1, q: 1})


def _hudson_terms(g: SimulatedGenomes, cols: np.ndarray, p: str, q: str) -> tuple[np.ndarray, np.ndarray]:
    """Per-site within (unbiased) and between-population heterozygosity on autosomal ``cols``."""
    terms = []
    for pop in (p, q):
        dosage = g.genotypes[g.population == pop][:, cols].astype(np.int64)
        n = 2 * dosage.shape[0]
        terms.append((dosage.sum(axis=0) / n, n))
    (f1, n1), (f2, n2) = terms
    within = f1 * (1 - f1) * n1 / (n1 - 1) + f2 * (1 - f2) * n2 / (n2 - 1)
    between = f1 * (1 - f2) + f2 * (1 - f1)
    return within, between


def _fst_with_jackknife(within: np.ndarray, between: np.ndarray, block: np.ndarray) -> tuple[float, float]:
    """Hudson's Fst (ratio of sums) and its delete-one-block jackknife standard error."""
    fst = 1 - within.sum() / between.sum()
    blocks = np.unique(block)
    w = np.array([within[block == b].sum() for b in blocks])
    h = np.array([between[block == b].sum() for b in blocks])
    loo = 1 - (w.sum() - w) / (h.sum() - h)
    k = len(blocks)
    return float(fst), float(np.sqrt((k - 1) / k * ((loo - loo.mean()) ** 2).sum()))


def test_fst_matches_demographic_model(unfiltered):
    g, _ = unfiltered
    model = stdpopsim.get_species("HomSap").get_demographic_model(OOA)
    auto = np.flatnonzero(g.variants["chrom"].to_numpy() != "X")
    v = g.variants.iloc[auto]
    block = v["chrom"].astype(int).to_numpy() * 100 + v["pos"].to_numpy() // 1_000_000  # 1 Mb blocks
    observed = {}
    for p, q in [("CEU", "CHB"), ("YRI", "CEU")]:
        expected = _model_fst(model.model, p, q)
        fst, se = _fst_with_jackknife(*_hudson_terms(g, auto, p, q), block)
        observed[p, q] = fst
        # Genealogical noise dominates (the sample size barely matters): over 10 seeds this
        # layout gives SD ~0.007, matched by the jackknife SE. 4 SE, plus 0.003 for the
        # discretised expectation and the dropped multi-hit sites, fails by chance < 1e-4.
        assert se < 0.015, f"{p}-{q}: jackknife SE {se:.4f} too large for a useful test"
        assert abs(fst - expected) < 4 * se + 0.003, f"{p}-{q}: Fst {fst:.4f} vs model {expected:.4f} (SE {se:.4f})"
    assert observed["YRI", "CEU"] > observed["CEU", "CHB"]
    assert _model_fst(model.model, "YRI", "CEU") > _model_fst(model.model, "CEU", "CHB")


def test_fst_ordering_survives_maf_filter(small):
    g, _ = small
    auto = np.flatnonzero(g.variants["chrom"].to_numpy() != "X")

    def fst(p, q):
        within, between = _hudson_terms(g, auto, p, q)
        return 1 - within.sum() / between.sum()

    assert fst("YRI", "CEU") > fst("CEU", "CHB") > 0.02


def _pooled_alt_frequency(g: SimulatedGenomes, is_male: np.ndarray, rows: np.ndarray | None = None) -> np.ndarray:
    """ALT frequency over allele copies: autosomes 2 per person, X 2 per woman and 1 per man."""
    rows = np.ones(len(is_male), bool) if rows is None else rows
    x = g.variants["chrom"].to_numpy() == "X"
    dosage = g.genotypes[rows].astype(np.int64)
    male = is_male[rows]
    count = np.where(x, dosage[~male].sum(0) + dosage[male].sum(0) // 2, dosage.sum(0))
    copies = np.where(x, 2 * (~male).sum() + male.sum(), 2 * len(male))
    return count / copies


def test_x_hemizygous_males_and_heterozygous_females(unfiltered):
    g, is_male = unfiltered
    x = g.variants["chrom"].to_numpy() == "X"
    assert x.sum() > 1000
    assert set(np.unique(g.genotypes[is_male][:, x])) <= {0, 2}
    assert (g.genotypes[~is_male][:, x] == 1).any(axis=0).mean() > 0.3
    assert (g.genotypes[is_male][:, ~x] == 1).any(), "autosomes of men must be diploid"


def test_x_diversity_is_about_three_quarters_of_autosomal(unfiltered):
    g, is_male = unfiltered
    x = g.variants["chrom"].to_numpy() == "X"
    x_bp, auto_bp = 5_000_000, 5 * 4_000_000
    pi = {True: [], False: []}
    for pop in THREE:
        rows = g.population == pop
        f = _pooled_alt_frequency(g, is_male, rows)
        copies = np.where(x, 2 * (~is_male[rows]).sum() + is_male[rows].sum(), 2 * rows.sum())
        het = 2 * f * (1 - f) * copies / (copies - 1)
        pi[True].append(het[x].sum() / x_bp)
        pi[False].append(het[~x].sum() / auto_bp)
    ratio = np.mean(pi[True]) / np.mean(pi[False])
    # Expected: the ratio of mean within-population coalescence times of the 3/4-size X model
    # and the autosomal one (~0.75; not exactly 3/4 because migration is not rescaled).
    model = stdpopsim.get_species("HomSap").get_demographic_model(OOA)
    dd_a, dd_x = model.model.debug(), _genomes._x_demography(model.model).debug()
    expected = sum(_mean_coalescence_time(dd_x, {p: 2}) for p in THREE) / sum(
        _mean_coalescence_time(dd_a, {p: 2}) for p in THREE
    )
    assert 0.7 < expected < 0.8
    # One 5 Mb X recombining at 2/3 the rate is noisy: SD 0.05 over 10 seeds; allow 4 SD.
    assert abs(ratio - expected) < 0.2, f"X/autosome diversity {ratio:.3f}, model {expected:.3f}"
    assert ratio < 0.95


def test_x_demography_scales_every_size_only():
    model = stdpopsim.get_species("HomSap").get_demographic_model(OOA)
    before = [p.initial_size for p in model.model.populations]
    x = _genomes._x_demography(model.model)
    assert [p.initial_size for p in x.populations] == pytest.approx([0.75 * s for s in before])
    assert [p.initial_size for p in model.model.populations] == before, "the model must not be modified"
    assert [p.growth_rate for p in x.populations] == [p.growth_rate for p in model.model.populations]
    np.testing.assert_array_equal(x.migration_matrix, model.model.migration_matrix)
    sizes = [(e.time, e.initial_size) for e in model.model.events if isinstance(e, msprime.PopulationParametersChange)]
    x_sizes = [(e.time, e.initial_size) for e in x.events if isinstance(e, msprime.PopulationParametersChange)]
    assert [t for t, _ in x_sizes] == [t for t, _ in sizes]
    assert [s for _, s in x_sizes] == pytest.approx([0.75 * s for _, s in sizes])


def test_x_is_simulated_as_documented():
    """X recombines at 2/3 of the autosomal rate on the diploid time scale; each woman has two
    X columns of her own and each man one, shared by both of his dosage slots."""
    species = stdpopsim.get_species("HomSap")
    model = species.get_demographic_model(OOA)
    is_male = np.array([True, False, False, True, True])
    ts, a, b = _genomes._simulate_x(model, species, 10_000, {"CEU": 3, "YRI": 2}, is_male, 1, 2)
    params = json.loads(ts.provenance(0).record)["parameters"]
    autosomal = species.get_contig(length=10_000, mutation_rate=model.mutation_rate).recombination_map.mean_rate
    assert params["recombination_rate"] == pytest.approx(autosomal * 2 / 3)
    assert params["ploidy"] == 2
    assert ts.num_samples == 2 * 2 + 3
    assert np.array_equal(a == b, is_male)
    assert sorted(np.concatenate([a, b[~is_male]])) == list(range(ts.num_samples))
    pops = ts.nodes_population[ts.samples()]
    names = {p.id: p.metadata["name"] for p in ts.populations()}
    assert [names[pops[c]] for c in a] == ["CEU"] * 3 + ["YRI"] * 2


# --------------------------------------------------------------------------------------------
# The fast path against the slow path


def _slow_contig(
    ts, populations: dict[str, int], is_male: np.ndarray | None, maf: float
) -> tuple[np.ndarray, pd.DataFrame]:
    """Decode everything, then filter: the obvious path the fast one must equal.
    ``is_male`` None means a diploid autosome; else X with haploid samples handed out in order."""
    hap = ts.genotype_matrix()  # (sites, sample nodes); samples are nodes 0..N-1
    assert np.array_equal(ts.samples(), np.arange(ts.num_samples))
    people: list[list[int]] = []
    for name in populations:
        pop = next(p.id for p in ts.populations() if p.metadata["name"] == name)
        if is_male is None:
            inds = [ind for ind in ts.individuals() if ind.population == pop]
            people += [list(ind.nodes) for ind in inds]
        else:
            nodes = list(ts.samples(population=pop))
            start = len(people)
            for male in is_male[start : start + populations[name]]:
                people.append([nodes.pop(0)] if male else [nodes.pop(0), nodes.pop(0)])
    keep, rows = [], []
    for site in ts.sites():
        count = hap[site.id].sum()
        if len(site.mutations) == 1 and min(count, ts.num_samples - count) / ts.num_samples >= maf:
            keep.append(site.id)
            rows.append((int(site.position) + 1, site.ancestral_state, site.mutations[0].derived_state))
    dosage = np.array([[hap[keep][:, nodes].sum(1) * (2 // len(nodes))] for nodes in people])[:, 0, :]
    return dosage.astype(np.int8), pd.DataFrame(rows, columns=["pos", "ref", "alt"])


def test_fast_decoder_equals_slow_path(monkeypatch):
    # Tiny chunks so that decoding crosses many chunk boundaries and ends on a partial one.
    monkeypatch.setattr(_genomes, "_CHUNK_BYTES", 7 * 40)
    populations = {"CHB": 12, "YRI": 8}  # not the model's order: people must follow this one
    is_male = _males(20, seed=3)
    layout = GenomeLayout(contig_lengths=(1_000_000, 300_000), x_length=500_000, maf=0.05)
    g = simulate_genomes(populations, is_male, layout, seed=7)

    species = stdpopsim.get_species("HomSap")
    model = species.get_demographic_model(OOA)
    contig_seeds, x_seeds = _genomes._seeds(7, 2)
    ts = _genomes._simulate_autosome(species, model, 1_000_000, populations, contig_seeds[0])
    assert any(len(s.mutations) > 1 for s in ts.sites()), "want multi-hit sites to be dropped"
    slow, table = _slow_contig(ts, populations, None, layout.maf)
    cols = np.flatnonzero(g.variants["chrom"].to_numpy() == "1")
    np.testing.assert_array_equal(g.genotypes[:, cols], slow)
    pd.testing.assert_frame_equal(
        g.variants.iloc[cols][["pos", "ref", "alt"]].reset_index(drop=True),
        table,
        check_dtype=False,
    )

    ts_x, _, _ = _genomes._simulate_x(model, species, 500_000, populations, is_male, *x_seeds)
    slow_x, table_x = _slow_contig(ts_x, populations, is_male, layout.maf)
    cols = np.flatnonzero(g.variants["chrom"].to_numpy() == "X")
    np.testing.assert_array_equal(g.genotypes[:, cols], slow_x)
    pd.testing.assert_frame_equal(
        g.variants.iloc[cols][["pos", "ref", "alt"]].reset_index(drop=True),
        table_x,
        check_dtype=False,
    )
    assert list(g.population) == ["CHB"] * 12 + ["YRI"] * 8


def test_every_kept_variant_passes_the_maf_filter(small):
    g, is_male = small
    f = _pooled_alt_frequency(g, is_male)
    assert (np.minimum(f, 1 - f) >= GenomeLayout().maf).all()
    assert (g.variants["chrom"] == "X").sum() > 100


# --------------------------------------------------------------------------------------------
# Determinism, layout and output format


def test_same_seed_same_genomes_and_different_seed_different(small):
    g, is_male = small
    again = simulate_genomes({p: 30 for p in THREE}, is_male, GenomeLayout(), seed=5)
    np.testing.assert_array_equal(again.genotypes, g.genotypes)
    pd.testing.assert_frame_equal(again.variants, g.variants)
    other = simulate_genomes({p: 30 for p in THREE}, is_male, GenomeLayout(), seed=6)
    assert other.genotypes.shape != g.genotypes.shape or not np.array_equal(other.genotypes, g.genotypes)


def test_contig_does_not_depend_on_the_number_of_contigs():
    is_male = _males(10)
    two = simulate_genomes({"CEU": 10}, is_male, GenomeLayout(contig_lengths=(200_000,) * 2, x_length=0), seed=4)
    three = simulate_genomes({"CEU": 10}, is_male, GenomeLayout(contig_lengths=(200_000,) * 3, x_length=0), seed=4)
    m = len(two.variants)
    pd.testing.assert_frame_equal(three.variants.iloc[:m], two.variants)
    np.testing.assert_array_equal(three.genotypes[:, :m], two.genotypes)


def test_variant_table_format(small):
    g, _ = small
    v = g.variants
    assert list(v.columns) == ["chrom", "pos", "id", "ref", "alt"]
    assert g.genotypes.dtype == np.int8 and g.genotypes.shape == (90, len(v))
    assert set(np.unique(g.genotypes)) <= {0, 1, 2}
    assert v["pos"].dtype == np.int64 and (v["pos"] >= 1).all()
    for col in ("chrom", "id", "ref", "alt"):
        assert pd.api.types.is_string_dtype(v[col]), col
    assert list(pd.unique(v["chrom"])) == ["1", "2", "3", "4", "X"]
    for _, pos in v.groupby("chrom", sort=False)["pos"]:
        assert (np.diff(pos.to_numpy()) > 0).all()
    assert (v["id"] == v["chrom"] + ":" + v["pos"].astype(str)).all()
    assert v["id"].is_unique
    assert v["ref"].isin(list("ACGT")).all() and v["alt"].isin(list("ACGT")).all()
    assert (v["ref"] != v["alt"]).all()
    assert list(g.population) == [p for p in THREE for _ in range(30)]


def test_single_population_and_progress():
    calls = []
    layout = GenomeLayout(contig_lengths=(300_000,) * 2, x_length=200_000)
    g = simulate_genomes({"CHB": 25}, _males(25), layout, seed=1, progress=lambda *a: calls.append(a))
    assert g.genotypes.shape[0] == 25 and set(g.population) == {"CHB"}
    assert g.genotypes.shape[1] > 100
    stages = {stage for stage, _, _ in calls}
    assert len(stages) == 2
    for stage in stages:
        done = [(d, t) for s, d, t in calls if s == stage]
        assert [d for d, _ in done] == [1, 2, 3] and {t for _, t in done} == {3}


# --------------------------------------------------------------------------------------------
# Bad input


@pytest.mark.parametrize(
    "populations, n_male, layout, seed, match",
    [
        (
            {"CEU": 5},
            5,
            GenomeLayout(demographic_model="OutOfAtlantis"),
            1,
            "demographic_model 'OutOfAtlantis'",
        ),
        ({"FIN": 5}, 5, GenomeLayout(), 1, "population 'FIN'.*YRI, CEU, CHB"),
        ({"CEU": 1}, 1, GenomeLayout(), 1, "at least 2 people"),
        ({"CEU": -3, "CHB": 5}, 2, GenomeLayout(), 1, r"populations\['CEU'\]"),
        ({"CEU": 2.5}, 2, GenomeLayout(), 1, r"populations\['CEU'\]"),
        ({}, 0, GenomeLayout(), 1, "populations must map"),
        ({"CEU": 5}, 4, GenomeLayout(), 1, r"is_male .* \(5\)"),
        ({"CEU": 5}, 5, GenomeLayout(maf=0.5), 1, r"layout.maf must be in \[0, 0.5\)"),
        ({"CEU": 5}, 5, GenomeLayout(maf=-0.01), 1, "layout.maf"),
        ({"CEU": 5}, 5, GenomeLayout(contig_lengths=()), 1, "contig_lengths is empty"),
        (
            {"CEU": 5},
            5,
            GenomeLayout(contig_lengths=(1000, 0)),
            1,
            "contig_lengths must be positive",
        ),
        ({"CEU": 5}, 5, GenomeLayout(x_length=-1), 1, "x_length"),
        ({"CEU": 5}, 5, GenomeLayout(), -1, "seed"),
    ],
)
def test_bad_input_is_refused_clearly(populations, n_male, layout, seed, match):
    with pytest.raises(GenofaceError, match=match):
        simulate_genomes(populations, np.zeros(n_male, bool), layout, seed=seed)


def test_non_sampling_population_is_refused():
    # OutOfAfricaArchaicAdmixture_5R19 has archaic ghost populations that cannot be sampled.
    layout = GenomeLayout(demographic_model="OutOfAfricaArchaicAdmixture_5R19")
    with pytest.raises(GenofaceError, match="population 'Neanderthal'.*YRI, CEU, CHB$"):
        simulate_genomes({"Neanderthal": 5}, np.zeros(5, bool), layout, seed=1)
