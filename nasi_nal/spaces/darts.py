"""The DARTS cell space: genotypes, validation, sampling, mutation, a hand-writable JSON form, jraph graphs.

Follows quark0/darts ``cnn/genotypes.py`` (Liu, Simonyan & Yang, "DARTS: Differentiable Architecture Search",
ICLR 2019, https://arxiv.org/abs/1806.09055). A DARTS network stacks normal and reduction cells; each cell has two
inputs (the outputs of the two previous cells, numbered 0 and 1) and 4 intermediate nodes (numbered 2..5). A final
genotype gives every intermediate node exactly two incoming edges, each an ``(op, input)`` pair from two different
earlier nodes, and the cell output concatenates all four intermediate nodes (``concat = [2, 3, 4, 5]``).

Example:
    >>> validate(DARTS_V2)
    >>> from_json(to_json(DARTS_V2)) == DARTS_V2
    True
"""
from __future__ import annotations

import collections
import json
from typing import Any

import jraph
import numpy as np

from nasi_nal.errors import InvalidCellError

PRIMITIVES: tuple[str, ...] = (
    "none",
    "max_pool_3x3",
    "avg_pool_3x3",
    "skip_connect",
    "sep_conv_3x3",
    "sep_conv_5x5",
    "dil_conv_3x3",
    "dil_conv_5x5",
)
# The ops a final genotype may use: DARTS's derivation drops 'none' (the zero op) when it picks the edges.
OPS: tuple[str, ...] = tuple(op for op in PRIMITIVES if op != "none")
NUM_INPUTS = 2  # the two previous cells' outputs, nodes 0 and 1
NUM_INTERMEDIATE = 4  # nodes 2..5
EDGES_PER_NODE = 2
NUM_CELL_EDGES = NUM_INTERMEDIATE * EDGES_PER_NODE  # 8
CONCAT: tuple[int, ...] = tuple(range(NUM_INPUTS, NUM_INPUTS + NUM_INTERMEDIATE))  # (2, 3, 4, 5)
CELLS: tuple[str, ...] = ("normal", "reduce")
# One-hot vocabulary of the nodes of :func:`to_graph`.
NODE_LABELS: tuple[str, ...] = ("c_{k-2}", "c_{k-1}", *PRIMITIVES, "output")

Genotype = collections.namedtuple("Genotype", "normal normal_concat reduce reduce_concat")
Genotype.__doc__ = """A DARTS cell pair, as in quark0/darts ``genotypes.py``.

``normal`` / ``reduce``: lists of 8 ``(op, input)`` pairs, 2 per intermediate node in node order (pairs 2k and
2k+1 feed intermediate node k, numbered k + 2); ``input`` 0 and 1 are the two previous cells, ``k + 2`` is
intermediate node k. ``normal_concat`` / ``reduce_concat``: the nodes concatenated into the cell output,
always ``[2, 3, 4, 5]``.
"""

# The published genotypes, verbatim from quark0/darts cnn/genotypes.py: first-order (V1) and second-order (V2)
# DARTS on CIFAR-10; V2 is the paper's DARTS cell (2.76% test error, 3.3M params).
DARTS_V1 = Genotype(normal=[('sep_conv_3x3', 1), ('sep_conv_3x3', 0), ('skip_connect', 0), ('sep_conv_3x3', 1), ('skip_connect', 0), ('sep_conv_3x3', 1), ('sep_conv_3x3', 0), ('skip_connect', 2)], normal_concat=[2, 3, 4, 5], reduce=[('max_pool_3x3', 0), ('max_pool_3x3', 1), ('skip_connect', 2), ('max_pool_3x3', 0), ('max_pool_3x3', 0), ('skip_connect', 2), ('skip_connect', 2), ('avg_pool_3x3', 0)], reduce_concat=[2, 3, 4, 5])  # noqa: E501
DARTS_V2 = Genotype(normal=[('sep_conv_3x3', 0), ('sep_conv_3x3', 1), ('sep_conv_3x3', 0), ('sep_conv_3x3', 1), ('sep_conv_3x3', 1), ('skip_connect', 0), ('skip_connect', 0), ('dil_conv_3x3', 2)], normal_concat=[2, 3, 4, 5], reduce=[('max_pool_3x3', 0), ('max_pool_3x3', 1), ('skip_connect', 2), ('max_pool_3x3', 1), ('max_pool_3x3', 0), ('skip_connect', 2), ('skip_connect', 2), ('max_pool_3x3', 1)], reduce_concat=[2, 3, 4, 5])  # noqa: E501


