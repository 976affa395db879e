"""The Dask engine: a genotype pass gives the same numbers on every scheduler (threads, one
thread, a LocalCluster of two worker processes), whole commands run on a LocalCluster, and a
scheduler that cannot be used is one clear error."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from genoface.cli import app
from genoface.cohort import Cohort
from genoface.core.errors import GenofaceError
from genoface.genetics import variant_stats
from genoface.genetics.engine import map_variant_blocks, sum_variant_blocks, use_scheduler

runner = CliRunner()


@pytest.fixture(scope="module")
def cohort_dir(genetics_cohort, tmp_path_factory):
    # 180 of the 300 people: enough for the models, small enough for two evaluate runs.
    people = genetics_cohort.subset(
        np.arange(0, 300, 5).tolist() + np.arange(1, 300, 5).tolist() + np.arange(2, 300, 5).tolist()
    )
    return people.save(tmp_path_factory.mktemp("engine") / "c", genotype_format="bed")


def test_blocks_come_back_in_order_on_every_scheduler(genetics_cohort):
    g = genetics_cohort.genotypes
    expected = [(0, 100), (100, 200)]
    for scheduler in ("threads", "synchronous"):
        with use_scheduler(scheduler):
            assert map_variant_blocks(lambda j0, j1, b: (j0, j1), g[:, :200], 100) == expected
    cols = np.array([3, 50, 51, 199])
    with use_scheduler("threads"):
        blocks = map_variant_blocks(lambda j0, j1, b: b, g, 3, columns=cols)
    np.testing.assert_array_equal(np.concatenate(blocks, axis=1), g[:, cols])


def test_block_sums_are_the_blocks_added_on_every_scheduler(genetics_cohort):
    """The pairwise sum in the graph adds every block once (7 blocks: an odd one carried up),
    tuples element by element, and gives the same bits on each scheduler."""
    g = genetics_cohort.genotypes[:, :70]
    w = np.random.default_rng(0).normal(size=(70, 3))

    def fn(j0, j1, b):
        return b @ w[j0:j1], float(j1 - j0)

    parts = map_variant_blocks(fn, g, 10)
    assert len(parts) == 7
    sums = {}
    for scheduler in ("threads", "synchronous"):
        with use_scheduler(scheduler):
            sums[scheduler] = sum_variant_blocks(fn, g, 10)
    np.testing.assert_allclose(sums["threads"][0], sum(p[0] for p in parts), rtol=1e-12)
    np.testing.assert_array_equal(sums["threads"][0], sums["synchronous"][0])
    assert sums["threads"][1] == 70.0
    with use_scheduler("threads"):
        assert sum_variant_blocks(lambda j0, j1, b: np.int64(j1 - j0), g, 70) == 70  # a single block


def test_qc_on_a_local_cluster_equals_threads(cohort_dir):
    lazy = Cohort.load(cohort_dir, lazy=True)
    is_x = (lazy.variants["chrom"] == "X").to_numpy()
    male = (lazy.covariates["sex"] == "M").to_numpy()
    with use_scheduler("threads"):
        threads = variant_stats(lazy.genotypes, is_x=is_x, is_male=male, chunk=1000)
    with use_scheduler("distributed", n_workers=2):
        cluster = variant_stats(lazy.genotypes, is_x=is_x, is_male=male, chunk=1000)
    pd.testing.assert_frame_equal(cluster, threads)


def test_evaluate_runs_on_a_local_cluster(cohort_dir, tmp_path):
    results = {}
    for scheduler in ("threads", "distributed"):
        out = tmp_path / scheduler
        args = ["--scheduler", scheduler, "evaluate", "--cohort", str(cohort_dir), "--models", "demographic,lippert"]
        r = runner.invoke(app, [*args, "--out", str(out)])
        assert r.exit_code == 0, r.output
        metrics = json.loads((out / "metrics.json").read_text())["results"]
        results[scheduler] = {(x["model"], x["setting"]): x["face_error_mm"] for x in metrics}
    assert results["distributed"] == pytest.approx(results["threads"], rel=1e-9)


def test_a_scheduler_that_cannot_be_used_is_one_error(cohort_dir):
    with pytest.raises(GenofaceError, match="unknown scheduler 'fast'"):
        with use_scheduler("fast"):
            pass
    r = runner.invoke(app, ["--scheduler", "fast", "import", "--cohort", str(cohort_dir)])
    assert r.exit_code == 1 and "unknown scheduler 'fast'" in r.output and "Traceback" not in r.output
