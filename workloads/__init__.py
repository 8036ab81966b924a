"""Workloads: what client processes do against persist (public API only), the
seeded generators of their operations, and the worker process that runs them."""
