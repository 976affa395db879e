"""The bottom layer every other package stands on: the one error type (:mod:`.errors`), atomic
output and checked reading of JSON and array files (:mod:`.files`), the data schema
(:mod:`.schema`: chromosome names, variant and covariate columns), the typed records results
travel in (:mod:`.records`) and the array-state protocol every saved estimator follows
(:mod:`.state`). It imports nothing from genoface above it.
"""

from genoface.core.errors import GenofaceError, OutputError, one_line

__all__ = ["GenofaceError", "OutputError", "one_line"]
