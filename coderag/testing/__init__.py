"""A testing kit for coderag backend authors (chunkers, embedders, stores)."""
