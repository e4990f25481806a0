"""The notifications service's application layer: commands and the processes behind them."""
