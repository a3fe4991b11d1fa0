// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

/// @title Validity
/// @notice Whether a registry entry (a membership or a meter) counts for a time span: the one
/// test IQuartierCommunity states ("counts for interval k") and the exchange applies.
library Validity {
    /// @notice True iff an entry valid from `admittedAt` until `revokedAt` (0: still valid)
    /// holds over all of [start, end): admittedAt <= start and (revokedAt == 0 or
    /// revokedAt >= end). An entry never admitted (admittedAt == 0) counts for nothing.
    /// @dev Block times are never 0 on a live chain, so admittedAt == 0 means "no entry".
    function counts(uint64 admittedAt, uint64 revokedAt, uint64 start, uint64 end)
        internal
        pure
        returns (bool)
    {
        return admittedAt != 0 && admittedAt <= start && (revokedAt == 0 || revokedAt >= end);
    }
}
