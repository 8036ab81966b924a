"""persist: a reference persistence engine for streams of differential-dataflow
updates ``(key, val, ts, diff)``. See README.md for the contract."""
