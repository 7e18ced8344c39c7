"""Pure net semantics: compiled nets, join and split rules, the OR-join analysis."""
