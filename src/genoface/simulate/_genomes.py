"""The genomes of a simulated cohort: coalescent autosomes (stdpopsim) and chromosome X (msprime).

Autosomes are simulated with stdpopsim's msprime engine under one of its HomSap demographic
models, on generic contigs with a flat recombination map (nothing is downloaded). Chromosome X
is not supported by stdpopsim, so it is simulated with msprime directly on the same model's
``msprime.Demography``, adapted as described in :func:`_x_demography`.

Only biallelic SNPs whose pooled minor-allele frequency reaches ``GenomeLayout.maf`` are kept.
A cohort of 10,000 people has ~28,000 sites per Mb of which ~13% are common, and decoding
every site costs far more time and memory than simulating, so sites are
filtered from allele counts read off the trees, the rest deleted from the tree sequence, and
only the kept sites are decoded, in chunks, straight into one preallocated int8 matrix.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import msprime
import numpy as np
import pandas as pd
import stdpopsim
import tskit

from genoface.core.errors import GenofaceError
from genoface.io.genotype_store import open_genotype_store, rechunk_blocks, store_chunks, write_genotype_store

log = logging.getLogger(__name__)

Progress = Callable[[str, int, int], None]

_SPECIES = "HomSap"
# X has 3/4 the autosomal effective size (3 X copies per 4 autosome copies in a 1:1 sex ratio)
# and recombines only in females, i.e. in 2 of the 3 X copies passed on per generation.
_X_SIZE_FACTOR = 3 / 4
_X_RECOMBINATION_FACTOR = 2 / 3
# Decode buffer: at most this many bytes of (variants x haplotypes) int8 at a time.
_CHUNK_BYTES = 32 * 2**20
_PROGRESS_SIMULATE = "simulating genomes"
_PROGRESS_DECODE = "decoding genotypes"


#: Autosomal contigs are named 1, 2, ...: past 22 the names would be read as X, Y, XY and MT.
MAX_AUTOSOMES = 22


@dataclass(frozen=True)
class GenomeLayout:
    """What genome to simulate.

    Parameters
    ----------
    contig_lengths : lengths in bp of the autosomal contigs, named "1", "2", ... in this order;
        at most ``MAX_AUTOSOMES`` of them.
        Each is an independent generic HomSap contig (flat recombination map at the species'
        mean rate), so the number of contigs and their length set the number of SNPs.
    x_length : length in bp of the chromosome "X" segment; 0 simulates no X.
    maf : keep SNPs whose minor-allele frequency, pooled over the whole cohort and counted over
        allele copies (on X: 2 per woman, 1 per man), is at least this; in [0, 0.5).
    demographic_model : a stdpopsim HomSap demographic model id, e.g. "OutOfAfrica_3G09".
    """

    contig_lengths: tuple[int, ...] = (2_000_000,) * 4
    x_length: int = 1_000_000
    maf: float = 0.01
    demographic_model: str = "OutOfAfrica_3G09"

    def __post_init__(self) -> None:
        if len(self.contig_lengths) > MAX_AUTOSOMES:
            raise GenofaceError(
                f"{len(self.contig_lengths)} contigs asked; autosomes are named 1-{MAX_AUTOSOMES} (PLINK and genoface "
                f"read 23-26 as X, Y, XY and MT), so use at most {MAX_AUTOSOMES} and make them longer (--contig-length)"
            )


@dataclass
class SimulatedGenomes:
    """Genotypes of a simulated cohort (ALT allele counts 0/1/2, -1 missing).

    genotypes : (n_samples, n_variants) int8 ALT (derived) allele dosage 0/1/2; on X men are
        hemizygous and coded 0/2. No missing calls. A NumPy array, or the lazy view of a store
        (:class:`~genoface.io.genotype_store.StoredDosages`) when decoded into one.
    variants : one row per column of ``genotypes``: chrom (str: "1", "2", ..., "X"), pos (int64,
        1-based), id (f"{chrom}:{pos}"), ref (ancestral nucleotide), alt (derived nucleotide);
        ordered by contig ("1", "2", ..., then "X") and position.
    population : (n_samples,) population label of each person, in the order of ``populations``.
    """

    genotypes: Any
    variants: pd.DataFrame
    population: np.ndarray


@dataclass
class _Contig:
    """One simulated contig with only its kept sites, and each person's two sample columns."""

    chrom: str
    ts: tskit.TreeSequence
    a: np.ndarray  # (n,) first sample column of each person
    b: np.ndarray  # (n,) second one (the same column for a man's X)


