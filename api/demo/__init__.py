"""The neighbourhood demo: the whole story on a local chain, run by ./scripts/demo."""
