"""One module per command: its options and a short body that imports the heavy modules when it runs."""
