"""Rows to tables, files (written atomically) and plots."""
