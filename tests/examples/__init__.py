"""Tests that run the programs of `examples/`."""
