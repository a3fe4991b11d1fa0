// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

/// @notice One iteration's rule of a CWaPE allocation key (IQuartierSharingKeys, "The rule").
enum KeyRule {
    /// Every member the same weight.
    Equal,
    /// Member i's weight is sharesBp[i] (basis points; the shares sum to 10,000 = 100 %).
    Fixed,
    /// Member i's weight is its consumption not yet covered.
    ProRata
}

/// @notice A CWaPE allocation key and the periods it holds for (IQuartierSharingKeys).
struct SharingKey {
    /// First period the key holds for.
    uint64 validFromPeriod;
    /// Last period it holds for, included; type(uint64).max: no end. Below validFromPeriod:
    /// the key was withdrawn before it began (it holds for no period).
    uint64 validUntilPeriod;
    /// The iterations, 1 to 3, in order: what one leaves goes to the next.
    KeyRule[] cascade;
    /// The members it shares among, in the order ties break to (the first wins).
    address[] members;
    /// Per member, under a Fixed rule: its share in basis points; empty without a Fixed rule.
    uint16[] sharesBp;
}
