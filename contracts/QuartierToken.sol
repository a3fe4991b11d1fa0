// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";
import {IERC20Metadata} from "@openzeppelin/contracts/token/ERC20/extensions/IERC20Metadata.sol";
import {IQuartierToken} from "./interfaces/IQuartierToken.sol";

/// @title QuartierToken
/// @notice OpenZeppelin's ERC-20 with 6 decimals, for local communities and tests; the
/// community manager mints. (An infinite allowance is never spent down: OpenZeppelin's rule.)
contract QuartierToken is ERC20, IQuartierToken {
    uint8 private constant DECIMALS = 6;

    address private immutable _minter;

    constructor(string memory name_, string memory symbol_, address minter_) ERC20(name_, symbol_) {
        if (minter_ == address(0)) revert ERC20InvalidReceiver(address(0));
        _minter = minter_;
    }

    /// @inheritdoc IQuartierToken
    function mint(address to, uint256 amountUnits) external {
        if (msg.sender != _minter) revert TokenNotMinter(msg.sender);
        _mint(to, amountUnits);
    }

    function decimals() public pure override(ERC20, IERC20Metadata) returns (uint8) {
        return DECIMALS;
    }

    /// @inheritdoc IQuartierToken
    function minter() external view returns (address) {
        return _minter;
    }
}
