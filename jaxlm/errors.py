"""User-facing errors: one line that says what is wrong and how to fix it (CLI exits with status 2)."""


class UserError(Exception):
    """Bad input from the user (file, config, checkpoint). The CLI prints it as one line and exits 2."""
