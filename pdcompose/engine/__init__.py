"""Talking to Docker Engines: one small module per concern. Only this package runs the docker CLI."""
