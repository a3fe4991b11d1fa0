// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

import {Test} from "./utils/Test.sol";
import {ScheduleCodec} from "../../contracts/libraries/ScheduleCodec.sol";

/// Exposes the codec's calldata functions.
contract ScheduleCodecHarness {
    function lockOf(bytes calldata entries, uint256 minEntryWh)
        external
        pure
        returns (uint256, uint256)
    {
        return ScheduleCodec.lockOf(entries, minEntryWh);
    }

    function lockOfValid(bytes calldata entries) external pure returns (uint256) {
        return ScheduleCodec.lockOfValid(entries);
    }
}

/// The word-wise (SWAR) lockOf and lockOfValid against a plain entry-by-entry reading of the
/// rule (IQuartierExchange, "Schedules"), on random entries: any length, any side byte, none
/// entries with stray bits, energies around the minimum, and calldata after the entries (the
/// last partial word must not read it).
contract ScheduleCodecTest is Test {
    ScheduleCodecHarness internal harness;

    function setUp() public {
        harness = new ScheduleCodecHarness();
    }

    function _reference(bytes memory entries, uint256 minEntryWh)
        internal
        pure
        returns (uint256 lockUnits, uint256 badIndex)
    {
        uint256 count = entries.length / 8;
        if (entries.length % 8 != 0) return (0, count);
        uint256 lockMilli;
        for (uint256 i; i < count; ++i) {
            uint64 entry;
            for (uint256 j; j < 8; ++j) {
                entry = (entry << 8) | uint64(uint8(entries[i * 8 + j]));
            }
            uint256 side = entry >> 56;
            uint256 energyWh = (entry >> 32) & 0xffffff;
            bool bad = side > 2 || (side == 0 ? entry != 0 : energyWh < minEntryWh);
            if (bad) return (0, i);
            if (side == 2) lockMilli += energyWh * (entry & 0xffffffff);
        }
        return ((lockMilli + 999) / 1000, type(uint256).max);
    }

    /// Entries from a seed: mostly valid (sides 0-2, energies near the minimum), with a
    /// chosen share of broken ones.
    function _entries(uint256 seed, uint256 count, uint256 minEntryWh, bool breakSome)
        internal
        pure
        returns (bytes memory entries)
    {
        for (uint256 i; i < count; ++i) {
            uint256 r = uint256(keccak256(abi.encode(seed, i)));
            uint256 side = r % 3;
            uint256 energyWh = minEntryWh + (r >> 8) % 600;
            if (energyWh > 0xffffff) energyWh = 0xffffff;
            uint256 price = (r >> 40) % 2 == 0 ? (r >> 48) % 400 : uint32(r >> 80);
            uint64 entry = side == 0 ? 0 : uint64((side << 56) | (energyWh << 32) | price);
            if (breakSome && (r >> 120) % 7 == 0) {
                uint256 how = (r >> 128) % 4;
                if (how == 0) {
                    entry =
                        uint64((uint256(3 + (r >> 136) % 253) << 56) | (entry & ((1 << 56) - 1)));
                } else if (how == 1) {
                    entry = uint64(1 + (r >> 136) % 0xffffffff);
                } else if (how == 2 && minEntryWh > 0) {
                    entry = uint64(((1 + (r >> 136) % 2) << 56) | ((minEntryWh - 1) << 32) | price);
                } else {
                    entry = uint64((uint256(1) << 56) | price);
                }
            }
            entries = bytes.concat(entries, bytes8(entry));
        }
    }

    function testFuzz_lockOf_MatchesTheEntryByEntryRule(
        uint256 seed,
        uint8 count,
        uint24 minEntryWh,
        bool breakSome,
        uint8 extraBytes
    ) public view {
        uint256 minimum = 1 + uint256(minEntryWh) % 0xffffff;
        bytes memory entries = _entries(seed, count % 70, minimum, breakSome);
        if (extraBytes % 5 == 0) entries = bytes.concat(entries, hex"ff");
        (uint256 lockUnits, uint256 badIndex) = harness.lockOf(entries, minimum);
        (uint256 expectedLock, uint256 expectedBad) = _reference(entries, minimum);
        assertEq(badIndex, expectedBad, "first bad entry");
        assertEq(lockUnits, expectedLock, "lock");
        if (expectedBad == type(uint256).max) {
            assertEq(harness.lockOfValid(entries), expectedLock, "settlement's recomputation");
        }
    }

    /// The bytes after the entries in their last calldata word (ABI padding, which nobody
    /// checks) set to ones: read as entries, they would be a bad entry and a huge buy. The
    /// last partial word must be cut at the entries' end.
    function test_lockOf_IgnoresDirtyPaddingAfterTheEntries() public view {
        bytes memory entries = bytes.concat(bytes8(uint64((uint256(2) << 56) | (10 << 32) | 100)));
        bytes memory call = abi.encodeCall(harness.lockOf, (entries, 1));
        // selector, offset, minEntryWh, length, then the entries' word: bytes 8-31 are padding.
        for (uint256 i = 4 + 96 + 8; i < 4 + 96 + 32; ++i) {
            call[i] = 0xff;
        }
        (bool ok, bytes memory result) = address(harness).staticcall(call);
        assertTrue(ok, "call");
        (uint256 lockUnits, uint256 badIndex) = abi.decode(result, (uint256, uint256));
        assertEq(lockUnits, 1, "10 Wh at 100 = 1,000 milli-units");
        assertEq(badIndex, type(uint256).max, "valid");
        call = abi.encodeCall(harness.lockOfValid, (entries));
        for (uint256 i = 4 + 64 + 8; i < 4 + 64 + 32; ++i) {
            call[i] = 0xff;
        }
        (ok, result) = address(harness).staticcall(call);
        assertTrue(ok, "call");
        assertEq(abi.decode(result, (uint256)), 1, "settlement's lock");
    }
}
