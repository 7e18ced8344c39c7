"""The audit trail: a span per engine operation, written in the call's transaction, read back
as a workflow's history, its trace, and its state at any past time (time travel)."""
