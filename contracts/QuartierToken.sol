// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

import {IERC20} from "./interfaces/IERC20.sol";
import {IQuartierToken} from "./interfaces/IQuartierToken.sol";

/// @title QuartierToken
/// @notice A minimal ERC-20 (6 decimals) for local communities and tests; the community
/// manager mints. Errors follow OpenZeppelin's ERC-6093 names.
contract QuartierToken is IQuartierToken {
    uint8 private constant DECIMALS = 6;

    string private _name;
    string private _symbol;
    address private immutable _minter;
    uint256 private _totalSupply;
    mapping(address account => uint256) private _balances;
    mapping(address owner => mapping(address spender => uint256)) private _allowances;

    constructor(string memory name_, string memory symbol_, address minter_) {
        if (minter_ == address(0)) revert ERC20InvalidReceiver(address(0));
        _name = name_;
        _symbol = symbol_;
        _minter = minter_;
    }

    /// @inheritdoc IQuartierToken
    function mint(address to, uint256 amountUnits) external {
        if (msg.sender != _minter) revert TokenNotMinter(msg.sender);
        if (to == address(0)) revert ERC20InvalidReceiver(address(0));
        _totalSupply += amountUnits;
        // Cannot overflow: a balance never exceeds the checked total supply.
        unchecked {
            _balances[to] += amountUnits;
        }
        emit Transfer(address(0), to, amountUnits);
    }

    /// @inheritdoc IERC20
    function transfer(address to, uint256 value) external returns (bool) {
        _transfer(msg.sender, to, value);
        return true;
    }

    /// @inheritdoc IERC20
    function approve(address spender, uint256 value) external returns (bool) {
        if (spender == address(0)) revert ERC20InvalidSpender(address(0));
        _allowances[msg.sender][spender] = value;
        emit Approval(msg.sender, spender, value);
        return true;
    }

    /// @inheritdoc IERC20
    function transferFrom(address from, address to, uint256 value) external returns (bool) {
        uint256 current = _allowances[from][msg.sender];
        // An infinite allowance is never spent down (saves a write per transfer).
        if (current != type(uint256).max) {
            if (current < value) revert ERC20InsufficientAllowance(msg.sender, current, value);
            unchecked {
                _allowances[from][msg.sender] = current - value;
            }
        }
        _transfer(from, to, value);
        return true;
    }

    function name() external view returns (string memory) {
        return _name;
    }

    function symbol() external view returns (string memory) {
        return _symbol;
    }

    function decimals() external pure returns (uint8) {
        return DECIMALS;
    }

    function minter() external view returns (address) {
        return _minter;
    }

    function totalSupply() external view returns (uint256) {
        return _totalSupply;
    }

    function balanceOf(address account) external view returns (uint256) {
        return _balances[account];
    }

    function allowance(address owner, address spender) external view returns (uint256) {
        return _allowances[owner][spender];
    }

    function _transfer(address from, address to, uint256 value) private {
        if (from == address(0)) revert ERC20InvalidSender(address(0));
        if (to == address(0)) revert ERC20InvalidReceiver(address(0));
        uint256 fromBalance = _balances[from];
        if (fromBalance < value) revert ERC20InsufficientBalance(from, fromBalance, value);
        unchecked {
            _balances[from] = fromBalance - value;
            _balances[to] += value;
        }
        emit Transfer(from, to, value);
    }
}
