"""The referral domain: plain dataclasses and pure functions, no framework imports."""
