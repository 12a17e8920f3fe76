"""The NAS-Bench-201 cell space: arch strings, the official index order, sampling, mutation, jraph graphs.

A NAS-Bench-201 cell (Dong & Yang, ICLR 2020, https://arxiv.org/abs/2001.00326) is a DAG over 4 feature-map nodes;
each of the 6 edges ``j -> i`` (``j < i``) carries one of 5 operations, giving 5**6 = 15,625 cells. Definitions follow
the official code, D-X-Y/AutoDL-Projects:

* op names and their order: ``lib/models/cell_operations.py`` (``NAS_BENCH_201``);
* arch strings ``|op~0|+|op~0|op~1|+|op~0|op~1|op~2|``: ``Structure.tostr`` / ``str2structure`` in
  ``lib/models/cell_searchs/genotypes.py``;
* the benchmark's index order: ``generate_meta_info`` in ``exps/NAS-Bench-201/main.py``, reproduced by
  :func:`index_to_arch` (see there).

Example:
    >>> arch = parse("|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|")
    >>> arch_to_index(arch)
    1
    >>> str(index_to_arch(1)) == str(arch)
    True
"""
from __future__ import annotations

import dataclasses
import functools
import random
from typing import Union

import jraph
import numpy as np

from nasi_nal.errors import InvalidCellError

OPS: tuple[str, ...] = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")
NUM_NODES = 4
NUM_EDGES = 6
NUM_ARCHS = len(OPS) ** NUM_EDGES  # 15,625
# (to_node, from_node), in the order the arch string lists them.
EDGES: tuple[tuple[int, int], ...] = ((1, 0), (2, 0), (2, 1), (3, 0), (3, 1), (3, 2))
# One-hot vocabulary of the nodes of :func:`to_graph`.
NODE_LABELS: tuple[str, ...] = ("input", *OPS, "output")

# The official generator shuffles its enumeration with ``random.seed(88); random.shuffle(archs)``.
_SHUFFLE_SEED = 88
_OP_INDEX = {op: i for i, op in enumerate(OPS)}


@dataclasses.dataclass(frozen=True)
class Arch:
    """One NAS-Bench-201 cell: the op on each of the 6 edges, in :data:`EDGES` order.

    ``Arch(("nor_conv_3x3",) * 6)`` is the all-3x3 cell. Instances are hashable and compare by ops;
    ``str(arch)`` is the official arch string.
    """

    ops: tuple[str, ...]

    def __post_init__(self) -> None:
        ops = tuple(self.ops) if isinstance(self.ops, (list, tuple)) else self.ops
        if not isinstance(ops, tuple) or len(ops) != NUM_EDGES:
            raise InvalidCellError(
                f"a NAS-Bench-201 cell needs a sequence of {NUM_EDGES} op names (one per edge, in EDGES order "
                f"{EDGES}), got {self.ops!r}"
            )
        for op in ops:
            if op not in _OP_INDEX:
                raise InvalidCellError(f"unknown NAS-Bench-201 op {op!r}: use one of {OPS}")
        object.__setattr__(self, "ops", ops)

    def to_str(self) -> str:
        """The official arch string, e.g. ``|nor_conv_3x3~0|+|none~0|skip_connect~1|+|...~2|``."""
        nodes: list[list[str]] = [[] for _ in range(NUM_NODES - 1)]
        for (to_node, from_node), op in zip(EDGES, self.ops):
            nodes[to_node - 1].append(f"{op}~{from_node}")
        return "+".join("|" + "|".join(entries) + "|" for entries in nodes)

    def __str__(self) -> str:
        return self.to_str()


ArchLike = Union[Arch, str]


