"""The commented example `quartier community init` writes: it deploys as is on Anvil.

Members are Anvil's public development accounts 1-3 (funded on every fresh node; never use
them elsewhere); meter keys are derived from fixed numbers, so the example is the same every
time and is only an example: real meters make their keys with `quartier meter keygen`.
"""

from __future__ import annotations

from cryptography.hazmat.primitives.asymmetric import ec
from eth_utils.crypto import keccak

from ledger.community_config.ean import gs1_check_digit

#: Anvil's development accounts 1, 2 and 3 (account 0 deploys and manages).
EXAMPLE_ADDRESSES = (
    "0x70997970C51812dc3A010C7d01b50e0d17dc79C8",
    "0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC",
    "0x90F79bf6EB2c4f870365E785982E1f101E93b906",
)
EXAMPLE_NAMES = ("Alice", "Bruno", "Chloé")
#: Their supply contracts (names of api/economics/tariffs/wallonia-2026.toml).
EXAMPLE_CONTRACTS = (
    '{ dso = "ORES", supply = "variable-single", injection = "variable-monthly" }',
    '{ dso = "ORES", supply = "variable-day-night", injection = "fixed" }',
    '{ dso = "ORES", supply = "variable-single", injection = "fixed" }',
)


def example_ean(serial: int) -> str:
    """An 18-digit Belgian-style EAN ("5414..."), check digit included."""
    body = f"54144882{serial:09d}"
    return body + str(gs1_check_digit(body))


def example_meter_key(label: str) -> tuple[int, int]:
    """A P-256 public key derived from `label` (the example's meters only)."""
    scalar = int.from_bytes(keccak(text=f"quartier example meter {label}"), "big")
    order = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
    numbers = ec.derive_private_key(scalar % (order - 1) + 1, ec.SECP256R1()).public_key()
    public = numbers.public_numbers()
    return public.x, public.y


def example_toml() -> str:
    """The example file's text."""
    members = []
    meters = []
    for index, (name, address) in enumerate(zip(EXAMPLE_NAMES, EXAMPLE_ADDRESSES, strict=True)):
        members.append(
            f'[[members]]\nname = "{name}"\nean = "{example_ean(index + 1)}"\n'
            f'address = "{address}"\n'
            f"contract = {EXAMPLE_CONTRACTS[index]}\n"
        )
        x, y = example_meter_key(name)
        meters.append(
            f'[[meters]]\nmember = "{name}"\npublic_key_x = "0x{x:064x}"\n'
            f'public_key_y = "0x{y:064x}"\n'
        )
    return _HEADER + "\n".join(members) + "\n" + _METERS + "\n".join(meters)


_HEADER = """\
# A Quartier community (protocol v2), as `quartier community deploy` reads it.
# Deploy:  quartier community deploy community.toml --rpc http://127.0.0.1:8545
# Edit and deploy again: only the difference is sent (0 changes when nothing changed).

# The community's name (off chain: shown by `quartier community status`).
name = "Rue des Tilleuls"

[token]
# A new QuartierToken (6 decimals, 1 unit = 0.000001 EUR) that the manager mints...
name = "Quartier Euro"
symbol = "qEUR"
# ...or settle in an existing ERC-20 instead (then give neither name nor symbol):
# address = "0x..."

[time]
# Fixed at deployment (changing them would renumber every signed interval).
interval_seconds = 900          # a quarter-hour
period_intervals = 96           # a settlement period is a day of quarter-hours
rule_change_delay_periods = 2   # a rule change takes effect 2 periods later (at least 2)

[rules]
# The on-chain rules; a change is scheduled for currentPeriod + rule_change_delay_periods.
mechanism = "pay-as-clear"      # pay-as-clear | pay-as-bid | community-price
gate_lead_seconds = 900         # schedules close 15 min before their quarter-hour
settlement_deadline_seconds = 86400  # a day after a period to bring missing meter data
min_entry_wh = 1                # smallest non-empty schedule entry (1 .. 16777215 Wh)
# Prices in token base units per kWh: 50000 = 0.05 EUR/kWh.
price_floor_per_kwh = 50000     # feed-in price: an ask below counts as it
price_ceiling_per_kwh = 350000  # retail price: a bid above counts as it (<= 4294967295)
community_price_per_kwh = 150000  # the price under community-price (floor <= it <= ceiling)

# Members: a household's name and EAN stay off chain; its address is admitted on chain.
# `contract` (off chain, optional): its DSO, supply and injection offers in the region's
# tariff file (api/economics/tariffs/wallonia-2026.toml), for `quartier statement`.
# The EAN's last digit is its GS1 check digit; the address must be EIP-55 checksummed.
# Removing a member from this file removes it on chain (an address is admitted only once).
"""

_METERS = """
# Meters: a P-256 public key (`quartier meter keygen --json` prints x and y) and its member.
# At most 8 per member, for ever; removing one from this file revokes it on chain.
"""
