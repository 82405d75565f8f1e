"""`jaxlm bench`: measurements of a config's training step (speed.py: step time, tokens/s, MFU; flops.py: FLOPs
per token; peak.py: the device's peak; data.py: the input pipeline; memory.py: bytes; live.py and setup.py: the
real and the abstract (shapes-only) setup they share)."""
