"""The offline demo: a simulated news cycle served as real feeds over loopback HTTP."""
