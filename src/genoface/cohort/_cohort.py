"""The cohort: genotypes, registered faces and covariates of the same people, joined by sample id.

On disk it is the cohort directory of DESIGN "Contracts"; in memory, the :class:`Cohort`.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import os
import weakref
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from genoface.cohort._cache import read_cache, source_signature, write_cache
from genoface.core.errors import GenofaceError
from genoface.core.files import atomic_directory, write_json
from genoface.core.schema import REQUIRED_COLUMNS, SEXES, X, is_x, normalize_build, normalize_chroms
from genoface.io.covariates import read_covariates, write_covariates
from genoface.io.genotype_store import (
    StoredDosages,
    fill_store,
    iter_store_blocks,
    open_genotype_store,
    store_chunks,
)
from genoface.io.genotypes import (
    GenotypeData,
    PlinkFileset,
    VcfFileset,
    open_plink,
    open_vcf,
    variant_table,
    write_plink,
    write_vcf,
)
from genoface.io.meshes import (
    MESH_SUFFIXES,
    read_face_array,
    read_mesh,
    read_mesh_vertices,
    write_face_array,
    write_mesh,
)

log = logging.getLogger(__name__)

#: Version of the cohort directory format written by this genoface (``format_version``).
COHORT_FORMAT_VERSION = 1
#: Genotype file names a cohort directory may hold (exactly one of them).
GENOTYPE_FILES = ("genotypes.vcf.gz", "genotypes.vcf", "genotypes.bcf", "genotypes.bed")
GENOTYPE_FORMATS = ("vcf", "bed")
#: How a cohort's faces may be written: one PLY per person, or one array file.
FACE_FORMATS = ("ply", "npy")

#: Genotype matrices larger than this (bytes, one per call) stay on disk in the cohort's store and
#: are read a block at a time (a lazy cohort); smaller ones are read into memory.
IN_MEMORY_GENOTYPES = 1 << 31

_META = "cohort.json"
_COVARIATES = "covariates.tsv"
_FACES = "faces"
#: The faces of a large cohort may come as one array, (n, V, 3) float32 in sample order.
FACE_ARRAY = "faces.npy"
_TEMPLATE = "template"


# Content hashes computed so far, per Cohort object (see Cohort.hash).
_HASHES: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


@dataclass(eq=False)
class Cohort:
    """n people with genotypes at m variants and faces of V vertices (mm), joined by sample id.

    Attributes
    ----------
    sample_ids : (n,) str, the canonical order (that of the genotype file).
    genotypes : (n, m) int8 ALT dosage 0/1/2, -1 missing; males hemizygous (0/2) on X. A NumPy
        array, or for a lazy cohort a :class:`StoredDosages` that reads its store where indexed
        (``genotypes[rows, cols]``; ``.to_dask()`` for the Dask engine).
    variants : columns chrom, pos, id, ref, alt.
    faces : (n, V, 3) float32, registered to the template, mm.
    template_vertices : (V, 3) float64; template_triangles : (T, 3) int64.
    covariates : indexed by sample_id in the order of ``sample_ids``; sex (F/M), age, bmi, ...
    meta : the content of cohort.json.
    path : the directory it was loaded from (kept by :meth:`subset` and :meth:`split`).

    A cohort loaded from its cache holds ``faces`` as a read-only memory map: copy it before
    writing into it.
    """

    sample_ids: np.ndarray
    genotypes: np.ndarray | StoredDosages
    variants: pd.DataFrame
    faces: np.ndarray
    template_vertices: np.ndarray
    template_triangles: np.ndarray
    covariates: pd.DataFrame
    meta: dict = field(default_factory=dict)
    path: Path | None = None

    def __post_init__(self) -> None:
        # Cheap checks only (shapes, dtypes, ids): this runs on memory maps of a cached cohort.
        self.sample_ids = np.asarray(self.sample_ids, dtype=str)
        n = len(self.sample_ids)
        if self.sample_ids.ndim != 1 or n == 0:
            raise GenofaceError(
                f"a cohort needs a 1-D list of at least one sample id, got shape {self.sample_ids.shape}"
            )
        dups = pd.Index(self.sample_ids)[pd.Index(self.sample_ids).duplicated()]
        if len(dups):
            raise GenofaceError(f"duplicate sample ids in the cohort: {_some(list(dups.unique()))}")
        self.genotypes = _as_int8_dosage(self.genotypes)
        self.variants = variant_table(self.variants)
        if self.genotypes.shape != (n, len(self.variants)):
            raise GenofaceError(
                f"genotypes have shape {self.genotypes.shape}, expected ({n} samples, {len(self.variants)} variants)"
            )
        # Meshes are stored as float32 PLY, so the template is held at float32 precision too:
        # the cohort in memory then equals the cohort saved and loaded again, bit for bit.
        self.template_vertices = np.asarray(self.template_vertices, dtype=np.float32).astype(np.float64)
        self.template_triangles = np.asarray(self.template_triangles, dtype=np.int64)
        v = len(self.template_vertices)
        if self.template_vertices.shape != (v, 3) or v == 0:
            raise GenofaceError(f"template vertices must have shape (V, 3), got {self.template_vertices.shape}")
        t = self.template_triangles
        if t.ndim != 2 or t.shape[1] != 3 or (len(t) and (t.min() < 0 or t.max() >= v)):
            raise GenofaceError(f"template triangles must be (T, 3) indices into {v} vertices")
        if self.faces.dtype != np.float32:
            self.faces = np.asarray(self.faces, dtype=np.float32)
        if self.faces.shape != (n, v, 3):
            raise GenofaceError(f"faces have shape {self.faces.shape}, expected ({n} people, {v} template vertices, 3)")
        self.covariates = _aligned_covariates(self.covariates, self.sample_ids)
        self.meta = dict(self.meta)
        if self.path is not None:
            self.path = Path(self.path)

    # ---- sizes and flags ------------------------------------------------------------------------

    @property
    def n_samples(self) -> int:
        return len(self.sample_ids)

    @property
    def n_variants(self) -> int:
        return self.genotypes.shape[1]

    @property
    def n_vertices(self) -> int:
        return self.faces.shape[1]

    @property
    def genotype_file(self) -> Path | None:
        """The genotype file of the cohort directory it was loaded from (the .bed of a PLINK
        set); None for a cohort built in memory."""
        return None if self.path is None else _genotype_files(Path(self.path))[0]

    @property
    def is_simulated(self) -> bool:
        return bool(self.meta.get("simulated", False))

    @property
    def truth_dir(self) -> Path | None:
        """``<path>/truth`` of a simulated cohort where that folder exists, else None."""
        if self.path is None or not (self.path / "truth").is_dir():
            return None
        return self.path / "truth"

    # ---- loading and saving ---------------------------------------------------------------------

    @classmethod
    def load(
        cls, path: str | os.PathLike, *, use_cache: bool = True, lazy: bool | None = None, progress: Any = None
    ) -> Cohort:
        """Read a cohort directory, joining genotypes, faces and covariates by sample id.

        With ``use_cache`` the parsed cohort is kept in ``<path>/.genoface_cache/``: genotypes in
        a chunked Zarr store (:mod:`genoface.io.genotype_store`), faces as a memory-mapped array.
        Later loads read it there, as long as no source file changed (size and mtime are
        checked). ``lazy``: keep the genotypes on disk, read a block at a time
        (:class:`StoredDosages`); None decides by size (``IN_MEMORY_GENOTYPES``). A lazy PLINK
        cohort goes into its store a slice of variants at a time, never whole in memory.
        """
        root = Path(path)
        if not root.is_dir():
            raise GenofaceError(f"{root}: no such cohort directory; give the folder holding cohort.json")
        meta = _read_meta(root)
        geno_files = _genotype_files(root)
        template_path = _template_file(root)
        cov_path = root / _COVARIATES
        if not cov_path.is_file():
            raise GenofaceError(f"{root}: no {_COVARIATES}; write one with columns sample_id, sex, age, bmi")
        face_paths = _face_files(root)
        face_files = list(face_paths.values()) if isinstance(face_paths, dict) else [face_paths]
        sources = [root / _META, *geno_files, template_path, cov_path, *face_files]
        signature = source_signature(root, sources) if use_cache else []

        if use_cache:
            cached = read_cache(root, signature, COHORT_FORMAT_VERSION)
            if cached is not None:
                try:
                    cohort = cls._from_cache(cached, meta, root, lazy)
                except (GenofaceError, KeyError, ValueError, OSError) as e:
                    log.warning("%s: cache inconsistent (%s); rebuilding it", root, e)
                else:
                    _check_meta_n(meta, cohort.n_samples, root)
                    return cohort

        parts = _read_sources(root, meta, geno_files[0], template_path, cov_path, face_paths, lazy)
        if isinstance(parts["genotypes"], _FILESETS):  # lazy: straight into the store
            fileset = parts["genotypes"]
            try:
                if use_cache and _write_cohort_cache(root, signature, parts, progress):
                    return cls._from_cache(read_cache(root, signature, COHORT_FORMAT_VERSION), meta, root, True)
                log.warning("%s: the cache cannot be written, so the genotypes are read into memory", root)
                parts["genotypes"] = fileset.read()
            finally:
                if isinstance(fileset, VcfFileset):
                    fileset.close()
        cohort = cls(**parts, meta=meta, path=root)
        if use_cache:
            cohort._write_cache(root, signature, progress)
        return cohort

    @classmethod
    def _from_cache(cls, cached: dict[str, Any], meta: dict, root: Path, lazy: bool | None) -> Cohort:
        with np.load(cached["variants"], allow_pickle=False) as v:
            variants = pd.DataFrame({c: v[c] for c in v.files})
        genotypes: Any = open_genotype_store(cached["genotypes"]).dosages
        if not (lazy or (lazy is None and _too_large(*genotypes.shape))):
            genotypes = np.asarray(genotypes)
        return cls(
            sample_ids=cached["sample_ids"],
            genotypes=genotypes,
            variants=variants,
            # a cohort given as faces.npy is read there (checked when the cache was built)
            faces=cached["faces"] if "faces" in cached else np.load(root / FACE_ARRAY, mmap_mode="r"),
            template_vertices=cached["template_vertices"],
            template_triangles=cached["template_triangles"],
            covariates=read_covariates(cached["covariates"]),
            meta=meta,
            path=root,
        )

    def _write_cache(self, root: Path, signature: list, progress: Any = None) -> None:
        parts = {k: getattr(self, k) for k in ("sample_ids", "genotypes", "variants", "faces", "covariates")}
        parts |= {"template_vertices": self.template_vertices, "template_triangles": self.template_triangles}
        _write_cohort_cache(root, signature, parts, progress)

    def write(
        self,
        directory: str | os.PathLike,
        *,
        genotype_format: str = "vcf",
        faces_format: str = "ply",
        faces_written: bool = False,
        progress: Any = None,
    ) -> Path:
        """Write the cohort files into the existing ``directory`` (not atomic: see :meth:`save`).

        ``genotype_format`` is "vcf" (genotypes.vcf.gz; males written haploid on X) or "bed"
        (PLINK 1, far smaller and faster for large cohorts; written a block of variants at a
        time, so a lazy cohort's genotypes are never read whole). ``faces_format`` is "ply" (one
        mesh per person in ``faces/``) or "npy" (one array ``faces.npy``, for large cohorts);
        ``faces_written``: the caller has already put the faces there (the simulator streams
        them), so only the other files are written. ``progress(stage, done, total)`` follows the
        genotypes being written.
        """
        d = Path(directory)
        if not d.is_dir():
            raise GenofaceError(f"{d}: not an existing directory; create it first or use Cohort.save")
        if genotype_format not in GENOTYPE_FORMATS:
            raise GenofaceError(
                f"genotype_format must be one of {', '.join(GENOTYPE_FORMATS)}, got {genotype_format!r}"
            )
        if faces_format not in FACE_FORMATS:
            raise GenofaceError(f"faces_format must be one of {', '.join(FACE_FORMATS)}, got {faces_format!r}")
        meta = {**self.meta, "format_version": COHORT_FORMAT_VERSION, "n": self.n_samples, "units": "mm"}
        meta.setdefault("simulated", False)
        write_json(d / _META, meta)
        sex = self.covariates["sex"].to_numpy(dtype=str)
        if genotype_format == "vcf":
            has_x = bool((normalize_chroms(self.variants["chrom"]) == X).any())  # men haploid on X, not XY
            write_vcf(
                d / "genotypes.vcf.gz",
                self.sample_ids,
                self.genotypes,
                self.variants,
                haploid=(sex == "M") if has_x else None,
            )
        else:
            step = None if progress is None else (lambda done, total: progress("writing genotypes", done, total))
            write_plink(d / "genotypes", self.sample_ids, self.genotypes, self.variants, sex=sex, progress=step)
        write_mesh(d / f"{_TEMPLATE}.ply", self.template_vertices, self.template_triangles)
        if not faces_written:
            self._write_faces(d, faces_format)
        write_covariates(d / _COVARIATES, self.covariates)
        return d

    def _write_faces(self, d: Path, faces_format: str) -> None:
        if faces_format == "npy":
            write_face_array(d / FACE_ARRAY, self.faces)
            return
        faces_dir = d / _FACES
        faces_dir.mkdir(exist_ok=True)

        def write_face(i: int) -> None:
            write_mesh(faces_dir / f"{self.sample_ids[i]}.ply", self.faces[i], self.template_triangles)

        with ThreadPoolExecutor(max_workers=4) as pool:  # overlaps the many small file writes
            for _ in pool.map(write_face, range(self.n_samples)):
                pass

    def save(
        self,
        path: str | os.PathLike,
        *,
        genotype_format: str = "vcf",
        faces_format: str = "ply",
        overwrite: bool = False,
    ) -> Path:
        """Write the cohort directory atomically: ``path`` appears complete or not at all.

        The cohort's own ``path`` is not changed.
        """
        with atomic_directory(path, overwrite=overwrite) as tmp:
            self.write(tmp, genotype_format=genotype_format, faces_format=faces_format)
        return Path(path)

    # ---- subsets ----------------------------------------------------------------------------------

    def subset(self, indices: np.ndarray | list[int]) -> Cohort:
        """The people at ``indices`` (integer positions or a boolean mask), as a new cohort."""
        idx = np.asarray(indices)
        if idx.dtype == bool:
            if idx.shape != (self.n_samples,):
                raise GenofaceError(f"boolean mask has shape {idx.shape}, expected ({self.n_samples},)")
            idx = np.flatnonzero(idx)
        if idx.ndim != 1 or len(idx) == 0 or not np.issubdtype(idx.dtype, np.integer):
            raise GenofaceError("subset needs a non-empty 1-D array of integer positions or a boolean mask")
        if idx.min() < -self.n_samples or idx.max() >= self.n_samples:
            raise GenofaceError(f"subset positions must lie in [0, {self.n_samples}), got [{idx.min()}, {idx.max()}]")
        return Cohort(
            sample_ids=self.sample_ids[idx],
            genotypes=(
                self.genotypes.take_rows(idx)
                if isinstance(self.genotypes, StoredDosages)
                else np.asarray(self.genotypes[idx])
            ),
            variants=self.variants.copy(),
            faces=_face_rows(self.faces, idx),
            template_vertices=self.template_vertices,
            template_triangles=self.template_triangles,
            covariates=self.covariates.iloc[idx].copy(),
            meta={**self.meta, "n": len(idx)},
            path=self.path,
        )

    def split(self, test_fraction: float, seed: int) -> tuple[Cohort, Cohort]:
        """(train, test): a seeded random split of the people; each part keeps the cohort order."""
        if not isinstance(test_fraction, (int, float)) or not 0 < test_fraction < 1:
            raise GenofaceError(f"test fraction must lie strictly between 0 and 1, got {test_fraction!r}")
        n_test = int(round(test_fraction * self.n_samples))
        if not 0 < n_test < self.n_samples:
            raise GenofaceError(
                f"test fraction {test_fraction} of {self.n_samples} people leaves {n_test} for testing and "
                f"{self.n_samples - n_test} for training; both need at least one person"
            )
        perm = np.random.default_rng(seed).permutation(self.n_samples)
        test = np.sort(perm[:n_test])
        train = np.sort(perm[n_test:])
        return self.subset(train), self.subset(test)

    # ---- description ------------------------------------------------------------------------------

    def hash(self) -> str:
        """sha256 (hex) of the cohort's content: sample ids, variants, genotypes, faces, template
        and covariates. It does not depend on the file format or where the cohort lies.

        Computed once per Cohort object (every model's fit records it; at 10,000 people that is
        a gigabyte to hash): a cohort's arrays are not to be changed in place; derive a new one
        with ``dataclasses.replace``, which starts without the cached value."""
        cached = _HASHES.get(self)
        if cached is not None:
            return cached
        h = hashlib.sha256(f"genoface-cohort-{COHORT_FORMAT_VERSION}\n".encode())
        h.update("\n".join(self.sample_ids).encode() + b"\n")
        h.update(self.variants.to_csv(sep="\t", index=False, lineterminator="\n").encode())
        h.update(f"{self.genotypes.dtype.str}{self.genotypes.shape}".encode())
        _update_genotype_hash(h, self.genotypes)
        for arr in (self.faces, self.template_vertices, self.template_triangles):
            h.update(f"{arr.dtype.str}{arr.shape}".encode())
            _update_hash(h, arr)
        buf = io.StringIO()
        self.covariates.to_csv(buf, sep="\t", na_rep="NA", lineterminator="\n")
        h.update(buf.getvalue().encode())
        _HASHES[self] = h.hexdigest()
        return _HASHES[self]

    def summary(self) -> dict[str, Any]:
        """Counts and means for reports: n, variants, vertices, populations, sex, age, BMI."""
        cov = self.covariates
        out: dict[str, Any] = {
            "name": self.meta.get("name"),
            "n": self.n_samples,
            "n_variants": self.n_variants,
            "n_variants_x": int(is_x(self.variants["chrom"]).sum()),
            "n_vertices": self.n_vertices,
            "simulated": self.is_simulated,
        }
        if "population" in cov:
            out["populations"] = {str(k): int(v) for k, v in cov["population"].value_counts().sort_index().items()}
        out["sex"] = {s: int((cov["sex"] == s).sum()) for s in SEXES}
        for col in ("age", "bmi"):
            x = pd.to_numeric(cov[col], errors="coerce")
            out[col] = {"mean": _round(x.mean()), "sd": _round(x.std()), "missing": int(x.isna().sum())}
        return out

    def __repr__(self) -> str:
        name = self.meta.get("name", "unnamed")
        sim = ", simulated" if self.is_simulated else ""
        where = f", path={str(self.path)!r}" if self.path else ""
        return (
            f"Cohort({name!r}, n={self.n_samples}, variants={self.n_variants}, vertices={self.n_vertices}{sim}{where})"
        )


def load_cohort(path: str | os.PathLike, *, use_cache: bool = True) -> Cohort:
    """Read a cohort directory (see :meth:`Cohort.load`)."""
    return Cohort.load(path, use_cache=use_cache)


# ---- the cohort directory -------------------------------------------------------------------------


def _read_sources(
    root: Path,
    meta: dict,
    geno_path: Path,
    template_path: Path,
    cov_path: Path,
    face_paths: dict[str, Path] | Path,
    lazy: bool | None,
) -> dict[str, Any]:
    """The cohort's parts read from its files, joined by sample id and checked. Genotypes too
    large for memory (or any, with ``lazy``) stay a fileset (a PLINK set opened, not read; a VCF
    parsed into a temporary file), read into the store a slice of variants at a time."""
    log.info("%s: reading genotypes from %s", root, geno_path.name)
    # A real cohort's build named in cohort.json (GRCh37 / GRCh38) puts PAR SNPs on XY; a
    # simulated X has no PARs (its positions mean nothing in either build).
    build = None if meta.get("simulated") else normalize_build(meta.get("genome_build"))
    gd: Any = open_plink(geno_path, build=build) if geno_path.suffix == ".bed" else open_vcf(geno_path, build=build)
    if not (lazy or (lazy is None and _too_large(gd.n_samples, gd.n_variants))):
        whole = GenotypeData(gd.sample_ids, gd.read(), gd.variants, sex=gd.sex, build=gd.build)
        if isinstance(gd, VcfFileset):
            gd.close()
        gd = whole
    _check_meta_n(meta, gd.n_samples, root)
    covariates = read_covariates(cov_path)
    # faces.npy holds the genotype file's people in its order: only covariates can mismatch
    _check_join(root, gd.sample_ids, face_paths if isinstance(face_paths, dict) else gd.sample_ids, covariates.index)
    if gd.sex is not None:
        known = gd.sex != ""
        differs = known & (gd.sex != covariates.loc[gd.sample_ids, "sex"].to_numpy())
        if differs.any():
            log.warning(
                "%s: sex in the .fam file differs from covariates.tsv for %d people (e.g. %s); using covariates.tsv",
                root, int(differs.sum()), ", ".join(gd.sample_ids[differs][:5]),
            )  # fmt: skip
    template_vertices, template_triangles = read_mesh(template_path)
    if isinstance(face_paths, dict):
        log.info("%s: reading %d faces", root, len(face_paths))
        faces = read_mesh_vertices([face_paths[s] for s in gd.sample_ids], n_vertices=len(template_vertices))
    else:
        faces = read_face_array(face_paths, gd.n_samples, len(template_vertices))
    return {
        "sample_ids": gd.sample_ids,
        "genotypes": gd if isinstance(gd, _FILESETS) else gd.genotypes,
        "variants": gd.variants,
        "faces": faces,
        "template_vertices": template_vertices,
        "template_triangles": template_triangles,
        "covariates": covariates,
    }


#: Genotype files read into the store a slice at a time, never whole.
_FILESETS = (PlinkFileset, VcfFileset)


def _too_large(n_samples: int, n_variants: int) -> bool:
    return n_samples * n_variants > IN_MEMORY_GENOTYPES


def _write_cohort_cache(root: Path, signature: list, parts: dict[str, Any], progress: Any = None) -> bool:
    """Write the cache from a cohort's parts; the genotypes (a matrix, a :class:`StoredDosages`
    or an unread :class:`PlinkFileset` / :class:`VcfFileset`) go into the store a block of
    variants at a time."""
    genotypes, variants = parts["genotypes"], parts["variants"]
    if isinstance(genotypes, _FILESETS):
        blocks = genotypes.blocks(store_chunks(genotypes.n_samples, genotypes.n_variants)[0])
    else:
        blocks = iter_store_blocks(genotypes)

    # faces.npy is memory-mapped where it lies (the source signature covers it), not copied
    faces = () if (root / FACE_ARRAY).is_file() else ("faces",)

    def variants_writer(p: Path) -> None:
        with open(p, "wb") as fh:
            np.savez(fh, **{c: variants[c].to_numpy(dtype=np.int64 if c == "pos" else str) for c in variants})

    return write_cache(
        root,
        signature,
        COHORT_FORMAT_VERSION,
        arrays={k: parts[k] for k in ("sample_ids", *faces, "template_vertices", "template_triangles")},
        tables={
            "variants": ("variants.npz", variants_writer),
            "covariates": ("covariates.tsv", lambda p: write_covariates(p, parts["covariates"])),
            "genotypes": (
                "genotypes.zarr",
                lambda p: fill_store(p, parts["sample_ids"], variants, blocks, progress=progress),
            ),
        },
        mmap=("faces",),
    )


def _read_meta(root: Path) -> dict:
    p = root / _META
    if not p.is_file():
        raise GenofaceError(
            f"{root}: no {_META}; write one such as "
            f'{{"format_version": {COHORT_FORMAT_VERSION}, "name": "my-cohort", "units": "mm", "simulated": false}}'
        )
    try:
        meta = json.loads(p.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise GenofaceError(f"{p}: invalid JSON at line {e.lineno}: {e.msg}") from None
    if not isinstance(meta, dict):
        raise GenofaceError(f"{p}: must hold a JSON object with format_version and units")
    version = meta.get("format_version")
    if version is None:
        raise GenofaceError(f'{p}: no "format_version"; add "format_version": {COHORT_FORMAT_VERSION}')
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise GenofaceError(f"{p}: format_version must be a positive integer, got {version!r}")
    if version > COHORT_FORMAT_VERSION:
        raise GenofaceError(
            f"{p}: format_version {version} is newer than this genoface reads ({COHORT_FORMAT_VERSION}); upgrade genoface"
        )
    units = meta.get("units")
    if units != "mm":
        raise GenofaceError(
            f'{p}: units must be "mm", got {units!r}; convert the meshes to millimetres and set "units": "mm"'
        )
    return meta


def _check_meta_n(meta: dict, n: int, root: Path) -> None:
    if "n" in meta and meta["n"] != n:
        raise GenofaceError(f"{root / _META}: says n = {meta['n']!r} but the genotypes hold {n} people; correct n")


def _genotype_files(root: Path) -> list[Path]:
    """The genotype file(s) (one VCF/BCF, or .bed/.bim/.fam); exactly one kind must exist."""
    found = [root / name for name in GENOTYPE_FILES if (root / name).is_file()]
    if not found:
        raise GenofaceError(
            f"{root}: no genotype file; add genotypes.vcf.gz (or .vcf / .bcf) or genotypes.bed/.bim/.fam"
        )
    if len(found) > 1:
        raise GenofaceError(f"{root}: several genotype files ({', '.join(p.name for p in found)}); keep exactly one")
    if found[0].suffix != ".bed":
        return found
    plink = [found[0], root / "genotypes.bim", root / "genotypes.fam"]
    lacking = [p.name for p in plink if not p.is_file()]
    if lacking:
        raise GenofaceError(
            f"{root}: genotypes.bed without {' and '.join(lacking)}; add the PLINK .bim and .fam beside it"
        )
    return plink


def _template_file(root: Path) -> Path:
    found = [root / f"{_TEMPLATE}{s}" for s in MESH_SUFFIXES if (root / f"{_TEMPLATE}{s}").is_file()]
    if not found:
        raise GenofaceError(
            f"{root}: no template.ply (or template.obj); add the template mesh all faces are registered to"
        )
    if len(found) > 1:
        raise GenofaceError(f"{root}: both template.ply and template.obj; keep one")
    return found[0]


def _face_files(root: Path) -> dict[str, Path] | Path:
    """sample id -> face mesh path, from ``faces/<sample_id>.ply`` (or .obj); or the path of
    ``faces.npy`` where the faces come as one array."""
    d = root / _FACES
    if (root / FACE_ARRAY).is_file():
        if d.is_dir():
            raise GenofaceError(f"{root}: both faces/ and {FACE_ARRAY}; keep one of them")
        return root / FACE_ARRAY
    if not d.is_dir():
        raise GenofaceError(
            f"{root}: no faces/ folder; add one registered mesh per person as faces/<sample_id>.ply "
            f"(or, for a large cohort, all of them as {FACE_ARRAY}, n x V x 3 float32 in sample order)"
        )
    out: dict[str, Path] = {}
    with os.scandir(d) as it:
        for entry in it:
            name = entry.name
            stem, dot, suffix = name.rpartition(".")
            if name.startswith(".") or not dot or f".{suffix.lower()}" not in MESH_SUFFIXES or not entry.is_file():
                continue
            if stem in out:
                raise GenofaceError(f"{d}: two meshes for sample {stem} ({out[stem].name}, {name}); keep one")
            out[stem] = Path(entry.path)
    return out


def _check_join(root: Path, geno_ids: np.ndarray, face_paths: Any, cov_ids: pd.Index) -> None:
    """Every person must be in all three sources; name whoever is not, and where."""
    sources = {
        "the genotypes": pd.Index(geno_ids),
        "faces/": pd.Index(list(face_paths)),
        _COVARIATES: pd.Index(cov_ids),
    }
    everyone = pd.Index(geno_ids).append(sources["faces/"]).append(sources[_COVARIATES]).unique()
    problems = []
    for name, ids in sources.items():
        lacking = everyone[~everyone.isin(ids)]
        if len(lacking):
            problems.append(f"{len(lacking)} missing from {name} ({_some(list(lacking))})")
    if problems:
        raise GenofaceError(
            f"{root}: sample ids do not match across sources: {'; '.join(problems)}; "
            "every person needs genotypes, faces/<sample_id>.ply and a covariates.tsv row"
        )


# ---- helpers --------------------------------------------------------------------------------------


def _as_int8_dosage(g: Any) -> np.ndarray:
    if isinstance(g, StoredDosages) or (isinstance(g, np.ndarray) and g.dtype == np.int8):
        return g  # a store's dosages were checked when it was written
    g = np.asarray(g)
    if g.ndim != 2 or not np.issubdtype(g.dtype, np.integer):
        raise GenofaceError(f"genotypes must be a 2-D integer dosage array, got {g.dtype} with shape {g.shape}")
    if g.size and (g.min() < -1 or g.max() > 2):
        raise GenofaceError(f"genotypes must be 0, 1, 2 or -1 (missing), found values in [{g.min()}, {g.max()}]")
    return g.astype(np.int8)


def _aligned_covariates(cov: pd.DataFrame, sample_ids: np.ndarray) -> pd.DataFrame:
    if not isinstance(cov, pd.DataFrame):
        raise GenofaceError("covariates must be a pandas DataFrame indexed by sample_id")
    missing = [c for c in REQUIRED_COLUMNS if c not in cov.columns]
    if missing:
        raise GenofaceError(f"covariates lack the column(s) {', '.join(missing)}")
    index = pd.Index(np.asarray(cov.index, dtype=str), name="sample_id")
    lacking = pd.Index(sample_ids)[~pd.Index(sample_ids).isin(index)]
    extra = index[~index.isin(sample_ids)]
    if len(lacking) or len(extra):
        raise GenofaceError(
            f"covariates do not match the samples: {len(lacking)} samples without covariates ({_some(list(lacking))}), "
            f"{len(extra)} covariate rows for unknown samples ({_some(list(extra))})"
        )
    bad = ~cov["sex"].isin(SEXES).to_numpy()
    if bad.any():
        raise GenofaceError(f"covariate sex must be F or M; {cov.index[bad][0]} has {cov['sex'].to_numpy()[bad][0]!r}")
    if not index.equals(pd.Index(sample_ids)):
        cov = cov.set_axis(index).loc[sample_ids]
    elif not cov.index.equals(index) or cov.index.name != "sample_id":
        cov = cov.set_axis(index)
    return cov


def _update_hash(h: Any, arr: np.ndarray, rows_per_step: int = 1024) -> None:
    """Feed an array's bytes to ``h`` without copying all of it (memory maps included)."""
    if arr.flags.c_contiguous:
        h.update(memoryview(arr).cast("B"))
        return
    for i in range(0, len(arr), rows_per_step):
        h.update(np.ascontiguousarray(arr[i : i + rows_per_step]).data)


def _update_genotype_hash(h: Any, genotypes: Any) -> None:
    """Feed the genotypes to ``h`` variant by variant (the store's order), a block of variants at a
    time, so that a lazy cohort hashes in one pass over its store and equals the same cohort in
    memory."""
    for _, _, block in iter_store_blocks(genotypes):
        h.update(np.ascontiguousarray(block.T).data)


def _round(x: float) -> float | None:
    return None if pd.isna(x) else round(float(x), 3)


def _some(items: list, k: int = 5) -> str:
    head = ", ".join(map(str, items[:k]))
    return head + (f" and {len(items) - k} more" if len(items) > k else "")


def _face_rows(faces: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """``faces[idx]``; a memory-mapped faces.npy stays mapped (no copy: 6 GB at 100,000 people)
    when ``idx`` is one ascending run of people, such as a split's first n."""
    if isinstance(faces, np.memmap) and idx[0] >= 0 and np.array_equal(idx, np.arange(idx[0], idx[0] + len(idx))):
        return faces[idx[0] : idx[0] + len(idx)]
    return np.asarray(faces[idx])