def simulate_genomes(
    populations: Mapping[str, int],
    is_male: np.ndarray,
    layout: GenomeLayout,
    seed: int,
    progress: Progress | None = None,
    *,
    store: str | os.PathLike | None = None,
    store_above: int = 0,
) -> SimulatedGenomes:
    """Simulate the genomes of a cohort.

    Parameters
    ----------
    populations : people per population of ``layout.demographic_model``, e.g.
        ``{"YRI": 300, "CEU": 300, "CHB": 300}``; people are ordered by population in this order.
        One population alone samples just that deme of the model; a count of 0 samples none.
    is_male : (n,) bool, sex of each person in that order; decides how many X copies they carry.
    layout : contigs, X length, MAF filter and demographic model (see :class:`GenomeLayout`).
    seed : non-negative int; the output is a deterministic function of all arguments. Each
        contig draws from its own stream (numpy SeedSequence), so contig i is the same whatever
        the number of other contigs.
    progress : optional ``progress(stage, done, total)``, called as each contig is simulated and
        as each contig is decoded.
    store : a new directory to decode the genotypes into, as a chunked genotype store
        (:mod:`genoface.io.genotype_store`, samples named "0", "1", ...), a block of variants at
        a time; ``genotypes`` is then its lazy view and the matrix is never held in memory
        (100,000 people x 100,000 SNPs are 10 GB). None decodes into memory.
    store_above : decode into ``store`` only when the matrix holds more calls than this (its
        size is known only once the contigs are simulated); smaller ones go into memory.

    Returns
    -------
    SimulatedGenomes with the kept SNPs of all autosomal contigs, then X (the same values
    whether decoded into memory or into a store).
    """
    model, is_male = _validate(populations, is_male, layout, seed)
    labels = np.repeat(np.array(list(populations), dtype=str), list(populations.values()))
    populations = {name: int(count) for name, count in populations.items() if count > 0}
    progress = progress or (lambda stage, done, total: None)
    # Two passes: the filtered tree sequences are small, so all of them are kept and the
    # genotype matrix is allocated once at its final size (or its store laid out once).
    kept = _simulate_contigs(model, populations, is_male, layout, seed, progress)
    n = len(is_male)
    variants = pd.concat([_variant_table(c.ts, c.chrom) for c in kept], ignore_index=True)
    blocks = _decoded_blocks(kept, n, progress)
    if store is None or n * len(variants) <= store_above:
        genotypes: Any = np.empty((n, len(variants)), dtype=np.int8)
        for j0, j1, block in blocks:
            genotypes[:, j0:j1] = block
    else:
        step = store_chunks(n, len(variants))[0]
        write_genotype_store(store, np.arange(n).astype(str), variants, rechunk_blocks(blocks, step))
        genotypes = open_genotype_store(store).dosages
    return SimulatedGenomes(genotypes=genotypes, variants=variants, population=labels)


def _simulate_contigs(
    model: stdpopsim.DemographicModel,
    populations: Mapping[str, int],
    is_male: np.ndarray,
    layout: GenomeLayout,
    seed: int,
    progress: Progress,
) -> list[_Contig]:
    """Pass 1: simulate every autosomal contig, then X, each filtered to its kept sites."""
    species = stdpopsim.get_species(_SPECIES)
    contig_seeds, x_seeds = _seeds(seed, len(layout.contig_lengths))
    n_contigs = len(layout.contig_lengths) + (layout.x_length > 0)
    kept: list[_Contig] = []
    for i, length in enumerate(layout.contig_lengths):
        t0 = time.perf_counter()
        ts = _simulate_autosome(species, model, length, populations, contig_seeds[i])
        a, b = _autosome_columns(ts, model, populations)
        ts = _filter_sites(ts, layout.maf)
        kept.append(_Contig(str(i + 1), ts, a, b))
        _log_contig(str(i + 1), length, ts, t0)
        progress(_PROGRESS_SIMULATE, i + 1, n_contigs)
    if layout.x_length > 0:
        t0 = time.perf_counter()
        ts, a, b = _simulate_x(model, species, layout.x_length, populations, is_male, *x_seeds)
        ts = _filter_sites(ts, layout.maf)
        kept.append(_Contig("X", ts, a, b))
        _log_contig("X", layout.x_length, ts, t0)
        progress(_PROGRESS_SIMULATE, n_contigs, n_contigs)
    return kept


def _log_contig(chrom: str, length: int, ts: tskit.TreeSequence, t0: float) -> None:
    log.info("contig %s: %d bp, kept %d SNPs in %.1f s", chrom, length, ts.num_sites, time.perf_counter() - t0)


