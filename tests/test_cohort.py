"""The cohort directory: save/load round trips, the cache, the join by sample id, splits."""

from __future__ import annotations

import json
import os
import shutil

import numpy as np
import pandas as pd
import pytest

from genoface.cohort import CACHE_DIR, COHORT_FORMAT_VERSION, Cohort, load_cohort
from genoface.core.errors import GenofaceError
from genoface.io.meshes import write_mesh


def _assert_same(a: Cohort, b: Cohort) -> None:
    np.testing.assert_array_equal(a.sample_ids, b.sample_ids)
    np.testing.assert_array_equal(a.genotypes, b.genotypes)
    np.testing.assert_array_equal(a.faces, b.faces)
    np.testing.assert_array_equal(a.template_vertices, b.template_vertices)
    np.testing.assert_array_equal(a.template_triangles, b.template_triangles)
    pd.testing.assert_frame_equal(a.variants, b.variants)
    pd.testing.assert_frame_equal(a.covariates, b.covariates)
    assert a.genotypes.dtype == np.int8 and a.faces.dtype == np.float32
    assert a.hash() == b.hash()


# ---- round trips and the cache -----------------------------------------------------------------------


def test_save_then_load_is_identical(tiny_cohort, tiny_cohort_dir):
    loaded = Cohort.load(tiny_cohort_dir)
    _assert_same(loaded, tiny_cohort)
    assert loaded.path == tiny_cohort_dir
    assert loaded.meta["n"] == tiny_cohort.n_samples and loaded.meta["units"] == "mm"
    assert loaded.meta["format_version"] == COHORT_FORMAT_VERSION
    assert not loaded.is_simulated and loaded.truth_dir is None
    names = {p.name for p in tiny_cohort_dir.iterdir()}
    assert {"cohort.json", "template.ply", "faces", "covariates.tsv"} <= names
    assert len(list((tiny_cohort_dir / "faces").glob("*.ply"))) == tiny_cohort.n_samples


def test_second_load_uses_the_cache_and_a_changed_source_rebuilds_it(tiny_cohort, tiny_cohort_dir):
    first = load_cohort(tiny_cohort_dir)
    manifest = tiny_cohort_dir / CACHE_DIR / "manifest.json"
    assert manifest.is_file()
    sources = {s["path"] for s in json.loads(manifest.read_text())["sources"]}
    assert (
        "cohort.json" in sources and "covariates.tsv" in sources and f"faces/{tiny_cohort.sample_ids[0]}.ply" in sources
    )
    assert not isinstance(first.faces, np.memmap)
    assert (tiny_cohort_dir / CACHE_DIR / "genotypes.zarr").is_dir()

    second = load_cohort(tiny_cohort_dir)
    assert isinstance(second.faces, np.memmap) and isinstance(second.genotypes, np.ndarray)
    _assert_same(second, tiny_cohort)

    # Touching a source (same content, new mtime) rebuilds the cache from the files.
    face = tiny_cohort_dir / "faces" / f"{tiny_cohort.sample_ids[3]}.ply"
    st = face.stat()
    os.utime(face, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))
    rebuilt = load_cohort(tiny_cohort_dir)
    assert not isinstance(rebuilt.faces, np.memmap)
    assert any(s["mtime_ns"] == st.st_mtime_ns + 1_000_000_000 for s in json.loads(manifest.read_text())["sources"])
    assert isinstance(load_cohort(tiny_cohort_dir).faces, np.memmap)

    # Changing a source's content is seen on the next load.
    cov_path = tiny_cohort_dir / "covariates.tsv"
    cov_path.write_text(cov_path.read_text().replace("\tCEU\t", "\tTSI\t"))
    changed = load_cohort(tiny_cohort_dir)
    assert "TSI" in set(changed.covariates["population"]) and "CEU" not in set(changed.covariates["population"])


def test_no_cache_when_asked_or_when_it_cannot_be_written(tiny_cohort, tiny_cohort_dir, monkeypatch):
    _assert_same(Cohort.load(tiny_cohort_dir, use_cache=False), tiny_cohort)
    assert not (tiny_cohort_dir / CACHE_DIR).exists()

    def read_only(*args, **kwargs):
        raise PermissionError(13, "Permission denied", str(tiny_cohort_dir))

    monkeypatch.setattr("genoface.cohort._cache.atomic_directory", read_only)
    _assert_same(Cohort.load(tiny_cohort_dir), tiny_cohort)  # silently uncached
    assert not (tiny_cohort_dir / CACHE_DIR).exists()


