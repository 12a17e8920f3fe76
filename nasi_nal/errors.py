"""Exceptions raised on bad input, each naming the problem and the fix."""


class NasiNalError(Exception):
    """Base class of every error nasi_nal raises on purpose."""


class InvalidCellError(NasiNalError, ValueError):
    """A cell (matrix + ops, arch string or genotype) is not in its search space."""


class TableError(NasiNalError, OSError):
    """A benchmark table file is missing, unreadable or not in the expected format."""


class NotBuiltError(NasiNalError, NotImplementedError):
    """A part of the pipeline that this version of nasi_nal does not provide yet."""


class ConfigError(NasiNalError, ValueError):
    """A config (a training recipe, the benchmark table's settings) is unknown or has a field that does not exist or
    does not parse."""


class DataError(NasiNalError, OSError):
    """A data set is missing, unreadable or not in the expected layout."""


class TrainingError(NasiNalError, RuntimeError):
    """Training went wrong in a way that must stop the run (a NaN or infinite loss)."""


class NotInTableError(NasiNalError, KeyError):
    """A well-formed cell or key that the benchmark table at hand has no entry for."""

    def __str__(self) -> str:  # KeyError would print the message with quotes around it
        return str(self.args[0]) if self.args else ""


class NonFiniteScoreError(NasiNalError, FloatingPointError):
    """A zero-cost score came out inf or NaN (e.g. float32 overflow in a very deep or wide cell)."""


class UnknownScoreError(NasiNalError, ValueError):
    """A score name that is not in ``nasi_nal.scores.SCORES``."""


class BackendUnavailableError(NasiNalError, ImportError):
    """An optional backend (e.g. neural-tangents) does not import in this environment."""


class CheckpointError(NasiNalError, OSError):
    """A checkpoint (trainer or NAL model) is missing, corrupt, or was written with a different config."""


class GenerationError(NasiNalError, RuntimeError):
    """Cell generation could not produce the number of distinct valid cells asked for."""


class NetworkConfigError(NasiNalError, ValueError):
    """A network build request names an unknown search space or an option that network does not have."""


class LeakageError(NasiNalError, RuntimeError):
    """Cells a model was trained on reached a set it is evaluated on."""


class ScoringConfigError(NasiNalError, ValueError):
    """A scoring option (batch-norm mode, NTK probes, engine, initializations) that does not exist or does not apply."""


class ScoresFileError(NasiNalError, OSError):
    """A scores file (``python -m nasi_nal.score``) or its chunks are missing, corrupt, or of other settings."""
