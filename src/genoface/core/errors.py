"""The one exception type for problems the user can fix (bad input, bad options)."""

from __future__ import annotations

import re

#: A run of non-blank characters longer than this in a message is shortened (a 1 MB field of a
#: damaged file must not become a 1 MB error line).
MAX_TOKEN = 256
#: Longest message kept whole; longer ones keep their start and their end (the fix).
MAX_MESSAGE = 2000

# Characters that would break the one line or fool a terminal: C0/C1 controls (newlines, NUL,
# escape sequences, tabs), Unicode line/paragraph separators and bidirectional overrides.
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069\ufeff]")
_LINE_BREAKS = re.compile(r"[\r\n]+")
_BLANKS = re.compile(r"(\s+)")
_KEEP = 1 << 15


def one_line(text: str) -> str:
    """``text`` made safe to print as one line: line breaks become "; ", other control and
    bidirectional characters are escaped (``\\x00``, ``\\t``, ``\\u202e``), long runs of blanks
    become one space, very long tokens and messages are shortened in the middle.

    Every step is linear in the length of ``text`` (a damaged file can put a megabyte field in a
    message; a pattern such as ``\\s*\\n`` would be quadratic on a run of spaces).
    """
    text = str(text)
    if len(text) > 4 * _KEEP:  # keep the start (what) and the end (the fix) of a huge message
        text = f"{text[:_KEEP]} [... {len(text) - 2 * _KEEP:,} characters ...] {text[-_KEEP:]}"
    text = "; ".join(part.strip() for part in _LINE_BREAKS.split(text) if part.strip())
    text = _UNSAFE.sub(_escape, text)
    parts = _BLANKS.split(text)  # tokens at even positions, the blanks between them at odd ones
    for i, part in enumerate(parts):
        if i % 2 and len(part) > 4:
            parts[i] = " "
        elif not i % 2 and len(part) > MAX_TOKEN:
            parts[i] = _shorten(part)
    text = "".join(parts)
    if len(text) > MAX_MESSAGE:
        head, tail = MAX_MESSAGE * 2 // 3, MAX_MESSAGE // 4
        text = f"{text[:head]} [... {len(text) - head - tail:,} characters ...] {text[-tail:]}"
    return text


def _escape(m: re.Match) -> str:
    c = m.group()
    return {"\t": "\\t", "\x00": "\\x00"}.get(c) or (f"\\x{ord(c):02x}" if ord(c) < 0x100 else f"\\u{ord(c):04x}")


def _shorten(s: str) -> str:
    keep_head, keep_tail = MAX_TOKEN // 2, MAX_TOKEN // 4
    return f"{s[:keep_head]}...[{len(s) - keep_head - keep_tail:,} characters]...{s[-keep_tail:]}"


class GenofaceError(ValueError):
    """A user-fixable problem: the message is one line naming the file, sample or option and
    what to do about it. The command line prints it without a traceback and exits non-zero.

    The message is made one line on construction (:func:`one_line`), so text quoted from a
    damaged file (line breaks, NUL, terminal escapes, a megabyte-long field) cannot break it.
    """

    def __init__(self, *args: object) -> None:
        if len(args) == 1 and isinstance(args[0], str):
            args = (one_line(args[0]),)
        super().__init__(*args)


class OutputError(GenofaceError, OSError):
    """An output that cannot be written where it was asked for: a file in the way of a folder,
    no permission, a full disk. A :class:`GenofaceError` (the command line prints it as one line)
    and an :class:`OSError` (code that tolerates an unwritable place, such as the cohort cache,
    keeps catching it); ``errno`` is that of the failure underneath, where there was one."""

    def __init__(self, message: str, errno: int | None = None) -> None:
        super().__init__(message)
        self.errno = errno
