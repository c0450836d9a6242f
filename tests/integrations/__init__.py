"""Integration tests: real frameworks with offline fakes."""
