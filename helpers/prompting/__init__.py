"""Prompting: prompts, few-shot selection, batched generation, hosted baselines (notebook 02)."""
