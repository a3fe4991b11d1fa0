"""Protocol v2 settlement, the pure reference of IQuartierExchange's rule (no I/O, no chain).

`settle_period` takes the period's rules, the time grid and every household that posted
(postings, membership, meters) and returns what the contract's `settlePeriod` computes:
per-interval price / traded / delivered, per-household delivered, received, change and
released lock, the settler's rounding units, and the `hints` bytes the contract checks.
The steps are separate pure functions: `book` (entries in force), `clearing` (ranking and
walk), `netting` (meters and money); `codec` holds every byte layout.
"""

from api.settlement.book import Book, entry_at, period_books, period_entries
from api.settlement.clearing import (
    Clearing,
    claim_of,
    clear_interval,
    effective_limits,
    hints_for,
    rankings,
)
from api.settlement.codec import (
    Claim,
    decode_deltas,
    decode_entries,
    decode_hints,
    encode_deltas,
    encode_entries,
    encode_hints,
    lock_units,
    pack_cleared_intervals,
    posting_lock_units,
    unpack_cleared_intervals,
)
from api.settlement.errors import (
    EncodingError,
    InvalidEntriesError,
    InvalidHintsError,
    InvalidHouseholdsError,
    InvalidMeterDataError,
    InvalidPostingError,
    InvalidRulesError,
    SettlementError,
)
from api.settlement.model import (
    NO_ENTRY,
    Entry,
    HouseholdInput,
    Mechanism,
    MeterInput,
    Posting,
    Rules,
    Side,
    TimeGrid,
    Window,
)
from api.settlement.netting import Netting, metered_of_period, net_interval
from api.settlement.period import (
    HouseholdSettlement,
    IntervalSettlement,
    PeriodSettlement,
    order_households,
    settle_period,
)

__all__ = [
    "NO_ENTRY",
    "Book",
    "Claim",
    "Clearing",
    "EncodingError",
    "Entry",
    "HouseholdInput",
    "HouseholdSettlement",
    "IntervalSettlement",
    "InvalidEntriesError",
    "InvalidHintsError",
    "InvalidHouseholdsError",
    "InvalidMeterDataError",
    "InvalidPostingError",
    "InvalidRulesError",
    "Mechanism",
    "MeterInput",
    "Netting",
    "PeriodSettlement",
    "Posting",
    "Rules",
    "SettlementError",
    "Side",
    "TimeGrid",
    "Window",
    "claim_of",
    "clear_interval",
    "decode_deltas",
    "decode_entries",
    "decode_hints",
    "effective_limits",
    "encode_deltas",
    "encode_entries",
    "encode_hints",
    "entry_at",
    "hints_for",
    "lock_units",
    "metered_of_period",
    "net_interval",
    "order_households",
    "pack_cleared_intervals",
    "period_books",
    "period_entries",
    "posting_lock_units",
    "rankings",
    "settle_period",
    "unpack_cleared_intervals",
]