def _validate_cell(name: str, cell: Any) -> None:
    if not isinstance(cell, (list, tuple)):
        raise InvalidCellError(f"genotype.{name} must be a list of (op, input) pairs, got {type(cell).__name__}")
    if len(cell) != NUM_CELL_EDGES:
        raise InvalidCellError(
            f"genotype.{name} has {len(cell)} edges; a DARTS cell has {NUM_INTERMEDIATE} intermediate nodes "
            f"with {EDGES_PER_NODE} (op, input) pairs each, {NUM_CELL_EDGES} in all, listed node by node"
        )
    for position, pair in enumerate(cell):
        node = position // EDGES_PER_NODE
        where = f"genotype.{name}[{position}] (an input of intermediate node {node + NUM_INPUTS})"
        if not isinstance(pair, (list, tuple)) or len(pair) != 2:
            raise InvalidCellError(f"{where} is {pair!r}: each edge must be an (op, input) pair")
        op, source = pair
        if op == "none":
            raise InvalidCellError(
                f"{where} uses 'none': a final DARTS genotype keeps only real ops ('none' is the zero op of the "
                f"search supernet); use one of {OPS}"
            )
        if op not in OPS:
            raise InvalidCellError(f"{where} has unknown op {op!r}: use one of {OPS}")
        if isinstance(source, (bool, np.bool_)) or not isinstance(source, (int, np.integer)):
            raise InvalidCellError(f"{where} has input {source!r}: inputs are ints")
        if not 0 <= source <= node + 1:
            raise InvalidCellError(
                f"{where} has input {source}, out of range: node {node + NUM_INPUTS} may read only 0..{node + 1} "
                f"(the two cell inputs and the intermediate nodes before it)"
            )
    for node in range(NUM_INTERMEDIATE):
        first, second = (cell[EDGES_PER_NODE * node + i][1] for i in range(EDGES_PER_NODE))
        if first == second:
            raise InvalidCellError(
                f"intermediate node {node + NUM_INPUTS} of genotype.{name} takes input {first} twice: its two "
                f"edges must come from two different nodes"
            )


def _validate_concat(name: str, concat: Any) -> None:
    if (
        not isinstance(concat, (list, tuple, range))
        or any(isinstance(i, (bool, np.bool_)) or not isinstance(i, (int, np.integer)) for i in concat)
        or list(concat) != list(CONCAT)
    ):
        raise InvalidCellError(
            f"genotype.{name} is {concat!r}: the DARTS space concatenates all intermediate nodes, "
            f"{list(CONCAT)}"
        )


def validate(genotype: Genotype) -> None:
    """Raises InvalidCellError, naming the cell, edge and fix, unless ``genotype`` is a final DARTS genotype.

    Checked: 8 (op, input) pairs per cell; ops from :data:`PRIMITIVES` but not 'none'; intermediate node k + 2
    reads inputs in 0..k+1; the two inputs of a node differ; both concats are ``[2, 3, 4, 5]``.
    """
    if not isinstance(genotype, tuple) or len(genotype) != len(Genotype._fields):
        raise InvalidCellError(
            f"expected a nasi_nal.spaces.darts.Genotype (normal, normal_concat, reduce, reduce_concat), got "
            f"{type(genotype).__name__}"
        )
    normal, normal_concat, reduce, reduce_concat = genotype
    _validate_cell("normal", normal)
    _validate_concat("normal_concat", normal_concat)
    _validate_cell("reduce", reduce)
    _validate_concat("reduce_concat", reduce_concat)


def _check_generator(rng: object) -> None:
    if not isinstance(rng, np.random.Generator):
        raise TypeError(f"rng must be a numpy.random.Generator (np.random.default_rng(seed)), got {type(rng).__name__}")


def _sample_cell(rng: np.random.Generator) -> list[tuple[str, int]]:
    cell = []
    for node in range(NUM_INTERMEDIATE):
        sources = rng.choice(node + NUM_INPUTS, size=EDGES_PER_NODE, replace=False)
        ops = rng.integers(len(OPS), size=EDGES_PER_NODE)
        cell.extend((OPS[int(op)], int(source)) for op, source in zip(ops, sources))
    return cell


def sample(rng: np.random.Generator) -> Genotype:
    """A random final genotype: per node, 2 distinct inputs uniformly, each op uniformly from :data:`OPS`.

    Normal cell first, then reduction cell; the inputs of a node are listed in the order drawn.
    """
    _check_generator(rng)
    normal = _sample_cell(rng)
    reduce = _sample_cell(rng)
    return Genotype(normal=normal, normal_concat=list(CONCAT), reduce=reduce, reduce_concat=list(CONCAT))


