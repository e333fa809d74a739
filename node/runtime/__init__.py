"""Runtimes host components: ``live`` (pykka threads, wall clock) and ``replay`` (simulated time)."""
