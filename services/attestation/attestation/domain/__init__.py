"""The attestation domain: plain dataclasses and pure functions, no framework imports.

`claims.build_claims` is the privacy projection of this service: the only place that
decides what an employer may learn from attendance and enrollment data.
"""
