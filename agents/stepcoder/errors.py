"""Errors of the StepCoder executor.

A program that fails its tests is *not* an error (it is a `ProgramResult`); these
exceptions mean the input data or the execution machinery is unusable.
"""


class StepCoderError(Exception):
    """Base class of every StepCoder error."""


class DatasetError(StepCoderError, ValueError):
    """A data file is missing or a record is malformed; the message names file, line and field."""


class ExecutorError(StepCoderError):
    """The executor was configured wrongly (bad limits, sandbox backend refused)."""
