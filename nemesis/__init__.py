"""nemesis: the Jepsen-style harness that runs persist in worker processes,
injects faults, records a history and has the checker judge it."""
