"""Bridgeline's shared library: the mechanisms every service uses, never domain rules."""
