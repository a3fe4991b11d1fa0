// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

/// @notice How an interval's book becomes trades (see IQuartierExchange, "Clearing").
enum Mechanism {
    PayAsClear,
    PayAsBid,
    CommunityPrice
}

/// @notice The community's changeable rules for one period (IQuartierCommunity, "Rules").
/// Prices are token base units per kWh; times are seconds.
struct Rules {
    Mechanism mechanism;
    /// Entries for interval k can be posted until start(k) - gateLeadSeconds (exclusive).
    uint32 gateLeadSeconds;
    /// Settlement of period P may omit missing meter data from end(P) + this on.
    uint32 settlementDeadlineSeconds;
    /// Smallest energy of a non-empty schedule entry (>= 1).
    uint32 minEntryWh;
    /// Feed-in price: an ask below it counts as it.
    uint64 priceFloorPerKwh;
    /// Retail price: a bid above it counts as it.
    uint64 priceCeilingPerKwh;
    /// The price of every trade under Mechanism.CommunityPrice (floor <= it <= ceiling).
    uint64 communityPricePerKwh;
}
