"""The sync engine: applying changes to providers, retries, references."""
