"""Data: class tables, the synthetic street-scene generator and dataset loaders."""
