"""Evaluation room: AU metrics, the store of reported numbers, side-by-side tables,
claim verdicts and shared plot helpers. Imports only ``aulib.config``."""
