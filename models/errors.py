"""Errors of the model layer. Each message says what to do next."""


class ModelError(Exception):
    """Base class of every model-layer error."""


class ModelSpecError(ModelError):
    """A model spec string is malformed, names an unknown scheme, or a missing path."""


class CheckpointError(ModelSpecError):
    """A phalanx checkpoint directory is unknown, truncated or inconsistent (the message names the file)."""


class ModelUnavailable(ModelError):
    """A backend cannot be reached or loaded (server down, extra not installed, no GPU)."""


class ModelOutputError(ModelError):
    """A model produced output that cannot be parsed into what was asked for."""


class ModelRequestError(ModelError):
    """A backend rejected the request itself (bad arguments, unknown model name): retrying won't help."""


class ModelStoreError(ModelError):
    """The model store cannot pull, verify, convert or find a model (the message names the cause)."""
