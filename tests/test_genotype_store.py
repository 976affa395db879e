"""The chunked genotype store (Zarr, sgkit's names) and the lazy cohort read from it: what goes
in comes out, a PLINK fileset goes in a slice at a time (proved under a memory cap smaller than
its matrix), and every genotype pass gives the same numbers on a lazy cohort as in memory."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import tracemalloc

import numpy as np
import pandas as pd
import pytest

from genoface.cohort import Cohort
from genoface.core.errors import GenofaceError
from genoface.genetics import AncestryPCA, gwas, variant_stats
from genoface.io import (
    StoredDosages,
    open_genotype_store,
    open_plink,
    open_vcf,
    read_genotypes,
    write_genotype_store,
    write_plink,
    write_vcf,
)
from genoface.io.genotype_store import iter_store_blocks, rechunk_blocks
from genoface.models import make_model


def _variants(m: int) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "chrom": ["1"] * (m - m // 3) + ["X"] * (m // 3),
            "pos": np.arange(1, m + 1) * 100,
            "id": [f"rs{i}" for i in range(m)],
            "ref": ["A"] * m,
            "alt": ["G"] * m,
        }
    )


def test_store_round_trip_in_sgkit_names(tmp_path):
    rng = np.random.default_rng(0)
    g = rng.integers(-1, 3, (40, 90)).astype(np.int8)
    ids = np.array([f"s{i}" for i in range(40)])
    path = write_genotype_store(tmp_path / "g.zarr", ids, _variants(90), iter_store_blocks(g))
    store = open_genotype_store(path)
    np.testing.assert_array_equal(np.asarray(store.dosages), g)
    np.testing.assert_array_equal(store.sample_ids, ids)
    pd.testing.assert_frame_equal(store.variants, _variants(90).astype(store.variants.dtypes.to_dict()))
    rows, cols = np.array([7, 2, 30]), np.array([1, 5, 89])
    np.testing.assert_array_equal(store.dosages[rows][:, cols], g[rows][:, cols])
    np.testing.assert_array_equal(store.dosages[:, cols], g[:, cols])
    np.testing.assert_array_equal(store.dosages.take_rows(rows)[1:, 10:20], g[rows][1:, 10:20])
    np.testing.assert_array_equal(store.dosages.take_rows(rows).to_dask().compute(), g[rows])
    # What sgkit and xarray.open_zarr look for: variables, orientation and dimension names.
    attrs = {name: json.loads((path / name / ".zattrs").read_text()) for name in ("call_dosage", "variant_allele")}
    assert attrs["call_dosage"]["_ARRAY_DIMENSIONS"] == ["variants", "samples"]
    assert attrs["variant_allele"]["_ARRAY_DIMENSIONS"] == ["variants", "alleles"]
    assert {"sample_id", "variant_contig", "variant_position", "variant_id"} <= {p.name for p in path.iterdir()}
    assert json.loads((path / ".zattrs").read_text())["contigs"] == ["1", "X"]


def test_store_refuses_bad_blocks_and_leaves_nothing(tmp_path):
    g = np.zeros((5, 10), dtype=np.int8)
    g[2, 3] = 3
    with pytest.raises(GenofaceError, match="not 0, 1, 2 or -1"):
        write_genotype_store(tmp_path / "bad.zarr", np.array(list("abcde")), _variants(10), iter_store_blocks(g))
    with pytest.raises(GenofaceError, match=r"ended at variant 4 of 10"):
        blocks = [(0, 4, np.zeros((5, 4), dtype=np.int8))]
        write_genotype_store(tmp_path / "short.zarr", np.array(list("abcde")), _variants(10), blocks)
    assert not any(tmp_path.iterdir())
    (tmp_path / "junk.zarr").mkdir()
    with pytest.raises(GenofaceError, match="not a genoface genotype store"):
        open_genotype_store(tmp_path / "junk.zarr")


def test_plink_read_in_slices_equals_the_whole_read(tmp_path, genetics_cohort):
    c = genetics_cohort
    write_plink(tmp_path / "g", c.sample_ids, c.genotypes, c.variants)
    plink = open_plink(tmp_path / "g.bed")
    whole = plink.read()
    np.testing.assert_array_equal(whole, c.genotypes)
    sliced = np.concatenate([b for _, _, b in plink.blocks(17)], axis=1)
    np.testing.assert_array_equal(sliced, whole)


@pytest.fixture(scope="module")
def lazy_and_eager(genetics_cohort, tmp_path_factory):
    d = genetics_cohort.save(tmp_path_factory.mktemp("lazy") / "c", genotype_format="bed")
    return Cohort.load(d, lazy=True), Cohort.load(d)


def test_lazy_cohort_equals_the_cohort_in_memory(lazy_and_eager, genetics_cohort):
    lazy, eager = lazy_and_eager
    assert isinstance(lazy.genotypes, StoredDosages) and isinstance(eager.genotypes, np.ndarray)
    np.testing.assert_array_equal(np.asarray(lazy.genotypes), genetics_cohort.genotypes)
    assert lazy.hash() == eager.hash() == genetics_cohort.hash()
    part = lazy.subset(np.array([5, 1, 200]))
    assert isinstance(part.genotypes, StoredDosages)
    np.testing.assert_array_equal(np.asarray(part.genotypes), genetics_cohort.genotypes[[5, 1, 200]])


def test_genotype_passes_are_the_same_on_a_lazy_cohort(lazy_and_eager):
    lazy, eager = lazy_and_eager
    is_x = (eager.variants["chrom"] == "X").to_numpy()
    male = (eager.covariates["sex"] == "M").to_numpy()
    pd.testing.assert_frame_equal(
        variant_stats(lazy.genotypes, is_x=is_x, is_male=male), variant_stats(eager.genotypes, is_x=is_x, is_male=male)
    )
    y = np.asarray(eager.faces[:, :4, 1], dtype=np.float64)
    np.testing.assert_allclose(gwas(lazy.genotypes, y).t, gwas(eager.genotypes, y).t, rtol=1e-10, equal_nan=True)
    pcs = [AncestryPCA(n_components=3).fit(c.genotypes, c.variants) for c in (lazy, eager)]
    scores = [p.transform(c.genotypes, c.variants["id"]) for p, c in zip(pcs, (lazy, eager), strict=True)]
    np.testing.assert_allclose(np.abs(scores[0]), np.abs(scores[1]), rtol=1e-6, atol=1e-9)
    train = [c.subset(np.arange(240)) for c in (lazy, eager)]
    test = [c.subset(np.arange(240, 300)) for c in (lazy, eager)]
    predictions = [
        make_model("lippert", n_snps=50).fit(tr).predict(te, te.covariates) for tr, te in zip(train, test, strict=True)
    ]
    np.testing.assert_allclose(predictions[0], predictions[1], rtol=1e-10)


_OUT_OF_CORE = textwrap.dedent(
    """
    import resource, sys, numpy as np
    from pathlib import Path
    from genoface.io import open_genotype_store, open_plink
    from genoface.io.genotype_store import write_genotype_store
    from genoface.io.genotype_store import store_chunks

    tmp, n, m = Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
    def data_bytes():
        return int(next(l for l in open("/proc/self/status") if l.startswith("VmData")).split()[1]) * 1024
    plink = open_plink(tmp / "big.bed")
    # Warm up (imports, zarr's thread pool) on a small store before capping the memory.
    write_genotype_store(tmp / "warm.zarr", plink.sample_ids, plink.variants.iloc[:10], [next(plink.blocks(10))])
    cap = data_bytes() + (n * m) // 3
    resource.setrlimit(resource.RLIMIT_DATA, (cap, cap))
    try:
        plink.read()
        print("whole read fit under the cap")
        sys.exit(3)
    except MemoryError:
        pass
    chunk = store_chunks(n, m)[0]
    write_genotype_store(tmp / "big.zarr", plink.sample_ids, plink.variants, plink.blocks(chunk))
    store = open_genotype_store(tmp / "big.zarr")
    print(int(store.dosages[:, m - 5 :].astype(np.int64).sum()))
    """
)


def test_plink_goes_into_the_store_out_of_core(tmp_path):
    """A .bed whose int8 matrix is three times the memory left under RLIMIT_DATA: reading it
    whole fails there, writing it into the store a slice at a time does not."""
    n, m = 4000, 120_000  # 480 MB as int8
    rng = np.random.default_rng(1)
    row_bytes = (n + 3) // 4
    with open(tmp_path / "big.bed", "wb") as fh:
        fh.write(bytes([0x6C, 0x1B, 0x01]))
        for j0 in range(0, m, 10_000):  # any byte is a valid bed code (01 is a missing call)
            fh.write(rng.integers(0, 256, (10_000, row_bytes), dtype=np.uint8).tobytes())
    (tmp_path / "big.fam").write_text("".join(f"f{i} s{i} 0 0 0 -9\n" for i in range(n)))
    (tmp_path / "big.bim").write_text("".join(f"1\trs{j}\t0\t{j + 1}\tG\tA\n" for j in range(m)))
    run = subprocess.run(
        [sys.executable, "-c", _OUT_OF_CORE, str(tmp_path), str(n), str(m)], capture_output=True, text=True, timeout=600
    )
    assert run.returncode == 0, run.stdout + run.stderr
    # The last five variants decoded by hand: 2 bits a call, first sample lowest; counting allele
    # 1, 00 is 2 copies, 10 one, 11 none, 01 missing (-1).
    raw = np.frombuffer((tmp_path / "big.bed").read_bytes()[-5 * row_bytes :], dtype=np.uint8)
    codes = ((raw[:, None] >> np.array([0, 2, 4, 6])) & 3).reshape(5, -1)[:, :n]
    dosage = np.array([2, -1, 1, 0])[codes]
    assert int(run.stdout.split()[-1]) == int(dosage.sum())


def test_randomized_svd_by_blocks_finds_the_top_components(lazy_and_eager):
    """Against the exact SVD of the standardized matrix held whole, up to sign; the same numbers
    from the store as from memory."""
    from genoface.genetics import randomized_svd_by_blocks, standardize

    lazy, eager = lazy_and_eager
    stats = variant_stats(eager.genotypes)
    cols = np.flatnonzero((stats["maf"] > 0.05).to_numpy() & (eager.variants["chrom"] != "X").to_numpy())[::4]
    p = stats["alt_freq"].to_numpy()[cols]
    z = standardize(eager.genotypes[:, cols], p).astype(np.float64)
    u_exact, s_exact, _ = np.linalg.svd(z, full_matrices=False)
    u, s, vt, total = randomized_svd_by_blocks(eager.genotypes, cols, p, 2, seed=3, chunk=500)
    assert total == pytest.approx(float((z**2).sum()), rel=1e-9)
    np.testing.assert_allclose(s, s_exact[:2], rtol=1e-6)
    np.testing.assert_allclose(np.abs(u.T @ u_exact[:, :2]), np.eye(2), atol=1e-4)
    np.testing.assert_allclose(u * s, z @ vt.T, rtol=1e-3, atol=1e-3)  # the scores are the loadings applied
    stored = randomized_svd_by_blocks(lazy.genotypes, cols, p, 2, seed=3, chunk=500)
    np.testing.assert_allclose(stored[0], u, rtol=1e-9, atol=1e-12)


def test_blocks_regrouped_into_whole_chunks():
    g = np.arange(5 * 23).reshape(5, 23)
    cuts = [0, 4, 5, 17, 23]
    blocks = [(a, b, g[:, a:b]) for a, b in zip(cuts, cuts[1:], strict=False)]
    out = list(rechunk_blocks(blocks, 6))
    assert [(a, b) for a, b, _ in out] == [(0, 6), (6, 12), (12, 18), (18, 23)]
    for a, b, block in out:
        np.testing.assert_array_equal(block, g[:, a:b])


def test_bed_written_from_the_store_a_block_at_a_time(tmp_path, genetics_cohort):
    """write_plink takes the lazy view and equals the bed written from memory; a bad value
    leaves no partial fileset."""
    c = genetics_cohort
    write_genotype_store(tmp_path / "s.zarr", c.sample_ids, c.variants, iter_store_blocks(c.genotypes))
    store = open_genotype_store(tmp_path / "s.zarr")
    write_plink(tmp_path / "lazy", c.sample_ids, store.dosages, c.variants)
    write_plink(tmp_path / "eager", c.sample_ids, c.genotypes, c.variants)
    for suffix in (".bed", ".bim", ".fam"):
        assert (tmp_path / f"lazy{suffix}").read_bytes() == (tmp_path / f"eager{suffix}").read_bytes()
    bad = c.genotypes.copy()
    bad[3, -1] = 7
    with pytest.raises(GenofaceError, match="genotype 7 for sample"):
        write_plink(tmp_path / "bad", c.sample_ids, bad, c.variants)
    assert not list(tmp_path.glob("bad.*"))


def test_vcf_read_in_slices_equals_the_whole_read(tmp_path, genetics_cohort):
    c = genetics_cohort
    write_vcf(tmp_path / "g.vcf.gz", c.sample_ids, c.genotypes, c.variants)
    whole = read_genotypes(tmp_path / "g.vcf.gz")
    vcf = open_vcf(tmp_path / "g.vcf.gz")
    pd.testing.assert_frame_equal(vcf.variants, whole.variants)
    np.testing.assert_array_equal(vcf.sample_ids, whole.sample_ids)
    np.testing.assert_array_equal(vcf.read(), whole.genotypes)
    sliced = np.concatenate([b for _, _, b in vcf.blocks(17)], axis=1)
    np.testing.assert_array_equal(sliced, whole.genotypes)
    vcf.close()
    assert not vcf.spill.exists()
    (tmp_path / "bad.vcf").write_text(
        "##fileformat=VCFv4.2\n#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\ta\n"
    )
    with pytest.raises(GenofaceError, match="no biallelic SNPs"):
        open_vcf(tmp_path / "bad.vcf")


def test_a_vcf_cohort_goes_into_the_store_a_chunk_at_a_time(tmp_path, genetics_cohort):
    d = genetics_cohort.save(tmp_path / "c", genotype_format="vcf")
    lazy = Cohort.load(d, lazy=True)
    assert isinstance(lazy.genotypes, StoredDosages)
    np.testing.assert_array_equal(np.asarray(lazy.genotypes), genetics_cohort.genotypes)
    assert lazy.hash() == Cohort.load(d, use_cache=False).hash() == genetics_cohort.hash()


def _peak_bytes(fn) -> int:
    tracemalloc.start()
    try:
        fn()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_vcf_streaming_memory_does_not_grow_with_the_matrix(tmp_path):
    """Read whole, a VCF costs over twice its int8 matrix; streamed into chunks, the peak is a
    chunk's buffers plus the variant table: four times the variants add far less than four times."""
    n, rng, peaks = 1000, np.random.default_rng(2), {}
    for m in (5000, 20000):
        g = rng.integers(-1, 3, (n, m)).astype(np.int8)
        v = pd.DataFrame(
            {"chrom": "1", "pos": np.arange(1, m + 1) * 10, "id": [f"rs{j}" for j in range(m)], "ref": "A", "alt": "G"}
        )
        write_vcf(tmp_path / f"{m}.vcf.gz", [f"s{i}" for i in range(n)], g, v)

        def stream(path=tmp_path / f"{m}.vcf.gz"):
            vcf = open_vcf(path)
            for _ in vcf.blocks(1024):
                pass
            vcf.close()

        peaks[m] = (_peak_bytes(stream), _peak_bytes(lambda path=tmp_path / f"{m}.vcf.gz": read_genotypes(path)))
    (lazy_small, eager_small), (lazy_big, eager_big) = peaks[5000], peaks[20000]
    assert eager_big > 2 * n * 20000 and eager_big > 2.5 * eager_small, peaks  # the whole read grows with it
    assert lazy_big < 2 * lazy_small and lazy_big < eager_big / 2, peaks
