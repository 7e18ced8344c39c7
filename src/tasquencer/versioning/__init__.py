"""Versions of a workflow definition, deprecation and (later) migration of running instances."""
