"""Evaluation: metrics, scoring, comparison, review, gate, decision, summary (notebooks 04-05)."""
