"""Meter readings intake: verify signed cumulative registers and store them for relaying."""
