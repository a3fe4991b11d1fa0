// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

/// The few forge cheatcodes our tests use. forge-std is not installable offline here (the
/// npm copy is an old fork without src/), so we declare the cheatcode interface ourselves.
interface Vm {
    struct Log {
        bytes32[] topics;
        bytes data;
        address emitter;
    }

    function recordLogs() external;
    function getRecordedLogs() external returns (Log[] memory logs);
    function prank(address sender) external;
    function startPrank(address sender) external;
    function stopPrank() external;
    function expectRevert(bytes calldata revertData) external;
    function expectRevert(bytes4 revertSelector) external;
    function expectRevert() external;
    function roll(uint256 newHeight) external;
    function expectEmit(bool topic1, bool topic2, bool topic3, bool data) external;
    function assume(bool condition) external pure;
    function addr(uint256 privateKey) external pure returns (address);
    function sign(uint256 privateKey, bytes32 digest)
        external
        pure
        returns (uint8 v, bytes32 r, bytes32 s);
    function signP256(uint256 privateKey, bytes32 digest)
        external
        pure
        returns (bytes32 r, bytes32 s);
    function publicKeyP256(uint256 privateKey)
        external
        pure
        returns (uint256 publicKeyX, uint256 publicKeyY);
    function warp(uint256 timestamp) external;
    function deal(address account, uint256 newBalance) external;
    function label(address account, string calldata newLabel) external;
}
