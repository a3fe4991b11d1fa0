"""Members' money: tariffs as data (`tariffs/<region>-<year>.toml`), the Walloon bill rule.

Pure: no chain, no I/O beyond reading a tariff file. Integers throughout: Wh, token units
per kWh (1 EUR = 1,000,000 units).
"""
