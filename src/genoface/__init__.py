"""genoface: 3D faces and appearance traits from SNP genotypes, and the re-identification risk.

The public Python API mirrors the command line: :func:`genoface.simulate.simulate` makes a
cohort, :class:`genoface.cohort.Cohort` loads and saves the cohort directory, and
:mod:`genoface.models` holds the predictors.
"""

from importlib.metadata import PackageNotFoundError, version

from genoface.core.errors import GenofaceError

try:
    __version__ = version("genoface")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0+unknown"

__all__ = ["GenofaceError", "__version__"]
