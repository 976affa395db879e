"""Shared pytest fixtures. Each block is self-contained; add yours in a block of its own."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

# ---- tiny cohorts (cohort I/O tests) ---------------------------------------------------------------


def make_tiny_cohort(seed: int = 0, n: int = 12, n_auto: int = 30, n_x: int = 8):
    """A small random Cohort: genotypes with missing calls on chromosomes 1, 2 and X (males
    hemizygous 0/2 there), a 42-vertex icosphere template (radius 80 mm), noisy faces, and
    covariates with a missing age and bmi."""
    import trimesh

    from genoface.cohort import COHORT_FORMAT_VERSION, Cohort

    rng = np.random.default_rng(seed)
    sample_ids = np.array([f"P{i:03d}" for i in range(n)])
    sex = np.where(np.arange(n) % 2 == 0, "F", "M")
    m = n_auto + n_x
    g = rng.integers(0, 3, size=(n, m)).astype(np.int8)
    x = slice(n_auto, m)
    males = sex == "M"
    g[males, x] = 2 * rng.integers(0, 2, size=(males.sum(), n_x))
    g[rng.random((n, m)) < 0.05] = -1
    chrom = ["1"] * (n_auto // 2) + ["2"] * (n_auto - n_auto // 2) + ["X"] * n_x
    pos = (
        np.concatenate([np.arange(1, n_auto // 2 + 1), np.arange(1, n_auto - n_auto // 2 + 1), np.arange(1, n_x + 1)])
        * 1000
    )
    ref = rng.choice(list("ACGT"), size=m)
    alt = np.array([{"A": "G", "C": "T", "G": "A", "T": "C"}[r] for r in ref])
    ids = [f"rs{100 + j}" for j in range(m)]
    ids[3] = f"{chrom[3]}:{pos[3]}"  # a variant without an rsID
    variants = pd.DataFrame({"chrom": chrom, "pos": pos, "id": ids, "ref": ref, "alt": alt})

    sphere = trimesh.creation.icosphere(subdivisions=1, radius=80.0)
    template = np.asarray(sphere.vertices, dtype=np.float32).astype(np.float64)
    faces = (template[None] + rng.normal(scale=2.0, size=(n, len(template), 3))).astype(np.float32)
    covariates = pd.DataFrame(
        {
            "sex": sex,
            "age": np.round(rng.uniform(18, 80, n), 2),
            "bmi": np.round(rng.uniform(18, 35, n), 2),
            "population": np.where(np.arange(n) < n // 2, "CEU", "YRI"),
            "eye_colour": rng.choice(["blue", "brown", "intermediate"], size=n),
            "height_cm": np.round(rng.normal(170, 10, n), 1),
        },
        index=pd.Index(sample_ids, name="sample_id"),
    )
    covariates.loc[sample_ids[1], "age"] = np.nan
    covariates.loc[sample_ids[2], "bmi"] = np.nan
    meta = {
        "format_version": COHORT_FORMAT_VERSION,
        "name": "tiny",
        "units": "mm",
        "genome_build": "test",
        "simulated": False,
    }
    return Cohort(
        sample_ids=sample_ids,
        genotypes=g,
        variants=variants,
        faces=faces,
        template_vertices=template,
        template_triangles=np.asarray(sphere.faces, dtype=np.int64),
        covariates=covariates,
        meta=meta,
    )


@pytest.fixture
def tiny_cohort():
    """An in-memory Cohort of 12 people, 38 SNPs (8 on X), 42-vertex faces."""
    return make_tiny_cohort()


@pytest.fixture(params=["vcf", "bed"])
def tiny_cohort_dir(request, tmp_path: Path, tiny_cohort) -> Path:
    """``tiny_cohort`` saved as a cohort directory, once with a VCF and once with PLINK bed."""
    return tiny_cohort.save(tmp_path / f"cohort_{request.param}", genotype_format=request.param)


# ---- simulated cohorts (simulator tests) ----------------------------------------------------------

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
#: The HIrisPlex-S tables are shared data, never shipped: tests read them from ../shared (the
#: published pigmentation models' tests skip without them).
HIRISPLEX_TABLES = SHARED_DATA / "hirisplex"
HAVE_HIRISPLEX_TABLES = (HIRISPLEX_TABLES / "eye_webtool.tsv").is_file()
if HAVE_HIRISPLEX_TABLES:
    os.environ.setdefault("GENOFACE_HIRISPLEX", str(HIRISPLEX_TABLES))
needs_hirisplex_tables = pytest.mark.skipif(
    not HAVE_HIRISPLEX_TABLES,
    reason="needs the HIrisPlex-S tables of ../shared/data/hirisplex (never shipped)",
)


@pytest.fixture(scope="session")
def sim_strong(tmp_path_factory):
    """The strong-loci preset at 1,500 people, written to disk (built-in face): three populations
    and loci that a few hundred training people can learn, so that model tests have a signal."""
    from genoface.shape import builtin_shape_model
    from genoface.simulate import simulate

    out = tmp_path_factory.mktemp("sim") / "strong"
    return simulate("strong-loci", n=1500, seed=11, out=out, shape_model=builtin_shape_model())


@pytest.fixture(scope="session")
def sim_calibrated(tmp_path_factory):
    """The realistic preset (calibrated to published studies) at 1,500 people, on disk."""
    from genoface.shape import builtin_shape_model
    from genoface.simulate import simulate

    out = tmp_path_factory.mktemp("sim") / "realistic"
    return simulate("realistic", n=1500, seed=11, out=out, shape_model=builtin_shape_model())


def write_23andme(path, cohort, row: int, keep) -> None:
    """One person of ``cohort`` as a 23andMe raw-data file (men hemizygous on X), variants ``keep`` only."""
    from genoface.io import write_23andme as write

    keep = np.flatnonzero(keep)
    male = cohort.covariates["sex"].iat[row] == "M"
    write(path, cohort.variants.iloc[keep], np.asarray(cohort.genotypes[row])[keep], male=male)


# ---- genetics toolkit (QC, PCA, sex) ---------------------------------------------------------------


def simulate_genetics_cohort(populations: dict[str, int], seed: int = 1):
    """A small simulated cohort for genotype work: two 1 Mb autosomes and a 2 Mb X, few causal
    loci (faces are not the point). A 2 Mb X is few independent loci: tests that need each
    woman's X heterozygosity measured well simulate a longer X."""
    from genoface.simulate import GeneticArchitecture, GenomeLayout, Preset, simulate

    preset = Preset(
        "genetics",
        "test",
        populations,
        GenomeLayout(contig_lengths=(1_000_000,) * 2, x_length=2_000_000),
        {"genetic": 0.2},
        architecture=GeneticArchitecture(n_regional_loci=5, n_background_snps=5),
    )
    return simulate(preset, seed=seed).cohort


