// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

import {Strings} from "@openzeppelin/contracts/utils/Strings.sol";
import {Vm} from "./Vm.sol";

/// The two cheatcodes behind the failure record (declared here so Vm.sol stays as it is).
interface FailureRecord {
    function load(address target, bytes32 slot) external view returns (bytes32 value);
    function store(address target, bytes32 slot, bytes32 value) external;
}

/// A screen of assertions in place of forge-std's Test. A failed assertion is recorded, not
/// reverted (forge-std's `fail()`): it writes the cheatcode account's "failed" slot, which
/// forge >= 1.0 reads after every test, invariant and handler call, sets `failed()` and logs
/// what failed; the test runs on and fails at its end. A revert would roll the record back,
/// so `failed()` could never report it (issue 17).
abstract contract Test {
    Vm internal constant vm = Vm(address(uint160(uint256(keccak256("hevm cheat code")))));
    /// forge's GLOBAL_FAIL_SLOT (forge-std writes the same slot in `fail()`).
    bytes32 private constant FAILED_SLOT = bytes32("failed");
    bool public IS_TEST = true;
    bool private _failed;

    /// ds-test's log event: forge prints it under "Logs" of a failing test.
    event log(string message);

    address[] private _targetContracts;

    /// @dev The invariant runner calls this (forge-std's StdInvariant has the same shape).
    function targetContracts() public view returns (address[] memory) {
        return _targetContracts;
    }

    function targetContract(address target) internal {
        _targetContracts.push(target);
    }

    /// True once an assertion of this test (or a `fail()` anywhere in it) failed.
    function failed() public view returns (bool) {
        return _failed || FailureRecord(address(vm)).load(address(vm), FAILED_SLOT) != 0;
    }

    function assertTrue(bool condition, string memory message) internal pure {
        if (!condition) _fail(message);
    }

    function assertEq(uint256 left, uint256 right, string memory message) internal pure {
        if (left != right) _fail(_both(message, " == ", _text(left), _text(right)));
    }

    function assertEq(bytes32 left, bytes32 right, string memory message) internal pure {
        if (left != right) _fail(_both(message, " == ", _text(left), _text(right)));
    }

    function assertEq(address left, address right, string memory message) internal pure {
        if (left != right) {
            _fail(_both(message, " == ", Strings.toHexString(left), Strings.toHexString(right)));
        }
    }

    function assertLe(uint256 left, uint256 right, string memory message) internal pure {
        if (left > right) _fail(_both(message, " <= ", _text(left), _text(right)));
    }

    function assertGe(uint256 left, uint256 right, string memory message) internal pure {
        if (left < right) _fail(_both(message, " >= ", _text(left), _text(right)));
    }

    /// Records a failure (forge-std's `fail()`); callable from view and pure tests, which forge
    /// runs as ordinary calls, so the record's writes take effect.
    function _fail(string memory message) internal pure {
        _asPure(_record)(message);
    }

    function _record(string memory message) private {
        _failed = true;
        FailureRecord(address(vm)).store(address(vm), FAILED_SLOT, bytes32(uint256(1)));
        emit log(string.concat("assertion failed: ", message));
    }

    /// The cast forge-std uses to log from pure code: the same internal function, typed pure.
    function _asPure(function(string memory) internal record)
        private
        pure
        returns (function(string memory) internal pure pureRecord)
    {
        assembly {
            pureRecord := record
        }
    }

    function _both(string memory message, string memory op, string memory l, string memory r)
        private
        pure
        returns (string memory)
    {
        return string.concat(message, ": expected ", l, op, r);
    }

    function _text(uint256 value) private pure returns (string memory) {
        return Strings.toString(value);
    }

    function _text(bytes32 value) private pure returns (string memory) {
        return Strings.toHexString(uint256(value), 32);
    }
}
