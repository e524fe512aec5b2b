"""segstream engines: models, export, backends and data."""
