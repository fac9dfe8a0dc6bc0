"""Shipping: merged weights, GGUF and a local server for the adapter that passed (notebook 06)."""