def _decoded_blocks(kept: list[_Contig], n: int, progress: Progress) -> Iterator[tuple[int, int, np.ndarray]]:
    """Pass 2: the kept sites decoded, contig by contig, as blocks ``(j0, j1, (n, j1 - j0) int8)``
    of consecutive columns of the final matrix."""
    offset = 0
    for k, contig in enumerate(kept):
        for j0, j1, block in _decode(contig.ts, contig.a, contig.b):
            yield offset + j0, offset + j1, block
        offset += contig.ts.num_sites
        progress(_PROGRESS_DECODE, k + 1, len(kept))


# ---------------------------------------------------------------------------------------------
# Validation


def _validate(
    populations: Mapping[str, int], is_male: np.ndarray, layout: GenomeLayout, seed: int
) -> tuple[stdpopsim.DemographicModel, np.ndarray]:
    """Check every argument up front; return the stdpopsim model and ``is_male`` as bool."""
    species = stdpopsim.get_species(_SPECIES)
    model_ids = [m.id for m in species.demographic_models]
    if layout.demographic_model not in model_ids:
        raise GenofaceError(
            f"demographic_model {layout.demographic_model!r} is not a stdpopsim {_SPECIES} model; "
            f"choose one of {', '.join(model_ids)}"
        )
    model = species.get_demographic_model(layout.demographic_model)
    sampling = [p.name for p in model.populations if p.allow_samples]
    if not isinstance(populations, Mapping) or len(populations) == 0:
        raise GenofaceError(f"populations must map population names to counts, e.g. {{{sampling[0]!r}: 1000}}")
    for name, count in populations.items():
        if name not in sampling:
            raise GenofaceError(
                f"population {name!r} is not a sampled population of {model.id}; choose from {', '.join(sampling)}"
            )
        if isinstance(count, bool) or not isinstance(count, (int, np.integer)) or count < 0:
            raise GenofaceError(f"populations[{name!r}] must be a non-negative integer count of people, got {count!r}")
    n = int(sum(populations.values()))
    if n < 2:
        raise GenofaceError(f"a cohort needs at least 2 people, got {n}; increase the population counts")
    is_male = np.asarray(is_male)
    if is_male.ndim != 1 or len(is_male) != n:
        raise GenofaceError(f"is_male must be a 1-D array with one entry per person ({n}), got shape {is_male.shape}")
    if is_male.dtype != bool:
        if not np.isin(is_male, (0, 1)).all():
            raise GenofaceError("is_male must be boolean (True for men), got values other than 0/1")
        is_male = is_male.astype(bool)
    lengths = layout.contig_lengths
    if len(lengths) == 0:
        raise GenofaceError("layout.contig_lengths is empty; give at least one autosomal contig length in bp")
    for length in lengths:
        if isinstance(length, bool) or not isinstance(length, (int, np.integer)) or length < 1:
            raise GenofaceError(f"layout.contig_lengths must be positive integers (bp), got {length!r}")
    x = layout.x_length
    if isinstance(x, bool) or not isinstance(x, (int, np.integer)) or x < 0:
        raise GenofaceError(f"layout.x_length must be a non-negative integer (bp; 0 = no X), got {x!r}")
    if not (isinstance(layout.maf, (int, float, np.floating)) and 0 <= layout.maf < 0.5):
        raise GenofaceError(f"layout.maf must be in [0, 0.5), got {layout.maf!r}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise GenofaceError(f"seed must be a non-negative integer, got {seed!r}")
    return model, is_male


def _seeds(seed: int, n_autosomes: int) -> tuple[list[int], tuple[int, int]]:
    """Independent msprime seeds: one per autosomal contig, and (ancestry, mutations) for X.

    Contig i's seed comes from the SeedSequence child (0, i) and X's from (1, ...), so no
    contig's stream depends on how many other contigs there are.
    """
    autosomes, x = np.random.SeedSequence(seed).spawn(2)
    ancestry, mutations = (_msprime_seed(s) for s in x.spawn(2))
    return [_msprime_seed(s) for s in autosomes.spawn(n_autosomes)], (ancestry, mutations)


def _msprime_seed(seq: np.random.SeedSequence) -> int:
    """A seed in msprime's range [1, 2**32 - 1] drawn from ``seq``."""
    return int(seq.generate_state(1, dtype=np.uint32)[0]) % (2**32 - 2) + 1


# ---------------------------------------------------------------------------------------------
# Simulation


def _simulate_autosome(
    species: stdpopsim.Species,
    model: stdpopsim.DemographicModel,
    length: int,
    populations: Mapping[str, int],
    seed: int,
) -> tskit.TreeSequence:
    """A diploid generic contig of ``length`` bp under ``model`` (stdpopsim msprime engine)."""
    # The model's own mutation rate, so that diversity matches what the model was fitted to;
    # models without one fall back to the species' genome-wide mean.
    contig = species.get_contig(length=length, mutation_rate=model.mutation_rate)
    engine = stdpopsim.get_engine("msprime")
    return engine.simulate(model, contig, dict(populations), seed=seed)


def _x_demography(demography: msprime.Demography) -> msprime.Demography:
    """The model's demography as seen by chromosome X: every population size x 3/4.

    An approximation: X's effective size is 3/4 of the autosomal one only when the sex ratio is
    1:1 and male and female variance in offspring number are equal; sex-biased migration or
    bottlenecks (which would move the X/A ratio away from 3/4) are not modelled. Migration
    rates are per-lineage fractions and stay as they are; growth rates are per generation and
    stay too. Time remains in generations.
    """
    x = demography.copy()
    for pop in x.populations:
        pop.initial_size = pop.initial_size * _X_SIZE_FACTOR
    for event in x.events:
        if isinstance(event, msprime.PopulationParametersChange) and event.initial_size is not None:
            event.initial_size = event.initial_size * _X_SIZE_FACTOR
    return x


def _simulate_x(
    model: stdpopsim.DemographicModel,
    species: stdpopsim.Species,
    length: int,
    populations: Mapping[str, int],
    is_male: np.ndarray,
    ancestry_seed: int,
    mutation_seed: int,
) -> tuple[tskit.TreeSequence, np.ndarray, np.ndarray]:
    """Chromosome X of the cohort with msprime, and each person's two sample columns.

    Samples are haploid X copies, two per woman and one per man, coalescing in the 3/4-size
    demography of :func:`_x_demography` (``ploidy=2`` keeps the diploid time scale, so a pair
    of X copies coalesces at rate 1 / (2 * 3/4 * N)). Recombination runs at 2/3 of the generic
    contig's rate, since only the X passed on by a mother can have recombined. A man's two
    columns are the same X copy, so summing them gives the hemizygous 0/2 dosage.
    """
    contig = species.get_contig(length=length, mutation_rate=model.mutation_rate)
    demography = _x_demography(model.model)
    counts = list(populations.values())
    starts = np.concatenate([[0], np.cumsum(counts)])
    sample_sets = []
    for k, name in enumerate(populations):
        males = int(is_male[starts[k] : starts[k + 1]].sum())
        copies = 2 * counts[k] - males
        sampling_time = demography[name].default_sampling_time
        sample_sets.append(msprime.SampleSet(copies, population=name, ploidy=1, time=sampling_time))
    ts = msprime.sim_ancestry(
        samples=sample_sets,
        demography=demography,
        sequence_length=length,
        recombination_rate=contig.recombination_map.mean_rate * _X_RECOMBINATION_FACTOR,
        ploidy=2,
        random_seed=ancestry_seed,
    )
    ts = msprime.sim_mutations(ts, rate=contig.mutation_rate, random_seed=mutation_seed)
    # Hand out each population's X copies to its people in order: 2 per woman, 1 per man.
    col_pop = ts.nodes_population[ts.samples()]
    a = np.empty(len(is_male), dtype=np.int64)
    b = np.empty(len(is_male), dtype=np.int64)
    for k, name in enumerate(populations):
        cols = np.flatnonzero(col_pop == demography[name].id)
        male = is_male[starts[k] : starts[k + 1]]
        first = np.concatenate([[0], np.cumsum(np.where(male, 1, 2))[:-1]])
        a[starts[k] : starts[k + 1]] = cols[first]
        b[starts[k] : starts[k + 1]] = cols[np.where(male, first, first + 1)]
    return ts, a, b


def _autosome_columns(
    ts: tskit.TreeSequence, model: stdpopsim.DemographicModel, populations: Mapping[str, int]
) -> tuple[np.ndarray, np.ndarray]:
    """Each person's two sample columns in ``ts``, people ordered by population as given.

    stdpopsim sorts sample sets by the model's population order, which need not be the order
    of ``populations``; individuals of one population are exchangeable, so take them in order.
    """
    pop_id = {p.name: i for i, p in enumerate(model.populations)}
    column = np.full(ts.num_nodes, -1, dtype=np.int64)
    column[ts.samples()] = np.arange(ts.num_samples)
    nodes = ts.individuals_nodes
    order = np.concatenate([np.flatnonzero(ts.individuals_population == pop_id[name]) for name in populations])
    pairs = column[nodes[order, :2]]
    return pairs[:, 0], pairs[:, 1]


# ---------------------------------------------------------------------------------------------
# Filtering and decoding


def _derived_counts(ts: tskit.TreeSequence) -> tuple[np.ndarray, np.ndarray]:
    """Per site: its number of mutations and, for sites with exactly one, the number of sample
    columns carrying the derived allele — read off the trees (``num_samples`` below the
    mutation's node) without decoding any genotype; 0 for the other sites."""
    n_mut = np.bincount(ts.mutations_site, minlength=ts.num_sites)
    counts = np.zeros(ts.num_sites, dtype=np.int64)
    single = np.flatnonzero(n_mut == 1)
    # tskit keeps mutations sorted by site, so a site's only mutation is found by bisection
    nodes = ts.mutations_node[np.searchsorted(ts.mutations_site, single)]
    positions = ts.sites_position[single]
    breaks = ts.breakpoints(as_array=True)
    tree_of = np.searchsorted(breaks, positions, side="right") - 1
    bounds = np.searchsorted(tree_of, np.arange(ts.num_trees + 1))
    for tree in ts.trees():
        lo, hi = bounds[tree.index], bounds[tree.index + 1]
        if lo < hi:
            counts[single[lo:hi]] = [tree.num_samples(u) for u in nodes[lo:hi]]
    return n_mut, counts


def _filter_sites(ts: tskit.TreeSequence, maf: float) -> tskit.TreeSequence:
    """Delete every site that is not a biallelic SNP with pooled MAF >= ``maf``.

    Every sample column is one allele copy of one person (on X a man has one column, a woman
    two), so the pooled allele frequency is derived-carrying columns over all columns.
    """
    n_mut, counts = _derived_counts(ts)
    total = ts.num_samples
    minor = np.minimum(counts, total - counts)
    keep = (n_mut == 1) & (counts > 0) & (counts < total) & (minor / total >= maf)
    # Multi-allelic or recurrent sites (two mutations at one position) are dropped, as are any
    # non-SNP states (msprime's default JC69 model only makes single nucleotides).
    return ts.delete_sites(np.flatnonzero(~keep), record_provenance=False)


def _decode(ts: tskit.TreeSequence, a: np.ndarray, b: np.ndarray) -> Iterator[tuple[int, int, np.ndarray]]:
    """The ALT dosage of the sites of ``ts`` as blocks ``(j0, j1, (n, j1 - j0) int8)``.

    Person i's dosage is haplotype column ``a[i]`` + column ``b[i]`` (equal columns for a
    hemizygous man give 0/2). Sites are decoded a chunk at a time into a small int8 buffer
    (``_CHUNK_BYTES``), so memory is a chunk or two whatever the cohort's size.
    """
    m = ts.num_sites
    if m == 0:
        return
    chunk = int(max(16, min(m, _CHUNK_BYTES // max(ts.num_samples, 1))))
    buf = np.empty((chunk, ts.num_samples), dtype=np.int8)
    k = j = 0
    for var in ts.variants(copy=False):
        buf[k] = var.genotypes
        k += 1
        if k == chunk:
            yield j, j + k, np.ascontiguousarray((buf[:k, a] + buf[:k, b]).T)
            j += k
            k = 0
    if k:
        yield j, j + k, np.ascontiguousarray((buf[:k, a] + buf[:k, b]).T)
        j += k
    if j != m:
        raise AssertionError(f"decoded {j} of {m} sites")


def _variant_table(ts: tskit.TreeSequence, chrom: str) -> pd.DataFrame:
    """The variants table of a filtered contig (every site has exactly one mutation)."""
    # tskit positions are 0-based on a discrete genome; VCF-style positions are 1-based.
    pos = ts.sites_position.astype(np.int64) + 1
    table = pd.DataFrame(
        {
            "chrom": np.full(ts.num_sites, chrom, dtype=object),
            "pos": pos,
            "id": np.char.add(f"{chrom}:", pos.astype(str)).astype(object),
            "ref": ts.sites_ancestral_state.astype(object),
            "alt": ts.mutations_derived_state.astype(object),
        }
    )
    # the same string dtype whatever pandas infers for empty or object columns
    return table.astype({"chrom": str, "id": str, "ref": str, "alt": str})
