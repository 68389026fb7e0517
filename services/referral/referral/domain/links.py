"""Referral and manage links: the shared token mechanism and the referral's default TTL."""

from __future__ import annotations

from shared.tokens import TOKEN_SHAPE, hash_token, new_token, well_formed

DEFAULT_LINK_TTL_DAYS = 14

__all__ = ["DEFAULT_LINK_TTL_DAYS", "TOKEN_SHAPE", "hash_token", "new_token", "well_formed"]
