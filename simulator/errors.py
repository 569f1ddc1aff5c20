"""Error types that the CLI turns into one-line messages (exit code 2)."""


class VrexError(Exception):
    """Base class: an error the user can fix; printed as one line, no traceback."""


class ConfigError(VrexError):
    """A YAML config (hardware, workload, model, tech table, sweep spec) is invalid.

    The message always names the file, the key (dotted path) and what is allowed.
    """

    def __init__(self, source: str, key: str, message: str):
        self.source = source
        self.key = key
        super().__init__(f"{source}: key '{key}': {message}" if key else f"{source}: {message}")


class TraceError(VrexError):
    """A trace file is missing, truncated, corrupt or of an unsupported schema version."""

