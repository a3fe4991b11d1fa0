// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

import {IERC20Errors} from "@openzeppelin/contracts/interfaces/draft-IERC6093.sol";
import {IERC20Metadata} from "@openzeppelin/contracts/token/ERC20/extensions/IERC20Metadata.sol";

/// @title IQuartierToken
/// @notice The local settlement token of a demo community: 6 decimals like a euro
/// stablecoin, minted by the community manager. Production points the market at a real
/// stablecoin instead; the market only needs IERC20. Its errors are OpenZeppelin's ERC-6093.
interface IQuartierToken is IERC20Metadata, IERC20Errors {
    /// @notice Only the minter (the community manager) mints.
    error TokenNotMinter(address caller);

    /// @notice Creates `amountUnits` base units for `to`. Minter only.
    function mint(address to, uint256 amountUnits) external;

    function minter() external view returns (address);
}
