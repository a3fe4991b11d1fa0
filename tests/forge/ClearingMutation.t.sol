// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

// Test values are bounded well inside the narrower types they are cast to.
// forge-lint: disable-start(unsafe-typecast)

import {ExchangeBase} from "./utils/ExchangeBase.sol";
import {IQuartierExchange} from "../../contracts/interfaces/IQuartierExchange.sol";
import {Rules} from "../../contracts/types/Rules.sol";

/// Clearing's walk-total check (issue 17, a slither-mutate survivor of Clearing._isWalkTotal):
/// one side exhausted ends the walk. With a price floor of 0, a sell at 0 and no buy, nothing
/// matches: the claim "nothing" (A = 0, no bid) has Q = 0 = the buys' total. Were both sides
/// required to be exhausted, the next-pair test would compare the least sell key (ask' 0 + 1)
/// with "no bid" + 1 = 1, find them equal, and refuse the true claim: the period could never
/// settle.
contract ClearingMutationTest is ExchangeBase {
    address internal seller;
    bytes32 internal meter;

    function initialRules() internal view override returns (Rules memory rules) {
        rules = super.initialRules();
        rules.priceFloorPerKwh = 0;
    }

    function setUp() public override {
        super.setUp();
        seller = _admit(0x51);
        meter = _admitMeter(seller, 0x1051);
        _post(seller, 1, _firstInterval(P), _entry(SELL, 1000, 0));
    }

    function test_settle_ASellAtZeroWithNoBuyMatchesNothing() public {
        bytes memory deltas;
        for (uint256 i; i < periodIntervals(); ++i) {
            deltas = bytes.concat(deltas, abi.encodePacked(uint32(0), uint32(1000)));
        }
        IQuartierExchange.HouseholdPeriod[] memory list = new IQuartierExchange.HouseholdPeriod[](1);
        list[0] = _household(
            seller,
            _postings(IQuartierExchange.Posting(1, _firstInterval(P), _entry(SELL, 1000, 0))),
            _meters(_inline(_batch(meter, P, 10_000, 50_000, deltas)))
        );
        _warpToSettle(P);
        bytes memory hints = _hints(list, P);
        assertEq(keccak256(hints), keccak256(hex"00000000"), "nothing matched in 4 intervals");
        vm.prank(SETTLER);
        exchange.settlePeriod(P, list, hints);
        assertTrue(exchange.isSettled(P), "settled");
        assertEq(_free(seller), 0, "nothing traded, nothing paid");
    }
}
