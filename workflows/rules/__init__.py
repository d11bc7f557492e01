"""The rules of every decision: the registry of decision kinds (`registry`), and one module per
part of the process they govern."""
