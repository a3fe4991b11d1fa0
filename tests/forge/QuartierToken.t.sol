// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

import {Test} from "./utils/Test.sol";
import {QuartierToken} from "../../contracts/QuartierToken.sol";
import {IQuartierToken} from "../../contracts/interfaces/IQuartierToken.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {IERC20Errors} from "@openzeppelin/contracts/interfaces/draft-IERC6093.sol";

contract QuartierTokenTest is Test {
    address internal constant MANAGER = address(0xA11CE);
    address internal constant ALICE = address(0xA);
    address internal constant BOB = address(0xB);
    QuartierToken internal token;

    function setUp() public {
        token = new QuartierToken("Quartier Euro", "qEUR", MANAGER);
    }

    function test_metadata() public view {
        assertEq(token.decimals(), 6, "6 decimals like a euro stablecoin");
        assertEq(token.minter(), MANAGER, "minter");
        assertEq(keccak256(bytes(token.symbol())), keccak256("qEUR"), "symbol");
        assertEq(keccak256(bytes(token.name())), keccak256("Quartier Euro"), "name");
    }

    function test_constructor_RevertWhen_ZeroMinter() public {
        vm.expectRevert(
            abi.encodeWithSelector(IERC20Errors.ERC20InvalidReceiver.selector, address(0))
        );
        new QuartierToken("x", "x", address(0));
    }

    function test_mint_CreditsAndEmits() public {
        vm.expectEmit(true, true, false, true);
        emit IERC20.Transfer(address(0), ALICE, 5_000_000);
        vm.prank(MANAGER);
        token.mint(ALICE, 5_000_000);
        assertEq(token.balanceOf(ALICE), 5_000_000, "balance");
        assertEq(token.totalSupply(), 5_000_000, "supply");
    }

    function test_mint_RevertWhen_NotMinter() public {
        vm.expectRevert(abi.encodeWithSelector(IQuartierToken.TokenNotMinter.selector, ALICE));
        vm.prank(ALICE);
        token.mint(ALICE, 1);
    }

    function test_mint_RevertWhen_ZeroReceiver() public {
        vm.expectRevert(
            abi.encodeWithSelector(IERC20Errors.ERC20InvalidReceiver.selector, address(0))
        );
        vm.prank(MANAGER);
        token.mint(address(0), 1);
    }

    function test_transfer_MovesBalance() public {
        vm.prank(MANAGER);
        token.mint(ALICE, 10);
        vm.prank(ALICE);
        assertTrue(token.transfer(BOB, 4), "returns true");
        assertEq(token.balanceOf(ALICE), 6, "sender");
        assertEq(token.balanceOf(BOB), 4, "receiver");
    }

    function test_transfer_RevertWhen_InsufficientBalance() public {
        vm.expectRevert(
            abi.encodeWithSelector(IERC20Errors.ERC20InsufficientBalance.selector, ALICE, 0, 1)
        );
        vm.prank(ALICE);
        // forge-lint: disable-next-line(erc20-unchecked-transfer) it reverts
        token.transfer(BOB, 1);
    }

    function test_transfer_RevertWhen_ZeroReceiver() public {
        vm.expectRevert(
            abi.encodeWithSelector(IERC20Errors.ERC20InvalidReceiver.selector, address(0))
        );
        vm.prank(ALICE);
        // forge-lint: disable-next-line(erc20-unchecked-transfer) it reverts
        token.transfer(address(0), 0);
    }

    function test_approve_RevertWhen_ZeroSpender() public {
        vm.expectRevert(
            abi.encodeWithSelector(IERC20Errors.ERC20InvalidSpender.selector, address(0))
        );
        vm.prank(ALICE);
        token.approve(address(0), 1);
    }

    function test_transferFrom_SpendsAllowance() public {
        vm.prank(MANAGER);
        token.mint(ALICE, 10);
        vm.prank(ALICE);
        token.approve(BOB, 7);
        vm.prank(BOB);
        assertTrue(token.transferFrom(ALICE, BOB, 5), "returns true");
        assertEq(token.allowance(ALICE, BOB), 2, "allowance spent");
        assertEq(token.balanceOf(BOB), 5, "moved");
    }

    function test_transferFrom_InfiniteAllowanceIsNotSpent() public {
        vm.prank(MANAGER);
        token.mint(ALICE, 10);
        vm.prank(ALICE);
        token.approve(BOB, type(uint256).max);
        vm.prank(BOB);
        assertTrue(token.transferFrom(ALICE, BOB, 5), "returns true");
        assertEq(token.allowance(ALICE, BOB), type(uint256).max, "still infinite");
    }

    function test_transferFrom_RevertWhen_InsufficientAllowance() public {
        vm.prank(MANAGER);
        token.mint(ALICE, 10);
        vm.expectRevert(
            abi.encodeWithSelector(IERC20Errors.ERC20InsufficientAllowance.selector, BOB, 0, 1)
        );
        vm.prank(BOB);
        // forge-lint: disable-next-line(erc20-unchecked-transfer) it reverts
        token.transferFrom(ALICE, BOB, 1);
    }

    function testFuzz_transfer_ConservesSupply(uint96 minted, uint96 moved) public {
        vm.prank(MANAGER);
        token.mint(ALICE, minted);
        vm.assume(moved <= minted);
        vm.prank(ALICE);
        assertTrue(token.transfer(BOB, moved), "returns true");
        assertEq(
            token.balanceOf(ALICE) + token.balanceOf(BOB),
            token.totalSupply(),
            "sum of balances == supply"
        );
    }
}
