"""GWAS against plink2, against a direct least-squares fit, against theory, and on a planted signal."""

from __future__ import annotations

import shutil
import subprocess

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from genoface.core.errors import GenofaceError
from genoface.genetics import gwas, multivariate_gwas, select_snps
from genoface.io.genotypes import write_plink


def _random_data(n=300, m=120, k=6, c=3, miss=0.03, seed=0):
    rng = np.random.default_rng(seed)
    f = rng.uniform(0.05, 0.5, m)
    g = rng.binomial(2, f, size=(n, m)).astype(np.int8)
    g[rng.random((n, m)) < miss] = -1
    g[:, 0] = np.where(g[:, 0] < 0, -1, 1)  # constant among callers: NaN
    cov = rng.normal(size=(n, c)) * [1.0, 10.0, 100.0][:c] + [0.0, 50.0, 1000.0][:c]
    y = rng.normal(size=(n, k)) + cov @ rng.normal(size=(c, k)) * 0.01
    y[:, 0] += 0.5 * np.where(g[:, 5] < 0, 1, g[:, 5])
    return g, y, cov


def _lstsq_reference(g, y, cov):
    """One regression per SNP and phenotype on the samples with a call."""
    n, m = g.shape
    k = y.shape[1]
    out = np.full((m, k, 3), np.nan)
    for j in range(m):
        s = g[:, j] >= 0
        x = g[s, j].astype(float)
        if x.std() == 0:
            continue
        d = np.column_stack([np.ones(s.sum()), cov[s], x])
        coef, *_ = np.linalg.lstsq(d, y[s], rcond=None)
        res = y[s] - d @ coef
        df = s.sum() - d.shape[1]
        var = np.linalg.inv(d.T @ d)[-1, -1]
        se = np.sqrt((res**2).sum(0) / df * var)
        out[j, :, 0] = coef[-1]
        out[j, :, 1] = se
        out[j, :, 2] = coef[-1] / se
    return out


