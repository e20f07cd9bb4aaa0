"""Analyses of a model: counts, cross-checks, memory and timing."""
