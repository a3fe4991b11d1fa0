"""Tables of the households domain."""