def test_gwas_equals_direct_least_squares_with_missing_calls():
    g, y, cov = _random_data()
    ref = _lstsq_reference(g, y, cov)
    for chunk in (7, 4096):
        r = gwas(g, y, cov, chunk=chunk)
        np.testing.assert_allclose(r.beta, ref[:, :, 0], rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(r.se, ref[:, :, 1], rtol=1e-9)
        np.testing.assert_allclose(r.t, ref[:, :, 2], rtol=1e-8, atol=1e-10)
    assert np.isnan(r.t[0]).all()
    np.testing.assert_array_equal(r.n_obs, (g >= 0).sum(0))
    assert r.p[5, 0] < 1e-6
    frame = r.to_frame([f"rs{j}" for j in range(g.shape[1])], [f"P{i}" for i in range(y.shape[1])])
    assert len(frame) == g.shape[1] * y.shape[1]
    assert frame.loc[(frame["id"] == "rs5") & (frame["phenotype"] == "P0"), "t"].item() == pytest.approx(r.t[5, 0])


def test_snps_without_missing_calls_equal_the_exact_path():
    """SNPs called in everyone take the one-product path; a person with no call anywhere sends
    every SNP through the exact per-SNP path, which must then give the same statistics."""
    g, y, cov = _random_data(miss=0.0, seed=4)
    rng = np.random.default_rng(4)
    g_ext = np.vstack([g, np.full((1, g.shape[1]), -1, dtype=np.int8)])
    y_ext, cov_ext = np.vstack([y, rng.normal(size=(1, y.shape[1]))]), np.vstack([cov, cov[:1] * 2])
    fast, exact = gwas(g, y, cov, chunk=16), gwas(g_ext, y_ext, cov_ext, chunk=16)
    for name in ("beta", "se", "t", "p", "alt_freq"):
        np.testing.assert_allclose(getattr(fast, name), getattr(exact, name), rtol=1e-9, atol=1e-13, err_msg=name)
    np.testing.assert_array_equal(fast.n_obs, exact.n_obs)
    assert np.isnan(fast.t[0]).all() and not np.isnan(fast.t[1:]).any()
    ref = _lstsq_reference(g, y, cov)
    np.testing.assert_allclose(fast.t, ref[:, :, 2], rtol=1e-8, atol=1e-10)
    mv_fast, mv_exact = multivariate_gwas(g, y, cov, chunk=16), multivariate_gwas(g_ext, y_ext, cov_ext, chunk=16)
    for name in ("r2", "f", "p", "alt_freq"):
        np.testing.assert_allclose(getattr(mv_fast, name), getattr(mv_exact, name), rtol=1e-9, err_msg=name)


def test_blocks_mixing_complete_and_missing_snps_equal_direct_least_squares():
    g, y, cov = _random_data(seed=5)
    complete = np.random.default_rng(5).random(g.shape[1]) < 0.5
    g[:, complete] = np.where(g[:, complete] < 0, 0, g[:, complete])
    ref = _lstsq_reference(g, y, cov)
    for chunk in (1, 7, 4096):  # blocks all complete, all missing, and mixed
        r = gwas(g, y, cov, chunk=chunk)
        np.testing.assert_allclose(r.beta, ref[:, :, 0], rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(r.t, ref[:, :, 2], rtol=1e-8, atol=1e-10)
        np.testing.assert_array_equal(r.n_obs, (g >= 0).sum(0))
        mv = multivariate_gwas(g, y, cov, chunk=chunk)
        np.testing.assert_allclose(mv.f, multivariate_gwas(g, y, cov, chunk=g.shape[1]).f, rtol=1e-9)
    assert (r.n_obs[complete] == len(g)).all() and (r.n_obs[~complete] < len(g)).all()


def test_multivariate_gwas_equals_direct_f_test():
    g, y, cov = _random_data(m=40, seed=1)
    r = multivariate_gwas(g, y, cov, chunk=9)
    k = y.shape[1]
    for j in range(1, g.shape[1]):
        s = g[:, j] >= 0
        z = np.column_stack([np.ones(s.sum()), cov[s]])
        full = np.column_stack([z, y[s]])
        x = g[s, j].astype(float)
        rss1 = ((x - full @ np.linalg.lstsq(full, x, rcond=None)[0]) ** 2).sum()
        rss0 = ((x - z @ np.linalg.lstsq(z, x, rcond=None)[0]) ** 2).sum()
        df2 = s.sum() - z.shape[1] - k
        f = ((rss0 - rss1) / k) / (rss1 / df2)
        assert r.f[j] == pytest.approx(f, rel=1e-8)
        assert r.p[j] == pytest.approx(stats.f.sf(f, k, df2), rel=1e-6)
    assert np.isnan(r.p[0])
    assert r.p[5] < 1e-4


def test_bad_input_is_refused():
    g, y, cov = _random_data(m=8)
    with pytest.raises(GenofaceError, match="NaN"):
        gwas(g, np.where(np.arange(len(y))[:, None] == 3, np.nan, y), cov)
    with pytest.raises(GenofaceError, match="collinear"):
        gwas(g, y, np.column_stack([cov, cov[:, 0]]))
    with pytest.raises(GenofaceError, match="shape"):
        gwas(g, y[:-1], cov)


def _read_glm(path):
    df = pd.read_csv(path, sep="\t")
    df.columns = [c.lstrip("#") for c in df.columns]
    return df


@pytest.mark.skipif(shutil.which("plink2") is None, reason="plink2 is not installed")
@pytest.mark.parametrize("miss", [0.02, 0.0], ids=["missing-calls", "complete"])
def test_gwas_equals_plink2(tmp_path, miss):
    n, m, k = 400, 300, 6
    g, y, cov = _random_data(n=n, m=m, k=k, c=3, miss=miss, seed=3)
    g[:, 0] = g[:, 1]  # plink2 skips nothing we test; keep the constant column out of this test
    rng = np.random.default_rng(3)
    ref = rng.choice(list("ACGT"), size=m)
    alt = np.array([{"A": "G", "C": "T", "G": "A", "T": "C"}[r] for r in ref])
    ids = np.array([f"rs{j}" for j in range(m)])
    variants = pd.DataFrame({"chrom": "1", "pos": np.arange(1, m + 1) * 100, "id": ids, "ref": ref, "alt": alt})
    samples = np.array([f"S{i}" for i in range(n)])
    write_plink(tmp_path / "x", samples, g, variants)
    names = [f"P{i}" for i in range(k)]
    pheno = pd.DataFrame(y, columns=names)
    pheno.insert(0, "IID", samples)
    pheno.insert(0, "#FID", samples)
    pheno.to_csv(tmp_path / "p.txt", sep="\t", index=False, float_format="%.17g")
    covar = pd.DataFrame(cov, columns=["C1", "C2", "C3"])
    covar.insert(0, "IID", samples)
    covar.insert(0, "#FID", samples)
    covar.to_csv(tmp_path / "c.txt", sep="\t", index=False, float_format="%.17g")
    cmd = [
        "plink2", "--bfile", str(tmp_path / "x"), "--pheno", str(tmp_path / "p.txt"),
        "--covar", str(tmp_path / "c.txt"), "--glm", "omit-ref", "hide-covar",
        "cols=+a1freq,+beta", "--covar-variance-standardize", "--threads", "2", "--out", str(tmp_path / "y"),
    ]  # fmt: skip
    subprocess.run(cmd, check=True, capture_output=True)
    r = gwas(g, y, cov)
    for i, name in enumerate(names):
        pl = _read_glm(tmp_path / f"y.{name}.glm.linear")
        assert (pl["ID"].to_numpy() == ids).all()
        assert (pl["A1"].to_numpy() == alt).all()  # the ALT allele's effect
        np.testing.assert_array_equal(pl["OBS_CT"].to_numpy(), r.n_obs)
        np.testing.assert_allclose(r.t[:, i], pl["T_STAT"], rtol=1e-4)
        np.testing.assert_allclose(r.beta[:, i], pl["BETA"], rtol=1e-4, atol=1e-9)
        np.testing.assert_allclose(r.se[:, i], pl["SE"], rtol=1e-4)
        np.testing.assert_allclose(r.p[:, i], pl["P"], rtol=1e-3, atol=1e-300)
        np.testing.assert_allclose(r.alt_freq, pl["A1_FREQ"], rtol=1e-4)
    if miss:
        assert (r.n_obs < n).sum() > m // 2  # most SNPs have missing calls
    else:
        assert (r.n_obs == n).all()  # every SNP through the one-product path


def test_null_p_values_are_uniform():
    rng = np.random.default_rng(7)
    n, m = 500, 3000
    g = rng.binomial(2, rng.uniform(0.05, 0.5, m), size=(n, m)).astype(np.int8)
    g[rng.random((n, m)) < 0.01] = -1
    cov = rng.normal(size=(n, 2))
    y = rng.normal(size=(n, 2)) + cov[:, :1]
    y = y[rng.permutation(n)]
    r = gwas(g, y, cov)
    for i in range(2):
        assert stats.kstest(r.p[:, i], "uniform").pvalue > 0.001
    mv = multivariate_gwas(g, y, cov)
    assert stats.kstest(mv.p, "uniform").pvalue > 0.001


def test_select_snps_thresholds_and_clumps():
    p = np.array([0.5, 1e-8, 1e-9, np.nan, 1e-3, 1e-7])
    variants = pd.DataFrame({"chrom": ["1", "1", "1", "1", "2", "2"], "pos": [100, 1000, 1500, 2000, 1000, 1200]})
    assert select_snps(p).tolist() == [2, 1, 5, 4, 0]
    assert select_snps(p, n_snps=2).tolist() == [2, 1]
    assert select_snps(p, p_threshold=1e-5).tolist() == [2, 1, 5]
    assert select_snps(p, variants=variants, window_bp=600).tolist() == [2, 5, 0]
    with pytest.raises(GenofaceError, match="variants"):
        select_snps(p, window_bp=10)


def test_planted_loci_are_found():
    from genoface.simulate import simulate

    sim = simulate("oligogenic", n=1000, seed=2)
    cohort = sim.cohort
    faces = cohort.faces.reshape(cohort.n_samples, -1).astype(np.float64)
    faces -= faces.mean(0)
    w, v = np.linalg.eigh(faces @ faces.T)  # PCA through the n x n Gram matrix
    scores = v[:, ::-1][:, :20] * np.sqrt(np.maximum(w[::-1][:20], 0))  # shape-PCA scores
    sex = (cohort.covariates["sex"].to_numpy() == "M").astype(float)
    cov = np.column_stack([sex, cohort.covariates["age"].to_numpy(), cohort.covariates["bmi"].to_numpy()])
    ids = cohort.variants["id"].to_numpy()
    causal = set(sim.truth.shape_snps[:20])
    mv = multivariate_gwas(cohort.genotypes, scores, cov)
    chosen = select_snps(mv, n_snps=20, variants=cohort.variants, window_bp=50_000)
    # A causal locus is found when a chosen SNP is the causal one or tags it (within 20 kb).
    vpos = cohort.variants.set_index("id")
    near = 0
    for snp in causal:
        c, p = vpos.loc[snp, "chrom"], vpos.loc[snp, "pos"]
        sel = cohort.variants.iloc[chosen]
        near += bool(((sel["chrom"] == c) & ((sel["pos"] - p).abs() <= 20_000)).any())
    exact = len(causal & set(ids[chosen]))
    print(f"planted loci: {near}/20 tagged, {exact} exact")
    assert near >= 14
    assert exact >= 5
    # Every causal SNP's own test is far stronger than chance.
    idx = np.flatnonzero(np.isin(ids, list(causal)))
    assert np.median(mv.p[idx]) < 1e-6
    uni = gwas(cohort.genotypes, scores, cov)
    top = ids[select_snps(uni, n_snps=40)]
    assert len(causal & set(top)) >= 3
