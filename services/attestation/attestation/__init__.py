"""The attestation service: provider attendance in, consent-filtered signed
attestations out, utilization reports."""
