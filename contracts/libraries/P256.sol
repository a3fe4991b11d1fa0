// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

/// @title P256
/// @notice NIST P-256 (secp256r1) helpers: the curve of meters' secure elements.
library P256 {
    /// @dev The P256VERIFY precompile (EIP-7951, Osaka; RIP-7212 on L2s).
    address internal constant VERIFIER = address(0x100);

    uint256 internal constant FIELD_P =
        0xffffffff00000001000000000000000000000000ffffffffffffffffffffffff;
    uint256 internal constant CURVE_B =
        0x5ac635d8aa3a93e7b3ebbd55769886bc651d06b0cc53b0f63bce3c3e27d2604b;

    /// @notice True when (x, y) is a point of P-256 (y^2 = x^3 - 3x + b mod p).
    function isOnCurve(uint256 x, uint256 y) internal pure returns (bool) {
        if (x >= FIELD_P || y >= FIELD_P || (x == 0 && y == 0)) return false;
        uint256 lhs = mulmod(y, y, FIELD_P);
        uint256 x3 = mulmod(mulmod(x, x, FIELD_P), x, FIELD_P);
        uint256 rhs = addmod(addmod(x3, FIELD_P - mulmod(3, x, FIELD_P), FIELD_P), CURVE_B, FIELD_P);
        return lhs == rhs;
    }

    /// @notice Verifies a P-256 signature (r, s) of a 32-byte digest by the key (x, y).
    /// @dev Before Osaka a call to 0x100 still succeeds with empty output, so only exactly
    /// 32 bytes equal to 1 counts as valid. The precompile accepts high-s signatures:
    /// replay protection must come from sequence numbers, never signature uniqueness.
    function verify(bytes32 digest, bytes32 r, bytes32 s, uint256 x, uint256 y)
        internal
        view
        returns (bool)
    {
        (bool ok, bytes memory out) = VERIFIER.staticcall(abi.encode(digest, r, s, x, y));
        return ok && out.length == 32 && abi.decode(out, (uint256)) == 1;
    }
}
