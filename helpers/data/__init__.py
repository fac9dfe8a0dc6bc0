"""Data: loading, text normalisation, tokens, task views and quality checks (notebook 01)."""
