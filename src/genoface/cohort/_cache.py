"""The fast internal store of a cohort directory: ``<cohort>/.genoface_cache/``.

The cohort directory (VCF or bed, one PLY per face, TSV) is the exchange format; parsing it
takes a while for thousands of people. On first load its content is written here: the genotypes
as a chunked Zarr store (``genotypes.zarr``, :mod:`genoface.io.genotype_store`), the faces and
the template as .npy arrays (memory-mapped on later loads) and TSV / JSON tables, with a
manifest recording the signature (relative path, size, mtime_ns) of every source file. A later
load uses the cache only when the signature matches exactly; otherwise it rebuilds. Nothing is
pickled.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import numpy as np

from genoface.core.files import atomic_directory

log = logging.getLogger(__name__)

#: Folder name inside the cohort directory.
CACHE_DIR = ".genoface_cache"
#: Version of the cache layout; a mismatch rebuilds the cache.
CACHE_VERSION = 3  # 2: chromosome names canonical (chr dropped, PAR as XY); 3: genotypes in a Zarr store
_MANIFEST = "manifest.json"

Signature = list[dict[str, Any]]


def source_signature(root: Path, files: list[Path]) -> Signature:
    """(relative path, size, mtime_ns) of each source file, sorted by path."""
    sig = []
    for f in files:
        st = f.stat()
        sig.append({"path": f.relative_to(root).as_posix(), "size": st.st_size, "mtime_ns": st.st_mtime_ns})
    return sorted(sig, key=lambda s: s["path"])


def read_cache(root: Path, signature: Signature, format_version: int) -> dict[str, Any] | None:
    """The cached arrays and tables when the cache matches ``signature``, else None.

    Large arrays (``genotypes``, ``faces``) come back memory-mapped read-only. Table files are
    returned as paths (``covariates`` as the TSV path) for the caller to parse.
    """
    cache = root / CACHE_DIR
    manifest_path = cache / _MANIFEST
    if not manifest_path.is_file():
        return None
    try:
        manifest = json.loads(manifest_path.read_text())
        if (
            manifest.get("cache_version") != CACHE_VERSION
            or manifest.get("format_version") != format_version
            or manifest.get("sources") != signature
        ):
            log.info("%s: cohort files changed since the cache was built; rebuilding it", root)
            return None
        out: dict[str, Any] = {}
        for name in manifest["arrays"]:
            mmap = "r" if name in manifest.get("mmap", []) else None
            out[name] = np.load(cache / f"{name}.npy", mmap_mode=mmap, allow_pickle=False)
        for name in manifest["tables"]:
            out[name] = cache / manifest["tables"][name]
    except (OSError, ValueError, KeyError, TypeError) as e:
        log.warning("%s: unreadable cache (%s); rebuilding it from the cohort files", cache, e)
        return None
    log.debug("%s: loaded from cache", root)
    return out


def write_cache(
    root: Path,
    signature: Signature,
    format_version: int,
    arrays: dict[str, np.ndarray],
    tables: dict[str, tuple[str, Any]],
    *,
    mmap: tuple[str, ...] = (),
) -> bool:
    """Write the cache atomically; returns False (and logs at debug) where it cannot be written.

    ``tables`` maps a name to (file name, writer) where ``writer(path)`` writes that file.
    A read-only cohort directory is not an error: the cohort is then parsed on every load.
    """
    try:
        with atomic_directory(root / CACHE_DIR, overwrite=True) as tmp:
            for name, arr in arrays.items():
                np.save(tmp / f"{name}.npy", np.asarray(arr), allow_pickle=False)
            for name, (filename, writer) in tables.items():
                writer(tmp / filename)
            manifest = {
                "cache_version": CACHE_VERSION,
                "format_version": format_version,
                "arrays": list(arrays),
                "mmap": list(mmap),
                "tables": {name: filename for name, (filename, _) in tables.items()},
                "sources": signature,
            }
            (tmp / _MANIFEST).write_text(json.dumps(manifest, indent=1) + "\n")
    except OSError as e:  # read-only directory, full disk, or a concurrent loader won the rename
        log.debug("%s: cache not written (%s)", root, e)
        return False
    log.debug("%s: cache written", root / CACHE_DIR)
    return True
