"""The app, transactions, registered functions, the scheduler and the clock."""
