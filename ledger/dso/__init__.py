"""The grid operator's data: its monthly workbook, checked against the chain and the key.

In Wallonia the grid operator (ORES, RESA, AIEG) is the legal authority on volumes: each
month it sends the community a workbook of per-quarter-hour volumes per EAN (`Brut Rep`
gross, `Partagé Rep` shared, `Net Rep` net). `workbook` imports it exactly (integer Wh),
`reconcile` compares its gross volumes with the meters' signed batches on chain, `keys`
holds the CWaPE allocation keys and `check_keys` recomputes the shared volumes with them.
"""
