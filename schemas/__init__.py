"""The public contract: pydantic models for every workflow input, decision, query and record."""