def parse(arch_str: str) -> Arch:
    """Parses an official arch string ``|op~0|+|op~0|op~1|+|op~0|op~1|op~2|`` into an :class:`Arch`.

    Stricter than the official ``str2structure``: node ``i`` must list exactly its inputs ``0..i-1`` in order (the
    form every official string has), so that :func:`format` inverts this exactly.
    """
    if not isinstance(arch_str, str):
        raise InvalidCellError(f"a NAS-Bench-201 arch string must be a str, got {type(arch_str).__name__}")
    example = Arch(("nor_conv_3x3",) * NUM_EDGES).to_str()
    node_strs = arch_str.split("+")
    if len(node_strs) != NUM_NODES - 1:
        raise InvalidCellError(
            f"arch string {arch_str!r} has {len(node_strs)} '+'-separated nodes, a NAS-Bench-201 cell has "
            f"{NUM_NODES - 1}; expected the form {example!r}"
        )
    ops: list[str] = []
    for to_node, node_str in enumerate(node_strs, start=1):
        if len(node_str) < 2 or not (node_str.startswith("|") and node_str.endswith("|")):
            raise InvalidCellError(
                f"node {to_node} of arch string {arch_str!r} is {node_str!r}: each node must be wrapped in '|' "
                f"as in {example!r}"
            )
        entries = node_str[1:-1].split("|")
        if len(entries) != to_node:
            raise InvalidCellError(
                f"node {to_node} of arch string {arch_str!r} has {len(entries)} inputs, it needs exactly "
                f"{to_node} (one 'op~j' for each earlier node j = 0..{to_node - 1})"
            )
        for from_node, entry in enumerate(entries):
            op, sep, source = entry.rpartition("~")
            if not sep or not op:
                raise InvalidCellError(
                    f"entry {entry!r} of node {to_node} in arch string {arch_str!r} is not of the form 'op~j'"
                )
            if source != str(from_node):
                raise InvalidCellError(
                    f"entry {entry!r} of node {to_node} in arch string {arch_str!r} names input {source!r}, "
                    f"expected {from_node}: node {to_node} lists its inputs 0..{to_node - 1} in order"
                )
            if op not in _OP_INDEX:
                raise InvalidCellError(
                    f"unknown op {op!r} in arch string {arch_str!r}: NAS-Bench-201 ops are {OPS}"
                )
            ops.append(op)
    return Arch(tuple(ops))


def format(arch: ArchLike) -> str:  # noqa: A001 - the public name the package's API fixes; inverse of parse
    """The official arch string of ``arch`` (the inverse of :func:`parse`)."""
    return _as_arch(arch).to_str()


def _as_arch(arch: ArchLike) -> Arch:
    """An :class:`Arch` from an Arch or an arch string; anything else is an error."""
    if isinstance(arch, Arch):
        return arch
    if isinstance(arch, str):
        return parse(arch)
    raise InvalidCellError(f"expected a nasi_nal.spaces.nb201.Arch or an arch string, got {type(arch).__name__}")


def _code(arch: Arch) -> int:
    """Position of ``arch`` in the official enumeration before shuffling (base-5 digits, first edge first)."""
    code = 0
    for op in arch.ops:
        code = code * len(OPS) + _OP_INDEX[op]
    return code


def _from_code(code: int) -> Arch:
    digits = []
    for _ in range(NUM_EDGES):
        code, digit = divmod(code, len(OPS))
        digits.append(OPS[digit])
    return Arch(tuple(reversed(digits)))


@functools.lru_cache(maxsize=1)
def _index_tables() -> tuple[np.ndarray, np.ndarray]:
    """(index -> code, code -> index) of the official order, computed once (a few milliseconds).

    ``generate_meta_info`` (AutoDL-Projects ``exps/NAS-Bench-201/main.py``) enumerates the cells with
    ``CellStructure.gen_all`` -- a Cartesian product over the 6 edges in arch-string order, ops in :data:`OPS` order,
    first edge slowest (so cell ``c`` has base-5 digits ``c``, see :func:`_code`) -- then calls
    ``random.seed(88); random.shuffle(archs)``, and index ``i`` is position ``i`` of the shuffled list.

    We replay that shuffle on a private ``random.Random(88)`` (no global state). Rather than call
    ``Random.shuffle``, whose algorithm Python does not promise to keep, we spell out the algorithm CPython 3 uses
    (Fisher-Yates from the end, ``j = randbelow(i + 1)`` by rejection sampling on ``getrandbits(bit_length)``) on
    top of the Mersenne Twister stream, which is fixed by the seed.
    """
    stream = random.Random(_SHUFFLE_SEED)
    order = list(range(NUM_ARCHS))
    for i in reversed(range(1, NUM_ARCHS)):
        n = i + 1
        k = n.bit_length()
        j = stream.getrandbits(k)
        while j >= n:
            j = stream.getrandbits(k)
        order[i], order[j] = order[j], order[i]
    index_to_code = np.asarray(order, dtype=np.int32)
    code_to_index = np.empty(NUM_ARCHS, dtype=np.int32)
    code_to_index[index_to_code] = np.arange(NUM_ARCHS, dtype=np.int32)
    index_to_code.setflags(write=False)
    code_to_index.setflags(write=False)
    return index_to_code, code_to_index


