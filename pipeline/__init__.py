"""segstream streaming runtime."""
