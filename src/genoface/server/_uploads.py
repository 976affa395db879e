"""Uploaded genome files, handled so that nothing the client names reaches the file system.

The body size is capped while it arrives (an ASGI middleware counts the bytes, so an oversized
upload is refused before it is spooled whole); an accepted upload is written under a fixed name
(``genome`` plus a suffix from an allow-list) into a per-request temporary directory that the
caller removes; a PLINK set comes as a zip whose .bed/.bim/.fam members are copied out by their
suffix alone, never by their stored path.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
import zipfile
from pathlib import Path
from typing import Any

from genoface.core.errors import GenofaceError

#: Genome files the server reads, by the end of the uploaded file's name.
SUFFIXES = (".vcf.gz", ".vcf.bgz", ".vcf", ".bcf", ".zip", ".txt.gz", ".csv.gz", ".tsv.gz", ".txt", ".csv", ".tsv")
_PLINK = (".bed", ".bim", ".fam")
_COPY_BLOCK = 1 << 20


class BodyLimit:
    """ASGI middleware: a request whose body exceeds ``limit`` bytes gets 413 and a JSON message.

    With a Content-Length (browsers always send one for a form) the header decides at once, and
    the server's HTTP parser holds the client to it. A chunked body is spooled (to disk past
    1 MB) while it is counted, refused as soon as it passes the limit, else replayed."""

    def __init__(self, app: Any, limit: int):
        self.app, self.limit = app, int(limit)

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        declared = headers.get(b"content-length")
        if declared is None and b"transfer-encoding" not in headers:
            await self.app(scope, receive, send)  # no body (a GET)
            return
        if declared is not None:
            if not declared.isdigit() or int(declared) > self.limit:
                await _too_large(send, self.limit)
                return
            await self.app(scope, receive, send)
            return
        with tempfile.SpooledTemporaryFile(max_size=_COPY_BLOCK) as spool:
            while True:
                message = await receive()
                if message["type"] != "http.request":
                    return  # the client went away
                spool.write(message.get("body", b""))
                if spool.tell() > self.limit:
                    await _too_large(send, self.limit)
                    return
                if not message.get("more_body", False):
                    break
            spool.seek(0)
            await self.app(scope, _replay(spool, receive), send)


def _replay(spool: Any, receive: Any) -> Any:
    """The spooled body again, then the client's own messages (a response that listens for the
    client going away must wait on the real connection, not spin on an empty body)."""
    done = False

    async def replayed() -> dict:
        nonlocal done
        if done:
            return await receive()
        chunk = spool.read(_COPY_BLOCK)
        more = len(chunk) == _COPY_BLOCK
        done = not more
        return {"type": "http.request", "body": chunk, "more_body": more}

    return replayed


def _too_large_text(limit: int) -> str:
    return (
        f"the upload is over the server's limit of {limit / 1e6:.0f} MB; start the server with a larger --max-upload-mb"
    )


async def _too_large(send: Any, limit: int) -> None:
    body = json.dumps({"error": _too_large_text(limit)}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": 413, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def suffix_of(filename: str | None) -> str:
    """The allow-listed suffix the uploaded file's name ends with; anything else is refused."""
    name = (filename or "").lower()
    for suffix in SUFFIXES:
        if name.endswith(suffix):
            return suffix
    raise GenofaceError(
        f"cannot read a genome from a file named {filename!r}: upload a VCF/BCF (.vcf, .vcf.gz, .bcf), "
        "a PLINK set as a .zip of .bed/.bim/.fam, or a consumer raw-data file such as 23andMe's or "
        "AncestryDNA's (.txt, .csv, also gzipped or in a one-file .zip)"
    )


def save_upload(source: Any, filename: str | None, folder: Path, limit: int) -> tuple[Path, str]:
    """Copy the uploaded file object ``source`` into ``folder`` under a fixed name; a zip is
    unpacked to ``genome.bed/.bim/.fam`` (unless it holds one raw-data file). Returns the file
    to read and the SHA-256 of the bytes uploaded (taken while they are copied)."""
    suffix = suffix_of(filename)
    target = folder / f"genome{suffix}"
    digest = hashlib.sha256()
    with open(target, "wb") as out:
        while block := source.read(_COPY_BLOCK):
            digest.update(block)
            out.write(block)
    if target.stat().st_size == 0:
        raise GenofaceError(f"the uploaded file {filename!r} is empty")
    if suffix != ".zip":
        return target, digest.hexdigest()
    return _unpack_zip(target, folder, limit), digest.hexdigest()


def _unpack_zip(archive: Path, folder: Path, limit: int) -> Path:
    """The .bed/.bim/.fam of a zip, written as genome.*; the names inside are only matched by
    suffix (a member called ../../x.bed is read as genome.bed), and the unpacked size is capped.
    A zip of one other file (a consumer raw-data file) is left for the consumer reader."""
    try:
        with zipfile.ZipFile(archive) as z:
            members = [m for m in z.infolist() if not m.is_dir()]
            found = {s: [m for m in members if m.filename.lower().endswith(s)] for s in _PLINK}
            if len(members) == 1 and not any(found.values()):
                return archive
            lacking = [s for s, ms in found.items() if len(ms) != 1]
            if lacking:
                raise GenofaceError(
                    "the zip must hold exactly one .bed, one .bim and one .fam (a PLINK set); "
                    f"it has {', '.join(f'{len(found[s])} {s}' for s in _PLINK)}"
                )
            if sum(found[s][0].file_size for s in _PLINK) > 4 * limit:
                raise GenofaceError("the PLINK set in the zip unpacks to more than 4 times the upload limit")
            for s in _PLINK:
                with z.open(found[s][0]) as src, open(folder / f"genome{s}", "wb") as out:
                    shutil.copyfileobj(src, out, _COPY_BLOCK)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, NotImplementedError, EOFError) as e:
        raise GenofaceError(f"the uploaded .zip cannot be read ({e}); zip the .bed, .bim and .fam again") from None
    archive.unlink()
    return folder / "genome.bed"
