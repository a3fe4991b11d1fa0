// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

// Test values are bounded well inside the narrower types they are cast to.
// forge-lint: disable-start(unsafe-typecast)

import {ExchangeBase} from "./ExchangeBase.sol";
import {IQuartierExchange} from "../../../contracts/interfaces/IQuartierExchange.sol";

/// The hand-computed period of the settlement tests (4 intervals; only interval 0 trades):
///   sellers S1 1000 Wh ask 30 (floor 50 counts), S2 1000 Wh ask 120;
///   buyers  B1 1500 Wh bid 200 (its second posting; the first, 800 Wh at 180 in every
///           interval, is replaced from interval 0 on), B2 1000 Wh bid 130.
/// Meters in interval 0: S1 exports 1000, S2 only 700 (forecast error), B1 imports only 1400,
/// B2 imports 500. Each household has one meter, sent inline.
abstract contract SettlementScenario is ExchangeBase {
    address internal s1;
    address internal s2;
    address internal b1;
    address internal b2;
    address internal outsider;
    bytes32 internal meterS1;
    bytes32 internal meterS2;
    bytes32 internal meterB1;
    bytes32 internal meterB2;
    IQuartierExchange.Posting internal b1First;
    IQuartierExchange.Posting internal b1Second;

    uint256 internal constant FUND = 2_000;

    function setUp() public virtual override {
        super.setUp();
        s1 = _admit(0x51);
        s2 = _admit(0x52);
        b1 = _admit(0xB1);
        b2 = _admit(0xB2);
        outsider = _admit(0x0E);
        meterS1 = _admitMeter(s1, 0x1051);
        meterS2 = _admitMeter(s2, 0x1052);
        meterB1 = _admitMeter(b1, 0x10B1);
        meterB2 = _admitMeter(b2, 0x10B2);
        _fund(b1, FUND);
        _fund(b2, FUND);
        uint64 first = _firstInterval(P);
        _post(s1, 1, first, _entry(SELL, 1000, 30));
        _post(s2, 1, first, _entry(SELL, 1000, 120));
        b1First = _post(b1, 1, first, _repeat(BUY, 800, 180, 4));
        b1Second = _post(b1, 2, first, _entry(BUY, 1500, 200));
        _post(b2, 1, first, _entry(BUY, 1000, 130));
    }

    /// (import, export) Wh of interval 0, then 0 for the rest of the period.
    function _firstOnly(uint32 importWh, uint32 exportWh) internal view returns (bytes memory) {
        bytes memory deltas = abi.encodePacked(importWh, exportWh);
        for (uint256 i = 1; i < periodIntervals(); ++i) {
            deltas = bytes.concat(deltas, abi.encodePacked(uint32(0), uint32(0)));
        }
        return deltas;
    }

    function _postingsOf(address household)
        internal
        view
        returns (IQuartierExchange.Posting[] memory)
    {
        uint64 first = _firstInterval(P);
        if (household == s1) {
            return _postings(IQuartierExchange.Posting(1, first, _entry(SELL, 1000, 30)));
        }
        if (household == s2) {
            return _postings(IQuartierExchange.Posting(1, first, _entry(SELL, 1000, 120)));
        }
        if (household == b1) return _postings(b1First, b1Second);
        return _postings(IQuartierExchange.Posting(1, first, _entry(BUY, 1000, 130)));
    }

    function _meterOf(address household)
        internal
        view
        returns (IQuartierExchange.MeterBatch memory)
    {
        if (household == s1) {
            return _batch(meterS1, P, 10_000, 50_000, _firstOnly(0, 1000));
        }
        if (household == s2) return _batch(meterS2, P, 20_000, 60_000, _firstOnly(0, 700));
        if (household == b1) return _batch(meterB1, P, 30_000, 70_000, _firstOnly(1400, 0));
        return _batch(meterB2, P, 40_000, 80_000, _firstOnly(500, 0));
    }

    /// The complete, sorted settlement input with every meter inline.
    function _scenario() internal view returns (IQuartierExchange.HouseholdPeriod[] memory list) {
        address[4] memory all = [s1, s2, b1, b2];
        list = new IQuartierExchange.HouseholdPeriod[](4);
        for (uint256 i; i < 4; ++i) {
            list[i] = _household(all[i], _postingsOf(all[i]), _meters(_inline(_meterOf(all[i]))));
        }
        return _sorted(list);
    }

    /// The first of two households in settlement order (h), for the remainder rules.
    function _firstOf(address a, address b) internal pure returns (address) {
        return a < b ? a : b;
    }
}