def to_json(genotype: Genotype) -> str:
    """The genotype as JSON (validated first); :func:`from_json` reads it back.

    The form, easy to write by hand -- one object with the four Genotype fields, each edge an ``[op, input]`` list::

        {"normal": [["sep_conv_3x3", 0], ["sep_conv_3x3", 1], ...8 pairs...], "normal_concat": [2, 3, 4, 5],
         "reduce": [["max_pool_3x3", 0], ["max_pool_3x3", 1], ...8 pairs...], "reduce_concat": [2, 3, 4, 5]}
    """
    validate(genotype)
    return json.dumps(
        {
            "normal": [[op, int(source)] for op, source in genotype.normal],
            "normal_concat": [int(i) for i in genotype.normal_concat],
            "reduce": [[op, int(source)] for op, source in genotype.reduce],
            "reduce_concat": [int(i) for i in genotype.reduce_concat],
        }
    )


def from_json(text: str) -> Genotype:
    """Reads the JSON form of :func:`to_json` into a validated Genotype (pairs become ``(op, input)`` tuples)."""
    try:
        data = json.loads(text)
    except (json.JSONDecodeError, RecursionError) as error:  # RecursionError: nested deeper than Python's stack
        raise InvalidCellError(f"DARTS genotype JSON does not parse ({error}); see darts.to_json for the form") from None
    if not isinstance(data, dict):
        raise InvalidCellError(
            f"DARTS genotype JSON must be an object with keys {list(Genotype._fields)}, got {type(data).__name__}"
        )
    missing = [key for key in Genotype._fields if key not in data]
    unknown = sorted(set(data) - set(Genotype._fields))
    if missing or unknown:
        raise InvalidCellError(
            f"DARTS genotype JSON needs exactly the keys {list(Genotype._fields)}; missing {missing}, unknown {unknown}"
        )

    def cell(key: str) -> Any:
        value = data[key]
        if isinstance(value, list) and all(isinstance(pair, list) for pair in value):
            return [tuple(pair) for pair in value]
        return value  # validate() names what is wrong with it

    genotype = Genotype(
        normal=cell("normal"),
        normal_concat=data["normal_concat"],
        reduce=cell("reduce"),
        reduce_concat=data["reduce_concat"],
    )
    validate(genotype)
    return genotype


def to_graph(genotype: Genotype, cell: str = "normal") -> jraph.GraphsTuple:
    """One cell of the genotype as a jraph graph in op-on-node form (as NAS-Bench-101 and NAS-Bench-201 here).

    Nodes (11): ``0`` = c_{k-2} and ``1`` = c_{k-1} (the cell's two inputs), ``2 + p`` = the op of edge ``p``
    (``genotype.<cell>[p]``, p = 0..7), ``10`` = the cell output. Node features: one-hots over
    :data:`NODE_LABELS` (``("c_{k-2}", "c_{k-1}", *PRIMITIVES, "output")``), shape (11, 11) float32. A directed
    edge ``u -> v`` means v consumes u's result: an op reading input 0 or 1 gets that input node; an op reading
    intermediate node j gets both op nodes of j (whose sum j is); every op node of a concatenated node feeds the
    output. ``edges`` and ``globals`` are None; senders/receivers are int32, sorted, and go from lower to higher
    node numbers. The edge count depends on the cell (16 to 22), so batch with ``jraph.pad_with_graphs``.
    """
    validate(genotype)
    if cell not in CELLS:
        raise InvalidCellError(f"cell must be one of {CELLS}, got {cell!r}")
    pairs = genotype.normal if cell == "normal" else genotype.reduce
    concat = genotype.normal_concat if cell == "normal" else genotype.reduce_concat
    output = NUM_INPUTS + NUM_CELL_EDGES

    def op_nodes(intermediate: int) -> list[int]:  # graph nodes of the ops summed into intermediate node 2..5
        first = NUM_INPUTS + EDGES_PER_NODE * (intermediate - NUM_INPUTS)
        return list(range(first, first + EDGES_PER_NODE))

    links: list[tuple[int, int]] = []
    for position, (_, source) in enumerate(pairs):
        senders = [source] if source < NUM_INPUTS else op_nodes(source)
        links.extend((s, NUM_INPUTS + position) for s in senders)
    links.extend((s, output) for node in concat for s in op_nodes(node))
    links.sort()
    labels = ["c_{k-2}", "c_{k-1}", *(op for op, _ in pairs), "output"]
    nodes = np.zeros((len(labels), len(NODE_LABELS)), np.float32)
    nodes[np.arange(len(labels)), [NODE_LABELS.index(label) for label in labels]] = 1.0
    return jraph.GraphsTuple(
        nodes=nodes,
        edges=None,
        senders=np.asarray([s for s, _ in links], np.int32),
        receivers=np.asarray([r for _, r in links], np.int32),
        globals=None,
        n_node=np.asarray([len(labels)], np.int32),
        n_edge=np.asarray([len(links)], np.int32),
    )


__all__ = [
    "PRIMITIVES",
    "OPS",
    "CONCAT",
    "NODE_LABELS",
    "Genotype",
    "DARTS_V1",
    "DARTS_V2",
    "validate",
    "sample",
    "to_json",
    "from_json",
    "to_graph",
]
