"""LD pruning and ancestry PCA: populations separate, projections land with their population."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from genoface.core.errors import GenofaceError
from genoface.genetics import AncestryPCA, ld_prune

HAPGEN = Path(__file__).resolve().parents[2] / "shared/data/hapgen"


def _nearest_centroid_accuracy(train: np.ndarray, train_pop: np.ndarray, test: np.ndarray, test_pop: np.ndarray):
    pops = np.unique(train_pop)
    centroids = np.stack([train[train_pop == p].mean(0) for p in pops])
    pred = pops[np.argmin(((test[:, None, :] - centroids[None]) ** 2).sum(-1), axis=1)]
    return (pred == test_pop).mean()


def test_ld_prune_removes_the_rarer_of_a_correlated_pair_and_ignores_chunking():
    rng = np.random.default_rng(0)
    g = rng.binomial(2, rng.uniform(0.1, 0.5, 40), size=(300, 40)).astype(np.int8)
    g[:, 5] = g[:, 4]  # same MAF: the later one goes
    g[:, 12] = np.where(g[:, 10] == 2, 1, g[:, 10])  # rarer copy of column 10
    g[:, 30] = -1  # all missing: dropped as monomorphic
    variants = pd.DataFrame({"chrom": ["1"] * 20 + ["2"] * 20, "id": [f"s{j}" for j in range(40)]})
    g[:, 20] = g[:, 19]  # across chromosomes: both stay
    keep = ld_prune(g, variants, window=10, step=3, r2=0.5)
    assert keep[4] and not keep[5]
    assert keep[10] and not keep[12]
    assert keep[19] and keep[20] and not keep[30]
    np.testing.assert_array_equal(ld_prune(g, variants, window=10, step=3, r2=0.5, chunk=4), keep)
    with pytest.raises(GenofaceError, match="window=1"):
        ld_prune(g, variants, window=1)


@pytest.fixture(scope="module")
def fitted(genetics_cohort):
    """An AncestryPCA fitted on three quarters of the simulated cohort: (pca, scores, test mask)."""
    c = genetics_cohort
    test = np.random.default_rng(0).random(c.n_samples) < 0.25
    pca = AncestryPCA(n_components=4, chunk=1000)
    return pca, pca.fit_transform(c.genotypes[~test], c.variants), test


def test_pcs_separate_simulated_populations_and_project_held_out_people(genetics_cohort, fitted):
    c = genetics_cohort
    pop = c.covariates["population"].to_numpy()
    pca, scores, test = fitted
    assert scores.shape == (int((~test).sum()), 4)
    assert not pd.Index(pca.snps_).isin(c.variants["id"][c.variants["chrom"] == "X"]).any()
    assert np.all(np.diff(pca.explained_variance_ratio_) <= 1e-12) and pca.explained_variance_ratio_.sum() < 1
    assert _nearest_centroid_accuracy(scores[:, :2], pop[~test], scores[:, :2], pop[~test]) > 0.98
    projected = pca.transform(c.genotypes[test], c.variants["id"])
    assert _nearest_centroid_accuracy(scores[:, :2], pop[~test], projected[:, :2], pop[test]) > 0.98
    # Projecting the training people gives their training scores.
    np.testing.assert_allclose(pca.transform(c.genotypes[~test], c.variants["id"]), scores, atol=1e-3)


def test_transform_matches_snps_by_id_and_round_trips_without_pickle(genetics_cohort, fitted, tmp_path):
    c = genetics_cohort
    pca = fitted[0]
    full = pca.transform(c.genotypes, c.variants["id"])
    # Shuffled columns, and a SNP set missing a third of the model's SNPs (mean-imputed).
    order = np.random.default_rng(1).permutation(c.n_variants)
    np.testing.assert_allclose(
        pca.transform(c.genotypes[:, order], c.variants["id"].to_numpy()[order]), full, atol=1e-4
    )
    drop = c.variants["id"].isin(pca.snps_[::3]).to_numpy()
    partial = pca.transform(c.genotypes[:, ~drop], c.variants["id"][~drop])
    assert np.corrcoef(partial[:, 0], full[:, 0])[0, 1] > 0.95

    arrays = pca.to_arrays()
    np.savez(tmp_path / "pca.npz", **arrays)
    with np.load(tmp_path / "pca.npz", allow_pickle=False) as z:
        again = AncestryPCA.from_arrays(dict(z))
    np.testing.assert_allclose(again.transform(c.genotypes, c.variants["id"]), full)
    assert again.n_components == 4 and again.random_state == 0 and again.chunk == 1000

    with pytest.raises(GenofaceError, match="not fitted"):
        AncestryPCA().transform(c.genotypes, c.variants["id"])
    with pytest.raises(GenofaceError, match="none of the"):
        pca.transform(c.genotypes[:, :5], [f"other{j}" for j in range(5)])


def test_fit_is_deterministic(genetics_cohort):
    c = genetics_cohort
    g, v = c.genotypes[:, :3000], c.variants.iloc[:3000]
    a = AncestryPCA(n_components=2).fit_transform(g, v)
    b = AncestryPCA(n_components=2).fit_transform(g, v)
    np.testing.assert_array_equal(a, b)
    with pytest.raises(GenofaceError, match="300 samples"):
        AncestryPCA(n_components=400).fit(g, v)


@pytest.mark.skipif(not (HAPGEN / "hapgen_ceu_asn_chr10.vcf.gz").exists(), reason=f"hapgen data not at {HAPGEN}")
def test_pc1_separates_ceu_from_east_asians_in_hapgen_data():
    from genoface.io.genotypes import read_genotypes

    data = read_genotypes(HAPGEN / "hapgen_ceu_asn_chr10.vcf.gz")
    pops = pd.read_csv(HAPGEN / "hapgen_ceu_asn_chr10.populations.tsv", sep="\t", index_col="sample_id")
    pop = pops.loc[data.sample_ids, "population"].to_numpy()
    pc1 = AncestryPCA(n_components=2).fit_transform(data.genotypes, data.variants)[:, 0]
    ceu, asn = pc1[pop == "CEU"], pc1[pop == "JPT+CHB"]
    assert len(ceu) == 494 and len(asn) == 506
    assert ceu.min() > asn.max() or asn.min() > ceu.max()