@pytest.mark.parametrize("damaged", ["genotypes.zarr/call_dosage/.zarray", "faces.npy"])
def test_a_corrupt_cache_is_rebuilt(tiny_cohort, tiny_cohort_dir, damaged):
    Cohort.load(tiny_cohort_dir)
    (tiny_cohort_dir / CACHE_DIR / damaged).write_bytes(b"garbage")
    _assert_same(Cohort.load(tiny_cohort_dir), tiny_cohort)
    assert isinstance(Cohort.load(tiny_cohort_dir).faces, np.memmap)


def test_save_that_fails_midway_leaves_nothing(tiny_cohort, tmp_path, monkeypatch):
    def boom(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr("genoface.cohort._cohort.write_covariates", boom)  # the last file written
    with pytest.raises(OSError, match="disk full"):
        tiny_cohort.save(tmp_path / "out")
    assert list(tmp_path.iterdir()) == []


def test_save_refuses_to_overwrite_unless_asked(tiny_cohort, tmp_path):
    out = tiny_cohort.save(tmp_path / "out")
    with pytest.raises(GenofaceError, match="already exists"):
        tiny_cohort.save(out)
    tiny_cohort.save(out, genotype_format="bed", overwrite=True)
    assert (out / "genotypes.bed").is_file() and not (out / "genotypes.vcf.gz").exists()


# ---- the join and the checks -------------------------------------------------------------------------


@pytest.fixture
def cohort_dir(tmp_path, tiny_cohort):
    return tiny_cohort.save(tmp_path / "c")


def test_person_missing_from_a_source_is_named(cohort_dir, tiny_cohort):
    ids = tiny_cohort.sample_ids
    (cohort_dir / "faces" / f"{ids[4]}.ply").unlink()
    cov = cohort_dir / "covariates.tsv"
    cov.write_text(cov.read_text() + "STRANGER\tF\t30\t22\tCEU\tblue\t160\n")
    with pytest.raises(GenofaceError) as e:
        Cohort.load(cohort_dir)
    msg = str(e.value)
    assert "\n" not in msg
    assert "1 missing from the genotypes (STRANGER)" in msg
    assert f"2 missing from faces/ ({ids[4]}, STRANGER)" in msg
    assert "covariates.tsv (" not in msg


def test_many_missing_ids_are_summarized(cohort_dir, tiny_cohort):
    for sid in tiny_cohort.sample_ids[:8]:
        (cohort_dir / "faces" / f"{sid}.ply").unlink()
    with pytest.raises(GenofaceError, match=r"8 missing from faces/ \(P000, P001, P002, P003, P004 and 3 more\)"):
        Cohort.load(cohort_dir)


def test_face_with_wrong_vertex_count_names_the_file(cohort_dir, tiny_cohort):
    sid = tiny_cohort.sample_ids[2]
    write_mesh(cohort_dir / "faces" / f"{sid}.ply", tiny_cohort.template_vertices[:40])
    with pytest.raises(GenofaceError, match=rf"faces/{sid}\.ply: has 40 vertices but the template has 42"):
        Cohort.load(cohort_dir)


def test_nan_coordinates_name_the_file(cohort_dir, tiny_cohort):
    import trimesh

    sid = tiny_cohort.sample_ids[5]
    v = tiny_cohort.faces[5].astype(np.float64)
    v[7] = np.nan
    trimesh.Trimesh(v, tiny_cohort.template_triangles, process=False).export(cohort_dir / "faces" / f"{sid}.ply")
    with pytest.raises(GenofaceError, match=rf"faces/{sid}\.ply: 1 vertices have NaN"):
        Cohort.load(cohort_dir)


def test_obj_faces_are_accepted(cohort_dir, tiny_cohort):
    sid = tiny_cohort.sample_ids[0]
    ply = cohort_dir / "faces" / f"{sid}.ply"
    v = tiny_cohort.faces[0]
    lines = [f"v {float(x)!r} {float(y)!r} {float(z)!r}" for x, y, z in v]
    lines += [f"f {a + 1} {b + 1} {c + 1}" for a, b, c in tiny_cohort.template_triangles]
    ply.with_suffix(".obj").write_text("\n".join(lines) + "\n")
    with pytest.raises(GenofaceError, match=f"two meshes for sample {sid}"):
        Cohort.load(cohort_dir)
    ply.unlink()
    _assert_same(Cohort.load(cohort_dir), tiny_cohort)


def test_cohort_json_is_validated(cohort_dir):
    meta_path = cohort_dir / "cohort.json"
    meta = json.loads(meta_path.read_text())
    for change, message in [
        ({"units": "cm"}, r'units must be "mm", got \'cm\''),
        (
            {"format_version": COHORT_FORMAT_VERSION + 1},
            r"format_version 2 is newer than this genoface reads \(1\); upgrade genoface",
        ),
        ({"n": 99}, "says n = 99 but the genotypes hold 12 people"),
    ]:
        meta_path.write_text(json.dumps({**meta, **change}))
        with pytest.raises(GenofaceError, match=message):
            Cohort.load(cohort_dir, use_cache=False)
    meta_path.write_text("{not json")
    with pytest.raises(GenofaceError, match="invalid JSON at line 1"):
        Cohort.load(cohort_dir)
    meta_path.unlink()
    with pytest.raises(GenofaceError, match="no cohort.json"):
        Cohort.load(cohort_dir)


def test_genotype_files_must_be_exactly_one(cohort_dir, tiny_cohort):
    tiny_cohort.write(cohort_dir, genotype_format="bed")  # now both VCF and bed
    with pytest.raises(GenofaceError, match=r"several genotype files \(genotypes.vcf.gz, genotypes.bed\)"):
        Cohort.load(cohort_dir)
    (cohort_dir / "genotypes.vcf.gz").unlink()
    (cohort_dir / "genotypes.fam").unlink()
    with pytest.raises(GenofaceError, match="genotypes.bed without genotypes.fam"):
        Cohort.load(cohort_dir)
    (cohort_dir / "genotypes.bed").unlink()
    with pytest.raises(GenofaceError, match="no genotype file"):
        Cohort.load(cohort_dir)


def test_missing_directory_and_parts(tmp_path, cohort_dir):
    with pytest.raises(GenofaceError, match="no such cohort directory"):
        Cohort.load(tmp_path / "nowhere")
    shutil.rmtree(cohort_dir / "faces")
    with pytest.raises(GenofaceError, match="no faces/ folder"):
        Cohort.load(cohort_dir)


# ---- subsets, splits, description --------------------------------------------------------------------


def test_split_is_reproducible_and_disjoint(tiny_cohort):
    train, test = tiny_cohort.split(0.25, seed=3)
    again_train, again_test = tiny_cohort.split(0.25, seed=3)
    np.testing.assert_array_equal(train.sample_ids, again_train.sample_ids)
    np.testing.assert_array_equal(test.sample_ids, again_test.sample_ids)
    assert test.n_samples == 3 and train.n_samples == 9
    assert not set(train.sample_ids) & set(test.sample_ids)
    assert set(train.sample_ids) | set(test.sample_ids) == set(tiny_cohort.sample_ids)
    other = tiny_cohort.split(0.25, seed=4)[1]
    assert set(other.sample_ids) != set(test.sample_ids)
    # Each part is consistent: rows of every array and table follow its sample ids.
    pos = {s: i for i, s in enumerate(tiny_cohort.sample_ids)}
    idx = [pos[s] for s in test.sample_ids]
    np.testing.assert_array_equal(test.genotypes, tiny_cohort.genotypes[idx])
    np.testing.assert_array_equal(test.faces, tiny_cohort.faces[idx])
    assert list(test.covariates.index) == list(test.sample_ids)
    assert test.meta["n"] == 3


@pytest.mark.parametrize("fraction", [0, 1, -0.1, 1.5, 0.01, 0.99])
def test_split_refuses_degenerate_fractions(tiny_cohort, fraction):
    with pytest.raises(GenofaceError, match="test fraction"):
        tiny_cohort.split(fraction, seed=0)


def test_subset_and_mask(tiny_cohort):
    sub = tiny_cohort.subset([5, 1])
    assert list(sub.sample_ids) == [tiny_cohort.sample_ids[5], tiny_cohort.sample_ids[1]]
    mask = np.zeros(tiny_cohort.n_samples, dtype=bool)
    mask[[1, 5]] = True
    assert list(tiny_cohort.subset(mask).sample_ids) == sorted(sub.sample_ids)
    with pytest.raises(GenofaceError, match="duplicate sample ids"):
        tiny_cohort.subset([1, 1])
    with pytest.raises(GenofaceError, match="must lie in"):
        tiny_cohort.subset([99])


def test_hash_follows_content(tiny_cohort):
    h = tiny_cohort.hash()
    assert len(h) == 64 and h == tiny_cohort.subset(np.arange(tiny_cohort.n_samples)).hash()
    changed = tiny_cohort.subset(np.arange(tiny_cohort.n_samples))
    changed.faces[0, 0, 0] += 0.5
    assert changed.hash() != h
    assert tiny_cohort.hash() is h  # computed once per object
    assert tiny_cohort.subset(np.arange(1, tiny_cohort.n_samples)).hash() != h


def test_summary_and_repr(tiny_cohort, tmp_path):
    s = tiny_cohort.summary()
    assert s["n"] == 12 and s["n_variants"] == 38 and s["n_variants_x"] == 8 and s["n_vertices"] == 42
    assert s["populations"] == {"CEU": 6, "YRI": 6} and s["sex"] == {"F": 6, "M": 6}
    assert s["age"]["missing"] == 1 and 18 < s["age"]["mean"] < 80
    json.dumps(s)
    assert repr(tiny_cohort) == "Cohort('tiny', n=12, variants=38, vertices=42)"
    sim = Cohort(**{**tiny_cohort.__dict__, "meta": {**tiny_cohort.meta, "simulated": True}})
    out = sim.save(tmp_path / "sim")
    (out / "truth").mkdir()
    loaded = Cohort.load(out)
    assert loaded.is_simulated and loaded.truth_dir == out / "truth"
    assert "simulated" in repr(loaded)


def test_constructor_checks_shapes(tiny_cohort):
    parts = dict(tiny_cohort.__dict__)
    with pytest.raises(GenofaceError, match="faces have shape"):
        Cohort(**{**parts, "faces": parts["faces"][:, :10]})
    with pytest.raises(GenofaceError, match="genotypes must be 0, 1, 2 or -1"):
        Cohort(**{**parts, "genotypes": parts["genotypes"].astype(np.int64) * 3})
    with pytest.raises(GenofaceError, match="samples without covariates"):
        Cohort(**{**parts, "covariates": parts["covariates"].iloc[1:]})
    shuffled = Cohort(**{**parts, "covariates": parts["covariates"].iloc[::-1]})
    pd.testing.assert_frame_equal(shuffled.covariates, tiny_cohort.covariates)  # put in sample order


def test_faces_may_come_as_one_array(tiny_cohort, tmp_path):
    """faces.npy (n x V x 3 float32, in the genotype file's sample order) instead of faces/:
    read as a memory map, used in place by the cache, and checked like the PLY faces."""
    tiny_cohort.save(tmp_path / "c", genotype_format="bed", faces_format="npy")
    assert not (tmp_path / "c" / "faces").exists()
    loaded = Cohort.load(tmp_path / "c")
    assert loaded.hash() == tiny_cohort.hash()
    assert isinstance(loaded.faces, np.memmap)
    assert not (tmp_path / "c" / CACHE_DIR / "faces.npy").exists()  # not copied
    assert Cohort.load(tmp_path / "c").hash() == tiny_cohort.hash()  # from the cache
    first = loaded.subset(np.arange(1, 4))  # one run of people: still mapped, not copied
    assert isinstance(first.faces, np.memmap) and np.array_equal(first.faces, tiny_cohort.faces[1:4])
    scattered = loaded.subset(np.array([3, 0]))
    assert not isinstance(scattered.faces, np.memmap) and np.array_equal(scattered.faces, tiny_cohort.faces[[3, 0]])
    faces = np.array(tiny_cohort.faces)
    faces[2, 0, 1] = np.nan
    np.save(tmp_path / "c" / "faces.npy", faces)
    with pytest.raises(GenofaceError, match="face 2 .* NaN"):
        Cohort.load(tmp_path / "c")
    np.save(tmp_path / "c" / "faces.npy", faces[1:])
    with pytest.raises(GenofaceError, match="expected float32"):
        Cohort.load(tmp_path / "c")
    (tmp_path / "c" / "faces").mkdir()
    with pytest.raises(GenofaceError, match="both faces/ and faces.npy"):
        Cohort.load(tmp_path / "c")
