"""`jaxlm bench`: measurements of a config's training step (memory.py: bytes; setup.py: the shared abstract setup)."""
