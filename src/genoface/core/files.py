"""Writing output: directories and files appear complete or not at all; plain JSON.

Every failure to create an output (a file where a folder must be, no permission, a full disk)
is an :class:`~genoface.core.errors.OutputError`: one line naming the output and what to do.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from genoface.core.errors import GenofaceError, OutputError

# Failures while writing that are about the place, not the program: reported as OutputError.
_PLACE_ERRNOS = frozenset(
    getattr(errno, name)
    for name in ("ENOSPC", "EDQUOT", "EFBIG", "EROFS", "EACCES", "EPERM", "EIO", "ENAMETOOLONG")
    if hasattr(errno, name)
)


@contextlib.contextmanager
def atomic_directory(target: str | os.PathLike, *, overwrite: bool = False) -> Iterator[Path]:
    """Yield a temporary directory beside ``target``; rename it to ``target`` on success.

    On any exception the temporary directory is removed, so no partial output is left.
    ``overwrite`` replaces an existing ``target`` (the old one is removed only after the new
    one is complete).
    """
    target = Path(target)
    if _exists(target):
        if not overwrite:
            raise OutputError(f"{target} already exists; choose another --out or remove it first", errno.EEXIST)
        _check_replaceable(target)
    ensure_parent(target)
    try:
        tmp = Path(tempfile.mkdtemp(prefix=f".{_stem(target)}.tmp-", dir=target.parent))
        os.chmod(tmp, 0o777 & ~current_umask())  # mkdtemp makes it private (0700); give it the usual mode
    except OSError as e:
        raise _output_error(target, e) from None
    try:
        yield tmp
    except BaseException as e:
        shutil.rmtree(tmp, ignore_errors=True)
        if isinstance(e, OSError) and not isinstance(e, GenofaceError) and e.errno in _PLACE_ERRNOS:
            raise _output_error(target, e) from e
        raise
    try:
        if _exists(target):
            old = target.with_name(f".{_stem(target)}.old-{os.getpid()}")
            target.rename(old)
            try:
                tmp.rename(target)
            except OSError:
                old.rename(target)  # put the old output back
                raise
            _remove(old)
        else:
            tmp.rename(target)
    except OSError as e:
        shutil.rmtree(tmp, ignore_errors=True)
        raise _output_error(target, e) from None


@contextlib.contextmanager
def atomic_stream(path: str | os.PathLike) -> Iterator[BinaryIO]:
    """A binary file that appears at ``path`` only once it is complete (removed on error)."""
    path = Path(path)
    if path.is_dir():
        raise OutputError(
            f"{path} is a folder; give a file name for the output (e.g. {path / 'out.tsv'})", errno.EISDIR
        )
    ensure_parent(path)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{_stem(path)}.tmp-", dir=path.parent)
    except OSError as e:
        raise _output_error(path, e) from None
    try:
        with os.fdopen(fd, "wb") as fh:
            yield fh
        os.chmod(tmp, 0o666 & ~current_umask())  # mkstemp makes 0600; give the file the usual mode
        os.replace(tmp, path)
    except BaseException as e:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        if isinstance(e, OSError) and not isinstance(e, GenofaceError) and e.errno in _PLACE_ERRNOS | {errno.EISDIR}:
            raise _output_error(path, e) from e
        raise


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file and an atomic rename."""
    with atomic_stream(path) as fh:
        fh.write(data)


def check_output(target: str | os.PathLike, *, overwrite: bool = False) -> Path:
    """Fail now, before any work, where :func:`atomic_directory` or :func:`atomic_stream` would
    fail at the end: ``target`` exists (without ``overwrite``), a file stands where a folder
    above it must be, or the nearest existing folder above it cannot be written. Creates nothing."""
    target = Path(target)
    if _exists(target):
        if not overwrite:
            raise OutputError(f"{target} already exists; choose another --out or remove it first", errno.EEXIST)
        _check_replaceable(target)
    for above in target.parents:
        if _exists(above):
            if not above.is_dir():
                raise OutputError(
                    f"{target}: cannot create it because {above} is a file, not a folder; choose another --out",
                    errno.ENOTDIR,
                )
            if not os.access(above, os.W_OK | os.X_OK):
                raise OutputError(
                    f"{target}: cannot be written (permission denied in {above}); check the folder's permissions "
                    "or choose another --out",
                    errno.EACCES,
                )
            break
    return target


def ensure_parent(path: str | os.PathLike) -> Path:
    """Create the folders above ``path``; an :class:`OutputError` naming the obstacle where a
    file stands in the way, permission is lacking or the name is not valid."""
    path = Path(path)
    parent = path.parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError) as e:
        blocker = next((p for p in (parent, *parent.parents) if _exists(p) and not p.is_dir()), parent)
        raise OutputError(
            f"{path}: cannot create it because {blocker} is a file, not a folder; choose another --out",
            e.errno,
        ) from None
    except OSError as e:
        raise _output_error(path, e) from None
    return parent


