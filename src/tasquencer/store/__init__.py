"""The engine's tables, statements, unit of work and schema migrations."""
