"""The one exception type for problems the user can fix (bad input, bad options)."""


class GenofaceError(ValueError):
    """A user-fixable problem: the message is one line naming the file, sample or option and
    what to do about it. The command line prints it without a traceback and exits non-zero."""