def index_to_arch(index: int) -> Arch:
    """The cell at ``index`` (0..15,624) of the official NAS-Bench-201 order (the benchmark files' ``arch_index``)."""
    if isinstance(index, (bool, np.bool_)) or not isinstance(index, (int, np.integer)):
        raise InvalidCellError(f"a NAS-Bench-201 index must be an int, got {type(index).__name__}")
    if not 0 <= index < NUM_ARCHS:
        raise InvalidCellError(f"NAS-Bench-201 index {index} is out of range: use 0..{NUM_ARCHS - 1}")
    return _from_code(int(_index_tables()[0][index]))


def arch_to_index(arch: ArchLike) -> int:
    """The official NAS-Bench-201 index of ``arch`` (an :class:`Arch` or arch string); inverse of index_to_arch."""
    return int(_index_tables()[1][_code(_as_arch(arch))])


def all_archs() -> list[Arch]:
    """All 15,625 cells, in the official index order (``all_archs()[i] == index_to_arch(i)``)."""
    return [_from_code(int(code)) for code in _index_tables()[0]]


def _check_generator(rng: object) -> None:
    if not isinstance(rng, np.random.Generator):
        raise TypeError(f"rng must be a numpy.random.Generator (np.random.default_rng(seed)), got {type(rng).__name__}")


def sample(rng: np.random.Generator) -> Arch:
    """A uniformly random cell (each edge's op drawn independently and uniformly from :data:`OPS`)."""
    _check_generator(rng)
    digits = rng.integers(len(OPS), size=NUM_EDGES)
    return Arch(tuple(OPS[int(d)] for d in digits))


# The op-on-node DAG of :func:`to_graph`, fixed for every cell: node 0 = input, node 1 + e = the op on EDGES[e],
# node 7 = output. The op on edge (i <- j) reads feature map j, i.e. the input (j = 0) or the ops on edges into j;
# ops on edges into the last feature map (3) feed the output.
def _graph_edges() -> tuple[np.ndarray, np.ndarray]:
    output = 1 + NUM_EDGES
    senders, receivers = [], []
    for e, (_, from_node) in enumerate(EDGES):
        if from_node == 0:
            senders.append(0)
            receivers.append(1 + e)
        else:
            for f, (to_node, _) in enumerate(EDGES):
                if to_node == from_node:
                    senders.append(1 + f)
                    receivers.append(1 + e)
    for e, (to_node, _) in enumerate(EDGES):
        if to_node == NUM_NODES - 1:
            senders.append(1 + e)
            receivers.append(output)
    order = np.lexsort((np.asarray(receivers), np.asarray(senders)))
    return np.asarray(senders, np.int32)[order], np.asarray(receivers, np.int32)[order]


_SENDERS, _RECEIVERS = _graph_edges()


def to_graph(arch: ArchLike) -> jraph.GraphsTuple:
    """The cell as a jraph graph in op-on-node form, the form NAS-Bench-101 cells take.

    Nodes (8): ``0`` = the cell input, ``1 + e`` = the op on ``EDGES[e]``, ``7`` = the cell output. Node features
    are one-hots over :data:`NODE_LABELS` (``("input", *OPS, "output")``), shape (8, 7) float32. A directed edge
    ``u -> v`` means v consumes u's result: the op on edge (i <- j) reads feature map j, which is the input (j = 0)
    or the sum of the ops on the edges into j; the 3 ops into feature map 3 feed the output. That gives 10 edges,
    the same for every cell; ``edges`` and ``globals`` are None (no features). Senders/receivers are int32 and
    every edge goes from a lower to a higher node number (topological order).

    Why this form: NAS-Bench-101 cells put ops on nodes, so one graph model (the NAL link predictor) reads both
    spaces with one node vocabulary style; and ``none`` stays a labelled node instead of deleting it, so every cell
    has the same 8 nodes / 10 edges (one jit trace for all 15,625) and the map cell -> graph is one-to-one.
    """
    arch = _as_arch(arch)
    labels = ["input", *arch.ops, "output"]
    nodes = np.zeros((len(labels), len(NODE_LABELS)), np.float32)
    nodes[np.arange(len(labels)), [NODE_LABELS.index(label) for label in labels]] = 1.0
    return jraph.GraphsTuple(
        nodes=nodes,
        edges=None,
        senders=_SENDERS.copy(),
        receivers=_RECEIVERS.copy(),
        globals=None,
        n_node=np.asarray([len(labels)], np.int32),
        n_edge=np.asarray([len(_SENDERS)], np.int32),
    )


__all__ = [
    "OPS",
    "NUM_NODES",
    "NUM_EDGES",
    "NUM_ARCHS",
    "EDGES",
    "NODE_LABELS",
    "Arch",
    "parse",
    "format",
    "index_to_arch",
    "arch_to_index",
    "all_archs",
    "sample",
    "to_graph",
]
