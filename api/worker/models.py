"""Tables of the worker domain."""
