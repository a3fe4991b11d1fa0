// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

import {IERC20} from "./IERC20.sol";

/// @title IQuartierToken
/// @notice The local settlement token of a demo community: 6 decimals like a euro
/// stablecoin, minted by the community manager. Production points the market at a real
/// stablecoin instead; the market only needs IERC20.
interface IQuartierToken is IERC20 {
    /// @notice `sender` holds `balance` base units but tried to move `needed`.
    error ERC20InsufficientBalance(address sender, uint256 balance, uint256 needed);
    /// @notice `spender` may move `allowance` base units but tried to move `needed`.
    error ERC20InsufficientAllowance(address spender, uint256 allowance, uint256 needed);
    error ERC20InvalidSender(address sender);
    error ERC20InvalidReceiver(address receiver);
    error ERC20InvalidApprover(address approver);
    error ERC20InvalidSpender(address spender);
    /// @notice Only the minter (the community manager) mints.
    error TokenNotMinter(address caller);

    /// @notice Creates `amountUnits` base units for `to`. Minter only.
    function mint(address to, uint256 amountUnits) external;

    function name() external view returns (string memory);
    function symbol() external view returns (string memory);
    function decimals() external view returns (uint8);
    function minter() external view returns (address);
}
