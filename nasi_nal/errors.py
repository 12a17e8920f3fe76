"""Exceptions raised on bad input, each naming the problem and the fix."""


class NasiNalError(Exception):
    """Base class of every error nasi_nal raises on purpose."""


class InvalidCellError(NasiNalError, ValueError):
    """A cell (matrix + ops, arch string or genotype) is not in its search space."""


class TableError(NasiNalError, OSError):
    """A benchmark table file is missing, unreadable or not in the expected format."""


class NotBuiltError(NasiNalError, NotImplementedError):
    """A part of the pipeline that this version of nasi_nal does not provide yet."""
