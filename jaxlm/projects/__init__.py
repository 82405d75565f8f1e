"""Research projects built on the jaxlm core (big_vision's proj/ convention): each sub-package holds one study's
objectives, fine-tuning and analysis; the core never imports a project (objectives/__init__.py names a project's
objectives by module path, imported on first use)."""
