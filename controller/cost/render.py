"""Show a cost estimate to people: one itemised table per option, then totals, savings and break-even."""
from __future__ import annotations

from rich.columns import Columns
from rich.console import Console, Group
from rich.table import Table
from rich.text import Text

from .model import CostEstimate, OptionCost


def _money(x: float) -> str:
    return f"${x:,.2f}"


def option_table(option: OptionCost) -> Table:
    table = Table(title=option.name, title_style="bold", show_footer=True, expand=False)
    table.add_column("item", footer="total / month", no_wrap=False, max_width=34)
    table.add_column("$ / month", justify="right", footer=_money(option.total))
    table.add_column("how", style="dim", no_wrap=False, max_width=60)
    for line in option.lines:
        table.add_row(line.item, _money(line.monthly_usd), line.detail)
    return table


def summary(est: CostEstimate) -> Group:
    savings = est.savings
    verdict = (f"hanat saves {_money(savings)}/month" if savings >= 0
               else f"hanat costs {_money(-savings)}/month more")
    be = est.break_even_gb_per_month
    lines = [
        Text.assemble(("region ", "dim"), est.region, ("   prices as of ", "dim"), est.prices_as_of,
                      ("   traffic ", "dim"), f"{est.gb_per_month:g} GB/month"),
        Text.assemble(("totals: ", "bold"), f"hanat {_money(est.hanat.total)}  vs  "
                      f"NAT Gateways {_money(est.nat_gateway.total)}  ->  ", (verdict, "bold green"
                                                                              if savings >= 0 else "bold red")),
        *([Text.assemble(("with spot NATs: ", "bold"), f"hanat {_money(est.hanat_spot.total)}  ->  saves "
                         f"{_money(est.nat_gateway.total - est.hanat_spot.total)}/month against NAT Gateways, "
                         f"{_money(est.hanat.total - est.hanat_spot.total)}/month against on-demand NATs")]
          if est.hanat_spot else []),
        Text.assemble(("break-even: ", "bold"),
                      "never" if be is None else f"{be:,.1f} GB/month", " - ", est.break_even_note),
        Text("assumptions:", style="bold"),
        *(Text(f"  - {a}", style="dim") for a in est.assumptions),
        Text("Prices come from controller/cost/prices.toml: update them from the AWS pricing pages.",
             style="dim italic"),
    ]
    return Group(*lines)


def print_estimate(est: CostEstimate, console: Console) -> None:
    tables = [option_table(est.hanat)] + ([option_table(est.hanat_spot)] if est.hanat_spot else [])
    console.print(Columns([*tables, option_table(est.nat_gateway)], expand=False))
    console.print(summary(est))
