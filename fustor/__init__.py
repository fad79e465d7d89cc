"""Fustor: a live, arbitrated metadata index of shared storage."""

__version__ = "0.1.0"
