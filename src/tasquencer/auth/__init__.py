"""Authorization and work queues: who is calling, what they may do, and the work offered to them."""
