"""Runtimes host components: ``live`` (pykka threads, wall clock), ``replay`` (simulated time)."""
