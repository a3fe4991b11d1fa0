// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

import {SharingKeysBase} from "./utils/SharingKeysBase.sol";
import {KeyRule, SharingKey} from "../../contracts/types/SharingKey.sol";

/// Whatever the manager does, and whenever, the key of every period before the earliest
/// change period (past, current, next) is the one it was: random sequences of ends, new keys
/// and clock moves, each accepted or refused, checked period by period after each step.
contract QuartierSharingKeysFinalTest is SharingKeysBase {
    uint256 internal constant WATCHED = 6;

    /// forge-config: default.fuzz.runs = 64
    function testFuzz_finalPeriodsNeverChangeTheirKey(uint256 seed) public {
        for (uint256 step = 0; step < 10; ++step) {
            uint256 r = uint256(keccak256(abi.encode(seed, step)));
            uint64 earliest = keys.earliestChangePeriod();
            bytes32[WATCHED] memory before = _snapshot(earliest);
            uint64 target = earliest - 3 + uint64(r % 8); // some too early, some allowed
            vm.startPrank(MANAGER);
            if (r >> 8 & 1 == 0) {
                uint256 id = (r >> 16) % keys.keyCount();
                try keys.endKeyFrom(id, target) {} catch {}
            } else {
                uint64 until = r >> 24 & 1 == 0 ? NO_END : target + uint64((r >> 32) % 5);
                try keys.scheduleKey(_equalKey(target, until, 3)) {} catch {}
            }
            vm.stopPrank();
            bytes32[WATCHED] memory afterwards = _snapshot(earliest);
            for (uint256 i = 0; i < WATCHED; ++i) {
                assertEq(afterwards[i], before[i], "a final period's key moved");
            }
            vm.warp(block.timestamp + ((r >> 40) % 3) * PERIOD_SECONDS);
        }
    }

    /// The key id and rule of each of the WATCHED periods before `earliest` (0: none).
    function _snapshot(uint64 earliest) private view returns (bytes32[WATCHED] memory out) {
        for (uint256 i = 0; i < WATCHED; ++i) {
            uint64 period = earliest - 1 - uint64(i);
            try keys.keyAt(period) returns (uint256 id, SharingKey memory key) {
                out[i] = keccak256(
                    abi.encode(id, key.validFromPeriod, key.cascade, key.members, key.sharesBp)
                );
            } catch {
                out[i] = bytes32(0);
            }
        }
    }
}
