// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

import {CommunityBase} from "./CommunityBase.sol";
import {QuartierSharingKeys} from "../../../contracts/QuartierSharingKeys.sol";
import {KeyRule, SharingKey} from "../../../contracts/types/SharingKey.sol";

/// A community (daily periods, two-period delay) and its sharing keys, with key builders.
abstract contract SharingKeysBase is CommunityBase {
    uint64 internal constant NO_END = type(uint64).max;

    QuartierSharingKeys internal keys;

    function setUp() public virtual override {
        super.setUp();
        SharingKey[] memory initial = new SharingKey[](1);
        initial[0] = _equalKey(0, NO_END, 3);
        keys = new QuartierSharingKeys(community, initial);
    }

    function _members(uint256 count) internal pure returns (address[] memory members) {
        members = new address[](count);
        for (uint256 i = 0; i < count; ++i) {
            members[i] = address(uint160(0x1000 + i));
        }
    }

    function _cascade(KeyRule a) internal pure returns (KeyRule[] memory cascade) {
        cascade = new KeyRule[](1);
        cascade[0] = a;
    }

    function _cascade(KeyRule a, KeyRule b) internal pure returns (KeyRule[] memory cascade) {
        cascade = new KeyRule[](2);
        (cascade[0], cascade[1]) = (a, b);
    }

    function _cascade(KeyRule a, KeyRule b, KeyRule c)
        internal
        pure
        returns (KeyRule[] memory cascade)
    {
        cascade = new KeyRule[](3);
        (cascade[0], cascade[1], cascade[2]) = (a, b, c);
    }

    function _equalKey(uint64 from, uint64 until, uint256 count)
        internal
        pure
        returns (SharingKey memory)
    {
        return SharingKey({
            validFromPeriod: from,
            validUntilPeriod: until,
            cascade: _cascade(KeyRule.Equal),
            members: _members(count),
            sharesBp: new uint16[](0)
        });
    }

    function _keyOf(KeyRule[] memory cascade, uint16[] memory sharesBp)
        internal
        pure
        returns (SharingKey memory)
    {
        uint256 count = sharesBp.length == 0 ? 3 : sharesBp.length;
        return SharingKey({
            validFromPeriod: 0,
            validUntilPeriod: NO_END,
            cascade: cascade,
            members: _members(count),
            sharesBp: sharesBp
        });
    }

    function _three(uint64 a, uint64 b, uint64 c) internal pure returns (uint64[] memory v) {
        v = new uint64[](3);
        (v[0], v[1], v[2]) = (a, b, c);
    }

    function _shares(uint16 a, uint16 b, uint16 c) internal pure returns (uint16[] memory v) {
        v = new uint16[](3);
        (v[0], v[1], v[2]) = (a, b, c);
    }

    function _assertThree(uint256[] memory got, uint256 a, uint256 b, uint256 c, string memory m)
        internal
        pure
    {
        assertEq(got.length, 3, m);
        assertEq(got[0], a, m);
        assertEq(got[1], b, m);
        assertEq(got[2], c, m);
    }
}
