"""The per-version API facade, read queries and the records they return."""
