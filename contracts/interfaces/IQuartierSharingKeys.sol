// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

import {IQuartierCommunity} from "./IQuartierCommunity.sol";
import {SharingKey} from "../types/SharingKey.sol";

/// @title IQuartierSharingKeys
/// @notice Protocol v2: the community's CWaPE allocation keys, how each quarter-hour's
/// injected energy is shared among its members, with the periods each key holds for.
///
/// Keys. A key holds for periods validFromPeriod..validUntilPeriod (both included;
/// type(uint64).max: no end); no two keys' validities overlap, so a period has at most one key
/// (`keyAt`). The deployment sets the first keys (community.toml's [[sharing]]). The manager of
/// the bound QuartierCommunity changes them with the community's rule delay: a new key holds
/// from period currentPeriod() + ruleChangeDelayPeriods() at the earliest (`scheduleKey`), and
/// a key stops holding from that period at the earliest (`endKeyFrom`). So the key of the
/// current period, of the next one and of every past (hence every settled) period is final.
/// Keys are never deleted: `keyById` reads every key ever set, as it stands now (an end moved
/// earlier shows in its validUntilPeriod, and in the KeyEnded event).
///
/// The rule, per quarter-hour, in integer Wh (the Python mirror is ledger/dso/keys.py). Members
/// are in the key's order. u_c is member c's consumption not yet covered (starts at its
/// consumption), r_p producer p's production not yet shared (starts at its production). For
/// each iteration in the cascade, producer by producer in the members' order, for each p with
/// r_p > 0:
/// - the weights: Equal w_c = 1; Fixed w_c = sharesBp[c]; ProRata w_c = u_c (as it stands when
///   p's turn comes);
/// - p shares r_p among the others (nobody shares with itself): the members c != p with
///   w_c > 0 and, from the second iteration on, u_c > 0; W is the sum of their weights (W = 0:
///   p shares nothing in this iteration);
/// - c gets s_c = min(u_c, floor(r_p * w_c / W)); the members with floor(r_p * w_c / W) < u_c
///   are uncapped, W' the sum of their weights; the Wh the floors leave,
///   floor(r_p * W' / W) - (the uncapped members' floors), go 1 Wh each to the uncapped
///   members with the largest remainder (r_p * w_c) mod W, ties to the member first in the
///   key's order (never past u_c: an uncapped floor is below it);
/// - u_c -= s_c, r_p -= sum of s_c.
/// What the last iteration leaves is not shared (it goes to the grid). Hence, exactly: every
/// member receives at most its consumption, every producer shares at most its production,
/// what is received equals what is shared, and when every member's consumption covers its
/// share the producer's whole production is shared.
interface IQuartierSharingKeys {
    /// @notice A key was set (at deployment or by the manager), as stored under `keyId`.
    event KeyScheduled(uint256 indexed keyId, SharingKey key);
    /// @notice Key `keyId` holds until `validUntilPeriod` (included) from now on.
    event KeyEnded(uint256 indexed keyId, uint64 validUntilPeriod);

    error SharingKeysNotManager(address caller);
    error SharingKeysZeroAddress();
    /// @notice A cascade has 1 to `maximum` (3) iterations.
    error SharingKeysIterationCount(uint256 iterations, uint256 maximum);
    /// @notice A Fixed rule's shares add up to exactly 10,000 basis points (100 %).
    error SharingKeysSharesNotFullShare(uint256 totalBp, uint256 fullShareBp);
    /// @notice Shares are given for a Fixed rule only, and then one per member.
    error SharingKeysSharesLength(uint256 shares, uint256 members);
    /// @notice A key shares among at least one member.
    error SharingKeysNoMembers();
    /// @notice A member listed twice would share with itself.
    error SharingKeysMemberSharesWithItself(address member, uint256 firstIndex, uint256 index);
    /// @notice A key ends before it begins.
    error SharingKeysValidityReversed(uint64 validFromPeriod, uint64 validUntilPeriod);
    /// @notice Key `keyId`'s validity overlaps key `otherKeyId`'s.
    error SharingKeysValidityOverlap(uint256 keyId, uint256 otherKeyId);
    /// @notice A change applies from `period`, before the earliest period a change may touch.
    error SharingKeysChangeTooEarly(uint64 period, uint64 earliestPeriod);
    /// @notice `endKeyFrom` only moves a key's end earlier.
    error SharingKeysEndNotEarlier(uint256 keyId, uint64 validUntilPeriod, uint64 newUntil);
    error SharingKeysUnknownKey(uint256 keyId);
    /// @notice No key holds for `period`.
    error SharingKeysNoKeyInForce(uint64 period);
    /// @notice Production and consumption come one per member of the key.
    error SharingKeysVolumesLength(uint256 members, uint256 production, uint256 consumption);

    /// @notice Sets `key` (its validity from the earliest period a change may touch on,
    /// overlapping no other key); returns its id.
    function scheduleKey(SharingKey calldata key) external returns (uint256 keyId);

    /// @notice Key `keyId` no longer holds from `period` on (period >= the earliest period a
    /// change may touch). At or before its first period: it never holds.
    function endKeyFrom(uint256 keyId, uint64 period) external;

    /// @notice The bound community: its manager, period clock and rule delay apply.
    function community() external view returns (IQuartierCommunity);

    /// @notice The earliest period a change made now may touch:
    /// community.currentPeriod() + community.ruleChangeDelayPeriods().
    function earliestChangePeriod() external view returns (uint64);

    function keyCount() external view returns (uint256);

    function keyById(uint256 keyId) external view returns (SharingKey memory);

    /// @notice The key that holds for `period` and its id; SharingKeysNoKeyInForce if none.
    function keyAt(uint64 period) external view returns (uint256 keyId, SharingKey memory key);

    /// @notice keyAt(the period containing unix time `timestamp`).
    function keyAtTime(uint64 timestamp)
        external
        view
        returns (uint256 keyId, SharingKey memory key);

    /// @notice One quarter-hour shared by `key`'s rule (its validity is not looked at):
    /// per member of the key, what it received from the others and what of its production
    /// went to them.
    function allocate(
        SharingKey calldata key,
        uint64[] calldata productionWh,
        uint64[] calldata consumptionWh
    ) external pure returns (uint256[] memory receivedWh, uint256[] memory sharedWh);

    /// @notice allocate(keyAt(period), productionWh, consumptionWh).
    function allocateAt(
        uint64 period,
        uint64[] calldata productionWh,
        uint64[] calldata consumptionWh
    ) external view returns (uint256[] memory receivedWh, uint256[] memory sharedWh);
}
