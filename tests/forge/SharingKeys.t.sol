// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

import {SharingKeysBase} from "./utils/SharingKeysBase.sol";
import {IQuartierSharingKeys} from "../../contracts/interfaces/IQuartierSharingKeys.sol";
import {KeyRule, SharingKey} from "../../contracts/types/SharingKey.sol";

/// The rule (allocate): vectors computed by ledger/dso/keys.py, each check's named error, and
/// conservation fuzzed over every rule and cascades of 1-3 iterations.
contract SharingKeysTest is SharingKeysBase {
    function test_equal_SplitsEvenlyAmongTheOthers() public view {
        (uint256[] memory received, uint256[] memory shared) = keys.allocate(
            _keyOf(_cascade(KeyRule.Equal), new uint16[](0)), _three(10, 0, 0), _three(0, 6, 6)
        );
        _assertThree(received, 0, 5, 5, "received");
        _assertThree(shared, 10, 0, 0, "shared");
    }

    function test_equal_LeftoverWhGoesToTheFirstOnATie() public view {
        (uint256[] memory received,) = keys.allocate(
            _keyOf(_cascade(KeyRule.Equal), new uint16[](0)), _three(7, 0, 0), _three(0, 10, 10)
        );
        _assertThree(received, 0, 4, 3, "floors 3 and 3, the spare Wh to member 1");
    }

    function test_cascade_WhatTheFirstLeavesGoesToTheNext() public view {
        (uint256[] memory received, uint256[] memory shared) = keys.allocate(
            _keyOf(_cascade(KeyRule.Equal, KeyRule.ProRata), new uint16[](0)),
            _three(10, 0, 0),
            _three(0, 2, 20)
        );
        _assertThree(received, 0, 2, 8, "member 1 capped at 2, its 3 Wh go pro rata");
        _assertThree(shared, 10, 0, 0, "all shared");
    }

    function test_fixed_LargestRemainderGetsTheSpareWh() public view {
        (uint256[] memory received,) = keys.allocate(
            _keyOf(_cascade(KeyRule.Fixed), _shares(5000, 3000, 2000)),
            _three(11, 0, 0),
            _three(0, 100, 100)
        );
        _assertThree(received, 0, 7, 4, "6.6 -> 7, 4.4 -> 4");
    }

    function test_threeIterations_MatchThePythonRule() public view {
        (uint256[] memory received, uint256[] memory shared) = keys.allocate(
            _keyOf(
                _cascade(KeyRule.Fixed, KeyRule.Equal, KeyRule.ProRata), _shares(5000, 3000, 2000)
            ),
            _three(20, 30, 0),
            _three(3, 5, 40)
        );
        _assertThree(received, 3, 5, 40, "ledger.dso.keys.allocate");
        _assertThree(shared, 20, 28, 0, "ledger.dso.keys.allocate");
    }

    function test_nobodySharesWithItself() public view {
        (uint256[] memory received, uint256[] memory shared) = keys.allocate(
            _keyOf(_cascade(KeyRule.Equal), new uint16[](0)), _three(10, 0, 0), _three(10, 0, 0)
        );
        _assertThree(received, 0, 0, 0, "the only consumer is the producer");
        _assertThree(shared, 0, 0, 0, "nothing shared");
    }

    function test_checks_NameTheBrokenFact() public {
        SharingKey memory key = _keyOf(_cascade(KeyRule.Fixed), _shares(5000, 3000, 1999));
        vm.expectRevert(
            abi.encodeWithSelector(
                IQuartierSharingKeys.SharingKeysSharesNotFullShare.selector, 9999, 10_000
            )
        );
        keys.allocate(key, _three(1, 1, 1), _three(1, 1, 1));

        key = _keyOf(new KeyRule[](4), new uint16[](0));
        vm.expectRevert(
            abi.encodeWithSelector(IQuartierSharingKeys.SharingKeysIterationCount.selector, 4, 3)
        );
        keys.allocate(key, _three(1, 1, 1), _three(1, 1, 1));

        key = _keyOf(new KeyRule[](0), new uint16[](0));
        vm.expectRevert(
            abi.encodeWithSelector(IQuartierSharingKeys.SharingKeysIterationCount.selector, 0, 3)
        );
        keys.allocate(key, _three(1, 1, 1), _three(1, 1, 1));

        key = _keyOf(_cascade(KeyRule.Equal), new uint16[](0));
        key.members[2] = key.members[0];
        vm.expectRevert(
            abi.encodeWithSelector(
                IQuartierSharingKeys.SharingKeysMemberSharesWithItself.selector,
                key.members[0],
                0,
                2
            )
        );
        keys.allocate(key, _three(1, 1, 1), _three(1, 1, 1));

        key = _keyOf(_cascade(KeyRule.Equal), _shares(5000, 3000, 2000));
        vm.expectRevert(
            abi.encodeWithSelector(IQuartierSharingKeys.SharingKeysSharesLength.selector, 3, 3)
        );
        keys.allocate(key, _three(1, 1, 1), _three(1, 1, 1));

        key = _keyOf(_cascade(KeyRule.Equal), new uint16[](0));
        vm.expectRevert(
            abi.encodeWithSelector(IQuartierSharingKeys.SharingKeysVolumesLength.selector, 3, 2, 3)
        );
        keys.allocate(key, new uint64[](2), _three(1, 1, 1));
    }

    /// Σ shared <= production per producer, received <= consumption per member, Σ received ==
    /// Σ shared, and the whole production shared when consumption covers it (equal rule).
    function testFuzz_allocate_ConservesEveryWh(
        uint256 seed,
        uint8 iterations,
        uint8 memberCount,
        uint8 ruleBits
    ) public view {
        uint256 count = 2 + (memberCount % 14);
        uint256 depth = 1 + (iterations % 3);
        KeyRule[] memory cascade = new KeyRule[](depth);
        bool fixedRule = false;
        for (uint256 i = 0; i < depth; ++i) {
            cascade[i] = KeyRule((ruleBits >> (2 * i)) % 3);
            fixedRule = fixedRule || cascade[i] == KeyRule.Fixed;
        }
        uint16[] memory shares = fixedRule ? _randomShares(seed, count) : new uint16[](0);
        SharingKey memory key = SharingKey(0, NO_END, cascade, _members(count), shares);
        uint64[] memory production = new uint64[](count);
        uint64[] memory consumption = new uint64[](count);
        for (uint256 i = 0; i < count; ++i) {
            uint256 r = uint256(keccak256(abi.encode(seed, i)));
            production[i] = r % 4 == 0 ? uint64((r >> 8) % 5000) : 0;
            consumption[i] = uint64((r >> 80) % 3000);
        }
        (uint256[] memory received, uint256[] memory shared) =
            keys.allocate(key, production, consumption);
        uint256 totalReceived = 0;
        uint256 totalShared = 0;
        for (uint256 i = 0; i < count; ++i) {
            assertLe(received[i], consumption[i], "a member receives at most its consumption");
            assertLe(shared[i], production[i], "a producer shares at most its production");
            totalReceived += received[i];
            totalShared += shared[i];
        }
        assertEq(totalReceived, totalShared, "what is received is what is shared");
    }

    function testFuzz_allocate_SharesAllWhenConsumptionCoversIt(uint64 energy, uint8 memberCount)
        public
        view
    {
        uint256 count = 2 + (memberCount % 30);
        uint64[] memory production = new uint64[](count);
        uint64[] memory consumption = new uint64[](count);
        production[0] = energy % 1_000_000;
        for (uint256 i = 1; i < count; ++i) {
            consumption[i] = type(uint64).max;
        }
        SharingKey memory key =
            SharingKey(0, NO_END, _cascade(KeyRule.Equal), _members(count), new uint16[](0));
        (, uint256[] memory shared) = keys.allocate(key, production, consumption);
        assertEq(shared[0], production[0], "every Wh shared");
    }

    /// What a day-time quarter-hour of a 100-member community costs: everyone consumes, 40
    /// produce, a three-iteration cascade.
    function test_gas_allocate100Members() public view {
        uint256 count = 100;
        uint64[] memory production = new uint64[](count);
        uint64[] memory consumption = new uint64[](count);
        for (uint256 i = 0; i < count; ++i) {
            uint256 r = uint256(keccak256(abi.encode(i)));
            production[i] = i % 5 < 2 ? uint64(200 + r % 800) : 0;
            consumption[i] = uint64(50 + (r >> 64) % 400);
        }
        uint16[] memory shares = new uint16[](count);
        for (uint256 i = 0; i < count; ++i) {
            shares[i] = 100;
        }
        SharingKey memory key = SharingKey(
            0,
            NO_END,
            _cascade(KeyRule.Fixed, KeyRule.Equal, KeyRule.ProRata),
            _members(count),
            shares
        );
        uint256 before = gasleft();
        keys.allocate(key, production, consumption);
        uint256 used = before - gasleft();
        assertLe(used, 30_000_000, "within a block's gas");
    }

    function _randomShares(uint256 seed, uint256 count) private pure returns (uint16[] memory s) {
        s = new uint16[](count);
        uint256 left = 10_000;
        for (uint256 i = 0; i + 1 < count; ++i) {
            uint256 r = uint256(keccak256(abi.encode(seed, "share", i)));
            s[i] = uint16(r % (left + 1));
            left -= s[i];
        }
        s[count - 1] = uint16(left);
    }
}