@pytest.fixture(scope="session")
def genetics_cohort():
    """300 simulated people, 100 each of YRI, CEU and CHB, with chromosome X."""
    return simulate_genetics_cohort({"YRI": 100, "CEU": 100, "CHB": 100})


# ---- small settings for slow models -------------------------------------------------------------

#: Hyper-parameters that make the neural models train in seconds (tests check behaviour, not skill).
FAST_PARAMS = {
    "difface": dict(
        n_snps=60, max_tokens=16, dim=32, heads=2, latent_dim=16, channels=(8, 8, 8, 8), epochs=1,
        prior_epochs=2, batch_size=64, diffusion_steps=50, ddim_steps=5,
    ),
    "bayes": dict(n_snps=100, calibrate=False),
    "mahdi": dict(levels=1, embed_dim=8, channels=(8, 8), epochs=2, n_snps=40, snp_triplets=4),
}  # fmt: skip


# ---- torch threads ------------------------------------------------------------------------------


@pytest.fixture(autouse=True, scope="session")
def _one_torch_thread_per_worker():
    """pytest-xdist runs one worker per core; torch's own threads on top would oversubscribe the
    cores (on 2 loaded cores, 2 threads per worker made training ten times slower)."""
    try:
        import torch
    except ImportError:
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


# ---- hypothesis: nothing written into the repository ----------------------------------------------


def _hypothesis_outside_the_repo() -> None:
    """Hypothesis keeps a cache (and, where a profile has one, an example database) in
    ./.hypothesis; put it in a temporary folder so that tests write nothing into the repository."""
    import atexit
    import shutil
    import tempfile

    try:
        from hypothesis.configuration import set_hypothesis_home_dir
    except ImportError:  # hypothesis is a test extra; tests that need it import it themselves
        return
    home = tempfile.mkdtemp(prefix="genoface-hypothesis-")
    atexit.register(shutil.rmtree, home, True)
    set_hypothesis_home_dir(home)


_hypothesis_outside_the_repo()


# ---- genoface serve ---------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def served(sim_strong, tmp_path_factory):
    """What the server tests serve: lippert and demographic (with trait predictors, by `genoface
    train`) and bayes (it draws faces), trained on 1,425 people of sim_strong; 60 of the 75 others
    are the served cohort (PLINK). Returns (folder, the served cohort)."""
    from typer.testing import CliRunner

    from genoface.cli import app
    from genoface.cohort import Cohort
    from genoface.models import make_model

    cohort = Cohort.load(sim_strong.cohort.path)
    train, test = cohort.split(0.05, seed=3)
    root = tmp_path_factory.mktemp("serve")
    train.save(root / "train")
    test.subset(np.arange(60)).save(root / "gallery", genotype_format="bed")
    for name in ("lippert", "demographic"):
        args = ["train", "--cohort", str(root / "train"), "--model", name, "--out", str(root / name)]
        result = CliRunner().invoke(app, args)
        assert result.exit_code == 0, result.output
    make_model("bayes", calibrate=False, n_backfit=1).fit(train).save(root / "bayes")
    return root, Cohort.load(root / "gallery")
