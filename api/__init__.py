"""Outer adapters: the FastAPI application and the `kogi` command line."""
