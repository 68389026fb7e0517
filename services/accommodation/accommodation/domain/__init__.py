"""The accommodation domain: plain dataclasses and pure functions, no framework imports."""
