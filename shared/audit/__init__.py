"""The audit and disclosure log: an append-only, hash-chained record, per service database,
of every read of clinical data (`access`) and every disclosure to an employer
(`disclosure`) — who, when, which fields of which resources of whose record, why, under
which consent, to whom. It is the 42 CFR Part 2 accounting of disclosures the employee
sees on the manage page, and the evidence that every clinical read was audited.

No values, ever: an entry holds only ids, field names and short codes, and the shapes are
enforced when an `AuditEvent` is built (see `shared.audit.model`). Integrity: each entry's
SHA-256 covers the previous entry's hash and a canonical encoding of the entry (see
`shared.audit.chain`), so `verify` finds an edited, removed, inserted or reordered entry
and says where; database triggers additionally refuse updates and deletes.

    audit = AuditLog(purposes={"employment_support"})
    with session.begin():
        attestation = ...  # the disclosure itself
        audit.append(session, AuditEvent.disclosure(
            actor=client_id, subject=key_subject, resource_type="attestation",
            resource_ids=[attestation.id], fields=["attendance", "compliant"],
            purpose="employment_support", consent_id=consent.id,
            recipient=Recipient(employer_id, "hr")))
    disclosures_for(session, key_subject)  # the employee's own view
    verify(engine).ok
"""

from shared.audit.chain import (
    GENESIS_HASH,
    BreakReason,
    ChainAnchor,
    ChainBreak,
    ChainChecker,
    VerificationResult,
    entry_from_line,
    export_line,
)
from shared.audit.export import export_jsonl
from shared.audit.log import AuditChainMissing, AuditLog, disclosures_for, iter_entries, verify
from shared.audit.model import (
    AuditEntry,
    AuditEvent,
    AuditKind,
    InvalidAuditEvent,
    Recipient,
    system_actor,
)
from shared.audit.tables import audit_chain_head, audit_log

__all__ = [
    "GENESIS_HASH",
    "AuditChainMissing",
    "AuditEntry",
    "AuditEvent",
    "AuditKind",
    "AuditLog",
    "BreakReason",
    "ChainAnchor",
    "ChainBreak",
    "ChainChecker",
    "InvalidAuditEvent",
    "Recipient",
    "VerificationResult",
    "audit_chain_head",
    "audit_log",
    "disclosures_for",
    "entry_from_line",
    "export_jsonl",
    "export_line",
    "iter_entries",
    "system_actor",
    "verify",
]
