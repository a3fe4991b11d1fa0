// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

import {IQuartierSharingKeys} from "../interfaces/IQuartierSharingKeys.sol";
import {KeyRule, SharingKey} from "../types/SharingKey.sol";

/// @title SharingKeys
/// @notice A CWaPE allocation key's checks and its rule (IQuartierSharingKeys, "The rule"),
/// exactly as ledger/dso/keys.py computes it, in integer Wh.
library SharingKeys {
    /// @notice 100 % in basis points: a Fixed rule's shares add up to it.
    uint256 internal constant FULL_SHARE_BP = 10_000;
    /// @notice The CWaPE's longest cascade.
    uint256 internal constant MAX_ITERATIONS = 3;
    /// @notice validUntilPeriod of a key with no end.
    uint64 internal constant NO_END = type(uint64).max;

    /// @dev One quarter-hour's state, shared by the producers' turns (a struct keeps the
    /// turn's locals within the stack without via-IR).
    struct Turn {
        KeyRule rule;
        bool first;
        uint16[] sharesBp;
        /// u_c: consumption not yet covered.
        uint256[] left;
        uint256[] received;
        /// Scratch of one turn: each member's weight (0: not eligible).
        uint256[] weights;
        /// Scratch of one turn: the uncapped members' (remainder << 32 | ~index).
        uint256[] order;
    }

    /// @notice Reverts with the named error unless `key` is a sound rule over its members
    /// (its validity is not looked at): 1-3 iterations, shares for a Fixed rule only and then
    /// one per member summing to 100 %, at least one member, none zero or listed twice.
    function checkRule(SharingKey memory key) internal pure {
        uint256 iterations = key.cascade.length;
        if (iterations == 0 || iterations > MAX_ITERATIONS) {
            revert IQuartierSharingKeys.SharingKeysIterationCount(iterations, MAX_ITERATIONS);
        }
        uint256 count = key.members.length;
        if (count == 0) revert IQuartierSharingKeys.SharingKeysNoMembers();
        bool fixedRule = false;
        for (uint256 i = 0; i < iterations; ++i) {
            if (key.cascade[i] == KeyRule.Fixed) fixedRule = true;
        }
        uint256 shares = key.sharesBp.length;
        if (fixedRule ? shares != count : shares != 0) {
            revert IQuartierSharingKeys.SharingKeysSharesLength(shares, count);
        }
        if (fixedRule) {
            uint256 total = 0;
            for (uint256 i = 0; i < shares; ++i) {
                total += key.sharesBp[i];
            }
            if (total != FULL_SHARE_BP) {
                revert IQuartierSharingKeys.SharingKeysSharesNotFullShare(total, FULL_SHARE_BP);
            }
        }
        _checkMembers(key.members);
    }

    /// @notice Reverts SharingKeysValidityReversed if `key` ends before it begins.
    function checkValidity(SharingKey memory key) internal pure {
        if (key.validUntilPeriod < key.validFromPeriod) {
            revert IQuartierSharingKeys.SharingKeysValidityReversed(
                key.validFromPeriod, key.validUntilPeriod
            );
        }
    }

    /// @notice True iff [fromA, untilA] and [fromB, untilB] share a period.
    function overlaps(uint64 fromA, uint64 untilA, uint64 fromB, uint64 untilB)
        internal
        pure
        returns (bool)
    {
        return fromA <= untilB && fromB <= untilA;
    }

    /// @notice One quarter-hour shared by `cascade` (and `sharesBp` for a Fixed rule) over
    /// the members the volumes are given for, in their order: per member what it received
    /// and what of its production it shared. The rule must have passed `checkRule`.
    function allocate(
        KeyRule[] memory cascade,
        uint16[] memory sharesBp,
        uint64[] calldata productionWh,
        uint64[] calldata consumptionWh
    ) internal pure returns (uint256[] memory receivedWh, uint256[] memory sharedWh) {
        uint256 count = consumptionWh.length;
        uint256[] memory pool = new uint256[](count); // r_p: production not yet shared
        Turn memory turn = Turn({
            rule: KeyRule.Equal,
            first: true,
            sharesBp: sharesBp,
            left: new uint256[](count),
            received: new uint256[](count),
            weights: new uint256[](count),
            order: new uint256[](count)
        });
        for (uint256 c = 0; c < count; ++c) {
            turn.left[c] = consumptionWh[c];
            pool[c] = productionWh[c];
        }
        sharedWh = new uint256[](count);
        for (uint256 iteration = 0; iteration < cascade.length; ++iteration) {
            turn.rule = cascade[iteration];
            turn.first = iteration == 0;
            for (uint256 p = 0; p < count; ++p) {
                uint256 energy = pool[p];
                if (energy == 0) continue;
                uint256 given = _share(turn, p, energy);
                pool[p] = energy - given;
                sharedWh[p] += given;
            }
        }
        receivedWh = turn.received;
    }

    /// @dev Producer p's turn: shares `energy` among the eligible others; returns the Wh given.
    function _share(Turn memory turn, uint256 p, uint256 energy) private pure returns (uint256) {
        uint256 total = _weigh(turn, p);
        if (total == 0) return 0;
        (uint256 given, uint256 uncappedWeight, uint256 uncappedFloors, uint256 uncapped) =
            _giveFloors(turn, energy, total);
        uint256 extra = (energy * uncappedWeight) / total - uncappedFloors;
        if (extra == 0) return given;
        // The `extra` largest entries are those >= the extra-th largest (all distinct).
        uint256[] memory order = turn.order;
        uint256 threshold = _select(order, uncapped, uncapped - extra);
        uint256[] memory left = turn.left;
        uint256[] memory received = turn.received;
        for (uint256 i = 0; i < uncapped; ++i) {
            uint256 entry = order[i];
            if (entry >= threshold) {
                uint256 c = type(uint32).max - (entry & type(uint32).max);
                left[c] -= 1; // an uncapped floor is below left[c]
                received[c] += 1;
            }
        }
        return given + extra;
    }

    /// @dev turn.weights := each member's weight in p's turn (0: p itself, or not eligible);
    /// returns their sum W.
    function _weigh(Turn memory turn, uint256 p) private pure returns (uint256 total) {
        uint256[] memory left = turn.left;
        uint256[] memory weights = turn.weights;
        uint16[] memory sharesBp = turn.sharesBp;
        KeyRule rule = turn.rule;
        bool first = turn.first;
        uint256 count = left.length;
        for (uint256 c = 0; c < count; ++c) {
            uint256 u = left[c];
            uint256 weight;
            if (c == p || (!first && u == 0)) weight = 0;
            else if (rule == KeyRule.Equal) weight = 1;
            else if (rule == KeyRule.Fixed) weight = sharesBp[c];
            else weight = u;
            weights[c] = weight;
            // At most count * 2^64: no overflow.
            unchecked {
                total += weight;
            }
        }
    }

    /// @dev Gives each eligible member min(u_c, floor(energy * w_c / total)) and records the
    /// uncapped ones in turn.order; returns the Wh given and the uncapped members' weight,
    /// floors and count.
    function _giveFloors(Turn memory turn, uint256 energy, uint256 total)
        private
        pure
        returns (uint256 given, uint256 uncappedWeight, uint256 uncappedFloors, uint256 uncapped)
    {
        uint256[] memory left = turn.left;
        uint256[] memory weights = turn.weights;
        uint256 count = left.length;
        for (uint256 c = 0; c < count; ++c) {
            uint256 weight = weights[c];
            if (weight == 0) continue;
            // energy and weights are below 2^64 and counts far below 2^32: no overflow, and
            // gift <= left[c].
            unchecked {
                uint256 raw = energy * weight;
                uint256 gift = raw / total;
                uint256 u = left[c];
                if (gift < u) {
                    uncappedWeight += weight;
                    uncappedFloors += gift;
                    // Distinct per member: the largest remainder first, ties to the lower index.
                    turn.order[uncapped++] = ((raw % total) << 32) | (type(uint32).max - c);
                } else {
                    gift = u;
                }
                if (gift != 0) {
                    left[c] = u - gift;
                    turn.received[c] += gift;
                    given += gift;
                }
            }
        }
    }

    /// @dev The value at index `target` of values[0..length) were it sorted ascending
    /// (quickselect, middle pivot; the values are distinct). Reorders values[0..length).
    function _select(uint256[] memory values, uint256 length, uint256 target)
        private
        pure
        returns (uint256)
    {
        uint256 low = 0;
        uint256 high = length - 1;
        while (low < high) {
            uint256 middle = (low + high) / 2;
            (values[middle], values[high]) = (values[high], values[middle]);
            uint256 pivot = values[high];
            uint256 store = low;
            for (uint256 i = low; i < high; ++i) {
                if (values[i] < pivot) {
                    (values[i], values[store]) = (values[store], values[i]);
                    ++store;
                }
            }
            (values[store], values[high]) = (values[high], values[store]);
            if (target == store) return pivot;
            if (target < store) high = store - 1;
            else low = store + 1;
        }
        return values[low];
    }

    /// @dev No zero address, nobody twice (a member listed twice would share with itself):
    /// an open-addressing table of (index + 1) by address, O(members).
    function _checkMembers(address[] memory members) private pure {
        uint256 count = members.length;
        uint256 size = 1;
        while (size < 2 * count) size <<= 1;
        uint256 mask = size - 1;
        uint256[] memory table = new uint256[](size);
        for (uint256 i = 0; i < count; ++i) {
            address member = members[i];
            if (member == address(0)) revert IQuartierSharingKeys.SharingKeysZeroAddress();
            uint256 slot = uint256(uint160(member)) & mask;
            for (uint256 seen = table[slot]; seen != 0; seen = table[slot]) {
                if (members[seen - 1] == member) {
                    revert IQuartierSharingKeys.SharingKeysMemberSharesWithItself(
                        member, seen - 1, i
                    );
                }
                slot = (slot + 1) & mask;
            }
            table[slot] = i + 1;
        }
    }
}
