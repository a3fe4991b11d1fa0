"""A community as data: `community.toml` read and checked (`model`), the chain's registry read
back (`chain_state`), the difference between them (`diff`, pure) and its application
(`apply`), the status a manager reads (`status`). The commands are `ledger.community_cli`.
"""
