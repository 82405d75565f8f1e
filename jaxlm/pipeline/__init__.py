"""The input pipeline: token store (jaxlm/data) → objective (jaxlm/objectives) → grain batches; above both."""
