"""Shared test set-up: keep the tests' caches, data and results away from the user's."""
import os

import matplotlib

matplotlib.use("Agg")
os.environ.setdefault("MPLBACKEND", "Agg")
