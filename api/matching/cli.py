"""`quartier market clear`: re-clear a book file by hand, as an auditor would."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from api.matching.book_file import Book, read_book, result_to_json
from api.matching.double_auction import clear
from api.matching.errors import MatchingError
from api.matching.orders import ClearingResult, Mechanism, PriceBounds

market_app = typer.Typer(
    help="The market: clear order books.", no_args_is_help=True, pretty_exceptions_enable=False
)


@market_app.callback()
def market() -> None:
    """The market: clear order books with the deterministic matching engine."""


def _print_table(book: Book, mechanism: Mechanism, result: ClearingResult) -> None:
    console = Console(highlight=False)
    price = result.clearing_price_per_kwh
    # markup=False / Text cells: ids come from the file and may contain "[...]".
    console.print(f"interval {book.interval_id} · {mechanism.value}", markup=False)
    console.print(
        "clearing price: " + ("none" if price is None else f"{price} per kWh"), markup=False
    )
    console.print(
        f"traded: {result.volume_wh} Wh in {len(result.trades)} trades ({len(book.orders)} orders)",
        markup=False,
    )
    table = Table("sell id", "buy id", "energy (Wh)", "price (per kWh)")
    for trade in result.trades:
        table.add_row(
            Text(trade.sell_id),
            Text(trade.buy_id),
            str(trade.energy_wh),
            str(trade.price_per_kwh),
        )
    console.print(table)


@market_app.command("clear")
def market_clear(
    book_file: Annotated[Path, typer.Argument(help="Book JSON: {interval_id, orders: [...]}.")],
    mechanism: Annotated[
        Mechanism, typer.Option(help="Pricing: one uniform price, or each buyer's bid.")
    ] = Mechanism.PAY_AS_CLEAR,
    feed_in_price: Annotated[
        int | None,
        typer.Option(help="Community feed-in price per kWh: asks below it count as it."),
    ] = None,
    retail_price: Annotated[
        int | None,
        typer.Option(help="Community retail price per kWh: bids above it count as it."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Clear BOOK_FILE and print its trades (ties broken by price, then order id).

    A malformed book exits with status 2 and one line naming the order and the field.
    """
    try:
        bounds = None
        if feed_in_price is not None or retail_price is not None:
            if feed_in_price is None or retail_price is None:
                raise MatchingError("give both --feed-in-price and --retail-price, or neither")
            bounds = PriceBounds(feed_in_price, retail_price)
        book = read_book(book_file)
        result = clear(book.orders, mechanism, bounds)
    except MatchingError as error:
        typer.echo(f"quartier: {error}", err=True)
        raise typer.Exit(error.exit_code) from None
    if as_json:
        typer.echo(json.dumps(result_to_json(result)))
    else:
        _print_table(book, mechanism, result)
