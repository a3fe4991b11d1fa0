"""Python ↔ chain: contract artifacts, deployment, one typed client per contract, events.

Everything that talks to an EVM node goes through this package; reverts come back as named
Python exceptions (see `ledger.errors`).
"""
