// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

// Test values are bounded well inside the narrower types they are cast to.
// forge-lint: disable-start(unsafe-typecast)

import {SettlementScenario} from "./utils/SettlementScenario.sol";
import {IQuartierExchange} from "../../contracts/interfaces/IQuartierExchange.sol";
import {QuartierSettlementVersions} from "../../contracts/QuartierSettlementVersions.sol";
import {
    IQuartierSettlementVersions
} from "../../contracts/interfaces/IQuartierSettlementVersions.sol";

/// Versions of the hand-computed PayAsClear period P (SettlementScenario): who may record
/// them, for which periods, in which order, and the lines' conservation; the exchange's own
/// settlement (version 1) is never touched.
contract QuartierSettlementVersionsTest is SettlementScenario {
    bytes32 internal constant WORKBOOK = keccak256("2027-02 ORES.xlsx");

    QuartierSettlementVersions internal versions;

    function setUp() public override {
        super.setUp();
        versions = new QuartierSettlementVersions(exchange);
    }

    function _settlement() internal {
        IQuartierExchange.HouseholdPeriod[] memory list = _scenario();
        _warpToSettle(P);
        _settle(list);
    }

    /// S1 sold 10 Wh less to B1 (their addresses sorted): -1 unit for S1, +1 for B1.
    function _lines() internal view returns (IQuartierSettlementVersions.Line[] memory lines) {
        lines = new IQuartierSettlementVersions.Line[](2);
        IQuartierSettlementVersions.Line memory seller =
            IQuartierSettlementVersions.Line(s1, -10, 0, -1);
        IQuartierSettlementVersions.Line memory buyer =
            IQuartierSettlementVersions.Line(b1, 0, -10, 1);
        (lines[0], lines[1]) = uint160(s1) < uint160(b1) ? (seller, buyer) : (buyer, seller);
    }

    function _record(uint32 version, IQuartierSettlementVersions.Line[] memory lines) internal {
        vm.prank(MANAGER);
        versions.recordVersion(P, version, WORKBOOK, lines);
    }

    function test_constructor_BindsTheExchangesCommunity() public view {
        assertEq(versions.exchange(), address(exchange), "exchange");
        assertEq(versions.community(), address(community), "the exchange's community");
        assertEq(versions.MAX_LINES(), exchange.MAX_HOUSEHOLDS_PER_PERIOD(), "a line per household");
    }

    function test_constructor_RevertWhen_ZeroExchange() public {
        vm.expectRevert(IQuartierSettlementVersions.VersionsZeroAddress.selector);
        new QuartierSettlementVersions(IQuartierExchange(address(0)));
    }

    function test_latestVersion_ZeroUntilSettledThenOne() public {
        assertEq(versions.latestVersion(P), 0, "unsettled: no version");
        _settlement();
        assertEq(versions.latestVersion(P), 1, "the exchange's settlement is version 1");
    }

    function test_recordVersion_AppendsAndEmitsEverything() public {
        _settlement();
        IQuartierSettlementVersions.Line[] memory lines = _lines();
        bytes32 linesHash = keccak256(abi.encode(lines));
        vm.expectEmit(true, true, true, true);
        emit IQuartierSettlementVersions.SettlementVersionRecorded(P, 2, WORKBOOK, linesHash, lines);
        _record(2, lines);
        assertEq(versions.latestVersion(P), 2, "version 2");
        (bytes32 source, bytes32 hash, uint64 recordedAt) = versions.versionOf(P, 2);
        assertEq(source, WORKBOOK, "source");
        assertEq(hash, linesHash, "lines hash");
        assertEq(uint256(recordedAt), block.timestamp, "recorded now");
        // Version 3 corrects version 2 back: the history keeps both.
        IQuartierSettlementVersions.Line[] memory back = _lines();
        for (uint256 i; i < back.length; ++i) {
            back[i].deliveredWh = -back[i].deliveredWh;
            back[i].receivedWh = -back[i].receivedWh;
            back[i].changeUnits = -back[i].changeUnits;
        }
        _record(3, back);
        assertEq(versions.latestVersion(P), 3, "version 3");
        (, bytes32 first,) = versions.versionOf(P, 2);
        assertEq(first, linesHash, "version 2 is never rewritten");
    }

    function test_recordVersion_LeavesTheSettlementUntouched() public {
        _settlement();
        uint256[5] memory before = [_free(s1), _free(s2), _free(b1), _free(b2), _free(SETTLER)];
        uint256 held = token.balanceOf(address(exchange));
        _record(2, _lines());
        uint256[5] memory afterwards = [_free(s1), _free(s2), _free(b1), _free(b2), _free(SETTLER)];
        for (uint256 i; i < 5; ++i) {
            assertEq(afterwards[i], before[i], "no escrow moves");
        }
        assertEq(token.balanceOf(address(exchange)), held, "no token moves");
        assertTrue(exchange.isSettled(P), "still settled");
    }

    function test_recordVersion_RevertWhen_NotManager() public {
        _settlement();
        IQuartierSettlementVersions.Line[] memory lines = _lines();
        address[3] memory callers = [s1, outsider, SETTLER];
        for (uint256 i; i < callers.length; ++i) {
            vm.prank(callers[i]);
            vm.expectRevert(
                abi.encodeWithSelector(
                    IQuartierSettlementVersions.VersionsNotManager.selector, callers[i]
                )
            );
            versions.recordVersion(P, 2, WORKBOOK, lines);
        }
    }

    function test_recordVersion_FollowsAManagementTransfer() public {
        _settlement();
        address next = address(0xB0B);
        vm.prank(MANAGER);
        community.transferManagement(next);
        IQuartierSettlementVersions.Line[] memory lines = _lines();
        vm.prank(MANAGER);
        vm.expectRevert(
            abi.encodeWithSelector(IQuartierSettlementVersions.VersionsNotManager.selector, MANAGER)
        );
        versions.recordVersion(P, 2, WORKBOOK, lines);
        vm.prank(next);
        versions.recordVersion(P, 2, WORKBOOK, lines);
    }

    function test_recordVersion_RevertWhen_PeriodNotSettled() public {
        IQuartierSettlementVersions.Line[] memory lines = _lines();
        _warpToSettle(P);
        vm.prank(MANAGER);
        vm.expectRevert(
            abi.encodeWithSelector(IQuartierSettlementVersions.VersionsPeriodNotSettled.selector, P)
        );
        versions.recordVersion(P, 2, WORKBOOK, lines);
    }

    function test_recordVersion_RevertWhen_OutOfOrder() public {
        _settlement();
        IQuartierSettlementVersions.Line[] memory lines = _lines();
        uint32[3] memory wrong = [uint32(1), 3, 0];
        for (uint256 i; i < wrong.length; ++i) {
            vm.prank(MANAGER);
            vm.expectRevert(
                abi.encodeWithSelector(
                    IQuartierSettlementVersions.VersionsOutOfOrder.selector, P, wrong[i], 2
                )
            );
            versions.recordVersion(P, wrong[i], WORKBOOK, lines);
        }
        _record(2, lines);
        vm.prank(MANAGER);
        vm.expectRevert(
            abi.encodeWithSelector(IQuartierSettlementVersions.VersionsOutOfOrder.selector, P, 2, 3)
        );
        versions.recordVersion(P, 2, WORKBOOK, lines);
    }

    function test_recordVersion_RevertWhen_NoSource() public {
        _settlement();
        IQuartierSettlementVersions.Line[] memory lines = _lines();
        vm.prank(MANAGER);
        vm.expectRevert(
            abi.encodeWithSelector(IQuartierSettlementVersions.VersionsNoSource.selector, P)
        );
        versions.recordVersion(P, 2, bytes32(0), lines);
    }

    function test_recordVersion_RevertWhen_NoLines() public {
        _settlement();
        IQuartierSettlementVersions.Line[] memory none;
        vm.prank(MANAGER);
        vm.expectRevert(
            abi.encodeWithSelector(
                IQuartierSettlementVersions.VersionsLineCount.selector, P, 0, 255
            )
        );
        versions.recordVersion(P, 2, WORKBOOK, none);
    }

    function test_recordVersion_RevertWhen_NotSorted() public {
        _settlement();
        IQuartierSettlementVersions.Line[] memory lines = _lines();
        (lines[0], lines[1]) = (lines[1], lines[0]);
        vm.prank(MANAGER);
        vm.expectRevert(
            abi.encodeWithSelector(
                IQuartierSettlementVersions.VersionsLinesNotSorted.selector, 1, lines[1].household
            )
        );
        versions.recordVersion(P, 2, WORKBOOK, lines);
        lines = _lines();
        lines[1].household = lines[0].household; // the same household twice
        vm.prank(MANAGER);
        vm.expectRevert(
            abi.encodeWithSelector(
                IQuartierSettlementVersions.VersionsLinesNotSorted.selector, 1, lines[0].household
            )
        );
        versions.recordVersion(P, 2, WORKBOOK, lines);
    }

    function test_recordVersion_RevertWhen_EmptyLine() public {
        _settlement();
        IQuartierSettlementVersions.Line[] memory lines = _lines();
        lines[0].deliveredWh = 0;
        lines[0].receivedWh = 0;
        lines[0].changeUnits = 0;
        lines[1].deliveredWh = 0;
        lines[1].receivedWh = 0;
        lines[1].changeUnits = 0;
        vm.prank(MANAGER);
        vm.expectRevert(
            abi.encodeWithSelector(
                IQuartierSettlementVersions.VersionsEmptyLine.selector, 0, lines[0].household
            )
        );
        versions.recordVersion(P, 2, WORKBOOK, lines);
    }

    function test_recordVersion_RevertWhen_NotMember() public {
        _settlement();
        IQuartierSettlementVersions.Line[] memory lines = new IQuartierSettlementVersions.Line[](1);
        lines[0] = IQuartierSettlementVersions.Line(address(0xdead), 5, 5, 0);
        vm.prank(MANAGER);
        vm.expectRevert(
            abi.encodeWithSelector(
                IQuartierSettlementVersions.VersionsNotMember.selector, 0, address(0xdead)
            )
        );
        versions.recordVersion(P, 2, WORKBOOK, lines);
    }

    function test_recordVersion_RevertWhen_MoneyNotConserved() public {
        _settlement();
        IQuartierSettlementVersions.Line[] memory lines = _lines();
        lines[0].changeUnits += 1;
        vm.prank(MANAGER);
        vm.expectRevert(
            abi.encodeWithSelector(
                IQuartierSettlementVersions.VersionsMoneyNotConserved.selector, P, int256(1)
            )
        );
        versions.recordVersion(P, 2, WORKBOOK, lines);
    }

    function test_recordVersion_RevertWhen_EnergyNotConserved() public {
        _settlement();
        IQuartierSettlementVersions.Line[] memory lines = _lines();
        int256 delivered = lines[0].deliveredWh + lines[1].deliveredWh;
        int256 received = lines[0].receivedWh + lines[1].receivedWh - 1;
        if (lines[0].receivedWh != 0) lines[0].receivedWh -= 1;
        else lines[1].receivedWh -= 1;
        vm.prank(MANAGER);
        vm.expectRevert(
            abi.encodeWithSelector(
                IQuartierSettlementVersions.VersionsEnergyNotConserved.selector,
                P,
                delivered,
                received
            )
        );
        versions.recordVersion(P, 2, WORKBOOK, lines);
    }

    /// Any zero-sum pair of lines between two members is accepted and its hash recorded.
    function testFuzz_recordVersion_ZeroSumAccepted(int64 wh, int128 units) public {
        vm.assume(wh != 0 || units != 0);
        _settlement();
        IQuartierSettlementVersions.Line[] memory lines = new IQuartierSettlementVersions.Line[](2);
        (address low, address high) = uint160(s1) < uint160(b1) ? (s1, b1) : (b1, s1);
        lines[0] = IQuartierSettlementVersions.Line(low, wh, 0, int256(units));
        lines[1] = IQuartierSettlementVersions.Line(high, 0, wh, -int256(units));
        _record(2, lines);
        (, bytes32 hash,) = versions.versionOf(P, 2);
        assertEq(hash, keccak256(abi.encode(lines)), "lines hash");
    }

    /// Gas of a version with 100 lines (50 sellers' and 50 buyers' differences).
    function test_gas_recordVersion_100Lines() public {
        _settlement();
        IQuartierSettlementVersions.Line[] memory lines =
            new IQuartierSettlementVersions.Line[](100);
        for (uint256 i; i < 100; ++i) {
            address household = address(uint160(0x1000 + i));
            vm.prank(MANAGER);
            community.admitHousehold(household);
            int256 sign = i % 2 == 0 ? int256(1) : int256(-1);
            lines[i] = IQuartierSettlementVersions.Line(
                household,
                i % 2 == 0 ? int64(25) : int64(0),
                i % 2 == 0 ? int64(0) : int64(25),
                sign * 3
            );
        }
        vm.prank(MANAGER);
        uint256 before = gasleft();
        versions.recordVersion(P, 2, WORKBOOK, lines);
        uint256 used = before - gasleft();
        assertLe(used, 700_000, "100 lines under 700k gas (execution, calldata excluded)");
    }
}
