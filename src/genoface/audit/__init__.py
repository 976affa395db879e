"""The re-identification audit: how well genomes pick out their owners among candidates, with
and without faces, from the whole genome and from demographics alone."""

from genoface.audit._audit import (
    AUDIT_BASELINE_FACE_MODEL,
    AUDIT_FACE_MODELS,
    CONDITIONS,
    SELECT_SIZES,
    AuditResult,
    audit_on_test,
    owner_ranks,
    rank_metrics,
    run_audit,
    select_among_ties,
)
from genoface.audit._candidates import MATCHED_TRAITS, Candidates, read_candidates
from genoface.audit._scoring import categorical_log_lr, gaussian_log_lr, trait_log_lr

__all__ = [
    "AUDIT_BASELINE_FACE_MODEL",
    "AUDIT_FACE_MODELS",
    "MATCHED_TRAITS",
    "audit_on_test",
    "CONDITIONS",
    "SELECT_SIZES",
    "AuditResult",
    "Candidates",
    "categorical_log_lr",
    "gaussian_log_lr",
    "owner_ranks",
    "rank_metrics",
    "read_candidates",
    "run_audit",
    "select_among_ties",
    "trait_log_lr",
]