def current_umask() -> int:
    """The process umask (the only portable way to read it is to set it and put it back)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def write_json(path: str | os.PathLike, obj: Any) -> None:
    """Write ``obj`` as indented JSON; NumPy scalars and arrays and paths become plain JSON."""
    Path(path).write_text(json.dumps(obj, indent=2, default=_json_default) + "\n")


def read_json_object(path: str | os.PathLike, *, what: str, fix: str) -> dict[str, Any]:
    """A JSON file holding an object (``model.json``, ``traits.json``): anything else, or a file
    that is not UTF-8 JSON, is one :class:`GenofaceError` "<path>: corrupt <what> (...); <fix>"."""
    file = Path(path)
    try:
        obj = json.loads(file.read_bytes().decode("utf-8"))
    except json.JSONDecodeError as exc:
        raise GenofaceError(f"{file}: corrupt {what} ({exc.msg} at line {exc.lineno}); {fix}") from None
    except UnicodeDecodeError as exc:
        raise GenofaceError(f"{file}: corrupt {what} (not UTF-8 text at byte {exc.start}); {fix}") from None
    except RecursionError:
        raise GenofaceError(f"{file}: corrupt {what} (nested too deeply); {fix}") from None
    except ValueError as exc:  # e.g. an integer of more than 4,300 digits
        raise GenofaceError(f"{file}: corrupt {what} ({exc}); {fix}") from None
    except OSError as exc:
        raise GenofaceError(f"{file}: cannot be read ({exc.strerror or exc}); check the file's permissions") from None
    if not isinstance(obj, dict):
        raise GenofaceError(f"{file}: holds a JSON {type(obj).__name__}, not an object; {fix}")
    return obj


def read_arrays(
    path: str | os.PathLike, *, what: str = "arrays", fix: str = "write the file again"
) -> dict[str, np.ndarray]:
    """The arrays of an ``.npz`` file, read without pickle (loading cannot run code).

    A missing, truncated or corrupt file, a member that is not a ``.npy`` array, or an array of
    Python objects is one :class:`GenofaceError` "<path>: corrupt or unreadable <what> (...);
    <fix>", whatever zipfile, zlib or NumPy raised underneath (BadZipFile, zlib.error, EOFError,
    ValueError, ...).
    """
    import zipfile

    path = Path(path)
    if not path.is_file():
        raise GenofaceError(f"{path}: missing{' (a folder)' if path.is_dir() else ''}; {fix}")
    try:
        with zipfile.ZipFile(path) as zf:
            for info in zf.infolist():
                if info.is_dir() or not info.filename.endswith(".npy"):
                    raise ValueError(f"unexpected member {info.filename!r}")
        with np.load(path, allow_pickle=False) as npz:
            arrays = {k: npz[k] for k in npz.files}
    except MemoryError:
        raise GenofaceError(f"{path}: corrupt {what}: it claims more memory than there is; {fix}") from None
    except Exception as exc:  # zipfile.BadZipFile, zlib.error, EOFError, ValueError, OSError, KeyError, ...
        reason = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        raise GenofaceError(f"{path}: corrupt or unreadable {what} ({reason}); {fix}") from None
    for key, value in arrays.items():
        if not isinstance(value, np.ndarray) or value.dtype.hasobject or value.dtype.kind == "V":
            raise GenofaceError(f"{path}: corrupt {what}: entry {key!r} is not a plain array; {fix}")
    return arrays


def _json_default(o: Any) -> Any:
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"{type(o).__name__} is not JSON serializable")


# ---- helpers --------------------------------------------------------------------------------------


def _exists(path: Path) -> bool:
    """Whether anything (a file, folder or link, even a dangling one) is at ``path``."""
    try:
        os.lstat(path)
    except (OSError, ValueError):  # ValueError: a NUL in the name
        return False
    return True


def _stem(path: Path) -> str:
    """A name for temporary files beside ``path`` (``path.name`` is empty for "." or "/")."""
    return (path.name or "out")[:100]


def _check_replaceable(target: Path) -> None:
    """Refuse to replace a folder that holds the current folder, the home folder or the root."""
    try:
        real = target.resolve()
        cwd = Path.cwd().resolve()
    except OSError:
        return
    if real == Path(real.anchor) or real == Path.home().resolve() or cwd == real or real in cwd.parents:
        raise OutputError(
            f"refusing to replace {target} ({real}): it holds the current, home or root folder; choose another --out",
            errno.EPERM,
        )


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        with contextlib.suppress(OSError):
            path.unlink()


def _output_error(target: Path, e: OSError) -> OutputError:
    reason = e.strerror or str(e) or type(e).__name__
    hint = {
        errno.EACCES: "check the folder's permissions or choose another --out",
        errno.EPERM: "check the folder's permissions or choose another --out",
        errno.EROFS: "the disk is read-only; choose another --out",
        errno.ENOSPC: "free some disk space or choose another --out",
        errno.ENAMETOOLONG: "choose a shorter --out",
    }.get(e.errno, "choose another --out")
    where = f" at {e.filename}" if e.filename and Path(str(e.filename)) != target else ""
    return OutputError(f"{target}: cannot be written ({reason}{where}); {hint}", e.errno)
