"""BGZF, the blocked gzip that htslib (bcftools, tabix, plink2) needs to index a VCF, and its index.

The writer is written here, not taken from pysam, for one reason: pysam's BGZFile compresses on
one thread, and a cohort's VCF is mostly compression time. Here blocks are compressed on a
thread pool (zlib releases the GIL) while the caller builds the next text. The index is built by
htslib itself (``pysam.tabix_index``), from the finished file.
"""

from __future__ import annotations

import os
import struct
import zlib
from concurrent.futures import Executor
from pathlib import Path
from typing import BinaryIO

#: The empty block that ends every BGZF file (SAM/BAM specification 4.1.2).
BGZF_EOF = bytes.fromhex("1f8b08040000000000ff0600424302001b0003000000000000000000")
#: Uncompressed bytes per block, as bgzip writes them: the compressed block always fits in 64 KiB.
BLOCK = 0xFF00
#: .tbi bins cover positions below 2^29; beyond, the index must be a .csi.
TBI_MAX_POS = 1 << 29
GZIP_LEVEL = 4  # ~4x faster than the default 6 on genotype text, files ~15% larger


def bgzf_block(data: bytes | memoryview, level: int = GZIP_LEVEL) -> bytes:
    """One BGZF block: a gzip member whose extra field "BC" gives its size (SAM/BAM spec 4.1)."""
    body = zlib.compress(data, level, wbits=-15)  # raw deflate: the gzip wrapper is written here
    head = struct.pack("<4BI2BH2BHH", 31, 139, 8, 4, 0, 0, 255, 6, 66, 67, 2, len(body) + 25)
    return head + body + struct.pack("<2I", zlib.crc32(data), len(data))


class BgzfWriter:
    """BGZF onto a binary stream: blocks of :data:`BLOCK` uncompressed bytes (the last one
    shorter), compressed on ``pool`` and written in order, then the end-of-file block."""

    def __init__(self, raw: BinaryIO, pool: Executor) -> None:
        self._raw = raw
        self._pool = pool
        self._tail = b""  # uncompressed bytes not yet making a full block

    def write(self, data: bytes) -> None:
        mv = memoryview(data)
        blocks: list[bytes | memoryview] = []
        if self._tail:  # complete the pending block (a small copy; ``data`` itself is not copied)
            fill = BLOCK - len(self._tail)
            self._tail += bytes(mv[:fill])
            mv = mv[fill:]
            if len(self._tail) < BLOCK:
                return
            blocks.append(self._tail)
        full = len(mv) - len(mv) % BLOCK
        blocks += [mv[i : i + BLOCK] for i in range(0, full, BLOCK)]
        for block in self._pool.map(bgzf_block, blocks):
            self._raw.write(block)
        self._tail = bytes(mv[full:])

    def close(self) -> None:
        if self._tail:
            self._raw.write(bgzf_block(self._tail))
            self._tail = b""
        self._raw.write(BGZF_EOF)


def write_tabix_index(path: Path, index: Path, *, csi: bool = False) -> None:
    """Index the sorted BGZF VCF ``path`` into ``index`` (.tbi, or .csi with ``csi``) with htslib,
    renamed into place only when complete."""
    import pysam  # imported here: htslib's start-up costs the readers that never index

    tmp = index.with_name(f".{index.name}.tmp-{os.getpid()}")
    try:
        pysam.tabix_index(str(path), preset="vcf", csi=csi, force=True, keep_original=True, index=str(tmp))
        os.replace(tmp, index)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
