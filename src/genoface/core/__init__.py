"""The bottom layer every other package stands on: the one error type (:mod:`.errors`), atomic
output and checked reading of JSON and array files (:mod:`.files`), the data schema
(:mod:`.schema`: chromosome names, variant and covariate columns) and the array-state protocol
every saved estimator follows (:mod:`.state`). It imports nothing from genoface above it.

Results travel up in typed records (dataclasses) defined by the layer that makes them: the
allele matcher's ``MatchReport`` (genetics), ``PersonFeatures`` (features), ``EvaluationResult``
and ``Examples`` (evaluate), ``AuditResult`` (audit).
"""

from genoface.core.errors import GenofaceError, OutputError, one_line

__all__ = ["GenofaceError", "OutputError", "one_line"]
