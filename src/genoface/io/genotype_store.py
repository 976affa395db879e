"""The chunked genotype store: genotypes on disk in a Zarr group, read a block at a time.

A cohort's genotypes go here (inside its ``.genoface_cache/``, or by ``genoface import``) so
that no step needs the whole matrix in memory: 100,000 people x 100,000 SNPs is 10 GB of int8.
The group is Zarr format 2 with sgkit's variable names, orientation and ``_ARRAY_DIMENSIONS``
attributes, so ``xarray.open_zarr`` (and sgkit) read it as a dataset:

- ``call_dosage`` (variants, samples) int8: the ALT dosage 0/1/2, -1 missing. sgkit's
  ``call_dosage`` is a float with NaN for missing; one byte a call keeps it four times smaller.
- ``variant_contig`` (variants,) int16, an index into the group attribute ``contigs``;
  ``variant_position`` (variants,) int64; ``variant_allele`` (variants, 2) str, REF then ALT;
  ``variant_id`` (variants,) str.
- ``sample_id`` (samples,) str.

Chunks run along variants (a chunk holds every sample up to ``MAX_SAMPLE_CHUNK`` people, then
samples are chunked too), sized to about ``CHUNK_BYTES``: a GWAS or a QC pass reads one chunk of
variants for all people at a time, which is how the engine (:mod:`genoface.genetics.engine`)
splits its work. In memory genoface's matrices are (samples, variants);
:class:`StoredDosages` is that view of the store.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from genoface.core.errors import GenofaceError
from genoface.core.files import atomic_directory
from genoface.core.schema import MISSING
from genoface.io.genotypes import variant_table

#: Uncompressed bytes a chunk holds, about (32 MB: a few per worker thread stay in memory).
CHUNK_BYTES = 1 << 25
#: Samples in one chunk; larger cohorts are chunked along samples too.
MAX_SAMPLE_CHUNK = 1 << 17
#: Variants in one chunk, at most (small cohorts would otherwise get a handful of huge chunks).
MAX_VARIANT_CHUNK = 1 << 14
#: Store layout version, in the group's attributes.
STORE_VERSION = 1

Progress = Callable[[int, int], None]
#: Blocks of consecutive variants: (first column, end column, (samples, columns) int8 dosages).
Blocks = Iterable[tuple[int, int, np.ndarray]]


def store_chunks(n_samples: int, n_variants: int) -> tuple[int, int]:
    """(variants, samples) per chunk for a cohort of this size."""
    samples = max(1, min(n_samples, MAX_SAMPLE_CHUNK))
    variants = max(1, min(n_variants, MAX_VARIANT_CHUNK, CHUNK_BYTES // samples))
    return variants, samples


class StoredDosages:
    """The store's ``call_dosage`` as a (samples, variants) int8 matrix that is read only where
    it is indexed: ``view[rows, cols]`` returns a NumPy array, and :meth:`to_dask` a Dask array
    over the same chunks. Not writable."""

    ndim = 2
    dtype = np.dtype(np.int8)

    def __init__(self, array: Any, rows: np.ndarray | None = None) -> None:
        self._array = array  # zarr array, (variants, samples)
        self._rows = rows  # the store's samples this view holds, in order (None: all)
        n = int(array.shape[1]) if rows is None else len(rows)
        self.shape = (n, int(array.shape[0]))

    def take_rows(self, rows: np.ndarray) -> StoredDosages:
        """The people at positions ``rows`` of this view, still on disk."""
        rows = np.arange(self.shape[0])[np.asarray(rows)]
        return StoredDosages(self._array, rows if self._rows is None else self._rows[rows])

    @property
    def chunks(self) -> tuple[int, int]:
        """(samples, variants) per chunk."""
        return int(self._array.chunks[1]), int(self._array.chunks[0])

    def __len__(self) -> int:
        return self.shape[0]

    def __getitem__(self, key: Any) -> np.ndarray:
        rows, cols = key if isinstance(key, tuple) else (key, slice(None))
        scalar_rows, scalar_cols = np.isscalar(rows), np.isscalar(cols)
        rows = [rows] if scalar_rows else rows
        cols = [cols] if scalar_cols else cols
        if self._rows is not None:
            rows = self._rows[rows]
        out = np.ascontiguousarray(self._array.oindex[_selector(cols), _selector(rows)].T)
        if scalar_rows or scalar_cols:
            out = out[0] if scalar_rows else out[:, 0]
            return out[0] if scalar_rows and scalar_cols else out
        return out

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        # Filled a chunk of variants at a time: transposing the whole store at once would hold
        # the matrix twice.
        out = np.empty(self.shape, dtype=np.int8)
        step = self.chunks[1]
        for j0 in range(0, self.shape[1], step):
            out[:, j0 : j0 + step] = self[:, j0 : j0 + step]
        return out if dtype is None else out.astype(dtype)

    def to_dask(self) -> Any:
        """The matrix as a lazy (samples, variants) Dask array, one task per chunk."""
        import dask.array as da

        whole = da.from_zarr(self._array).T
        return whole if self._rows is None else whole[self._rows]

    def __repr__(self) -> str:
        return f"StoredDosages(shape={self.shape}, chunks={self.chunks})"


def _selector(key: Any) -> Any:
    """A zarr orthogonal selector from a NumPy-style one: slices stay, lists and boolean masks
    become integer arrays."""
    if isinstance(key, slice):
        return key
    key = np.asarray(key)
    return np.flatnonzero(key) if key.dtype == bool else key.astype(np.int64)


class GenotypeStore:
    """An opened store: its sample ids, variant table and dosages (:class:`StoredDosages`)."""

    def __init__(self, path: str | os.PathLike) -> None:
        import zarr

        self.path = Path(path)
        try:
            group = zarr.open_group(str(self.path), mode="r")
            contigs = np.asarray(group.attrs["contigs"], dtype=object)
            alleles = group["variant_allele"][:]
            self.sample_ids = np.asarray(group["sample_id"][:], dtype=str)
            self.variants = variant_table(
                {
                    "chrom": contigs[group["variant_contig"][:]].astype(str),
                    "pos": np.asarray(group["variant_position"][:], dtype=np.int64),
                    "id": np.asarray(group["variant_id"][:], dtype=str),
                    "ref": np.asarray(alleles[:, 0], dtype=str),
                    "alt": np.asarray(alleles[:, 1], dtype=str),
                }
            )
            self.dosages = StoredDosages(group["call_dosage"])
        except (KeyError, ValueError, OSError, IndexError) as e:
            raise GenofaceError(
                f"{self.path}: not a genoface genotype store ({e}); rebuild it with genoface import"
            ) from None
        if self.dosages.shape != (len(self.sample_ids), len(self.variants)):
            raise GenofaceError(f"{self.path}: call_dosage does not match sample_id and variant_id; rebuild it")

    @property
    def n_samples(self) -> int:
        return len(self.sample_ids)

    @property
    def n_variants(self) -> int:
        return len(self.variants)


def open_genotype_store(path: str | os.PathLike) -> GenotypeStore:
    """Open the store at ``path`` (read only)."""
    return GenotypeStore(path)


def write_genotype_store(
    path: str | os.PathLike,
    sample_ids: np.ndarray,
    variants: pd.DataFrame,
    blocks: Blocks,
    *,
    overwrite: bool = False,
    progress: Progress | None = None,
) -> Path:
    """Write a store at ``path`` from blocks of consecutive variants, all samples each, in column
    order; nothing is left at ``path`` unless every block arrived. Blocks aligned to
    :func:`store_chunks` (what :func:`iter_store_blocks` yields) are written without re-reading."""
    path = Path(path)
    with atomic_directory(path, overwrite=overwrite) as tmp:
        fill_store(tmp, sample_ids, variants, blocks, progress=progress)
    return path


def fill_store(
    path: Path, sample_ids: np.ndarray, variants: pd.DataFrame, blocks: Blocks, *, progress: Progress | None = None
) -> None:
    """Write the store into the (new or empty) directory ``path``; see :func:`write_genotype_store`."""
    import zarr

    n, m = len(sample_ids), len(variants)
    group = zarr.open_group(str(path), mode="w", zarr_format=2)
    contigs, contig_index = np.unique(variants["chrom"].astype(str).to_numpy(), return_inverse=True)
    group.attrs.update({"contigs": contigs.tolist(), "genoface_store_version": STORE_VERSION})
    _write_column(group, "sample_id", np.asarray(sample_ids, dtype=str), ["samples"])
    _write_column(group, "variant_contig", contig_index.astype(np.int16), ["variants"])
    _write_column(group, "variant_position", variants["pos"].to_numpy(dtype=np.int64), ["variants"])
    _write_column(group, "variant_id", variants["id"].to_numpy(dtype=str), ["variants"])
    alleles = np.column_stack([variants["ref"].to_numpy(dtype=str), variants["alt"].to_numpy(dtype=str)])
    _write_column(group, "variant_allele", alleles.reshape(m, 2), ["variants", "alleles"])
    dosage = group.create_array("call_dosage", shape=(m, n), chunks=store_chunks(n, m), dtype="i1", fill_value=MISSING)
    dosage.attrs["_ARRAY_DIMENSIONS"] = ["variants", "samples"]
    done = 0
    for j0, j1, block in blocks:
        if block.shape != (n, j1 - j0) or j0 != done:
            raise GenofaceError(f"{path}: genotype block [{j0}, {j1}) out of order or of shape {block.shape}")
        if block.size and (block.min() < MISSING or block.max() > 2):
            raise GenofaceError(f"{path}: genotypes of variants [{j0}, {j1}) are not 0, 1, 2 or -1 (missing)")
        dosage[j0:j1, :] = np.asarray(block, dtype=np.int8).T
        done = j1
        if progress is not None:
            progress(done, m)
    if done != m:
        raise GenofaceError(f"{path}: genotype blocks ended at variant {done} of {m}")


def _write_column(group: Any, name: str, values: np.ndarray, dims: list[str]) -> None:
    chunks = tuple(max(1, size) for size in values.shape)
    array = group.create_array(name, shape=values.shape, chunks=chunks, dtype=values.dtype)
    if values.size:
        array[...] = values
    array.attrs["_ARRAY_DIMENSIONS"] = dims


def iter_store_blocks(genotypes: Any) -> Blocks:
    """Blocks of an in-memory (or memory-mapped) matrix aligned to the store's chunks."""
    n, m = genotypes.shape
    step = store_chunks(n, m)[0]
    for j0 in range(0, m, step):
        j1 = min(j0 + step, m)
        yield j0, j1, np.asarray(genotypes[:, j0:j1], dtype=np.int8)


def rechunk_blocks(blocks: Blocks, step: int) -> Blocks:
    """The same columns as ``blocks`` (consecutive, in order), regrouped into blocks of ``step``
    columns (the last one shorter), so that a writer receives whole store chunks."""
    pending: list[np.ndarray] = []
    held = start = 0
    for _, _, block in blocks:
        pending.append(block)
        held += block.shape[1]
        while held >= step:
            joined = np.concatenate(pending, axis=1) if len(pending) > 1 else pending[0]
            yield start, start + step, joined[:, :step]
            pending, held, start = [joined[:, step:]], held - step, start + step
    if held:
        yield start, start + held, np.concatenate(pending, axis=1)
