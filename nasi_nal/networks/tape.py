"""A network as a tape of blocks: the layout that lets each distinct block compile once per space.

The networks of a space are made of a handful of distinct blocks -- for NAS-Bench-201 the stem, the three
parametric edge ops at each of three widths, two reduction blocks and the head -- and the cell only decides how they
are wired. A :class:`Tape` lists a network's layers as steps ``nodes[dst] += block(nodes[src])`` in topological
order, each block a Flax module applied to the sub-tree of the network's variables at the step's scope, so a
scoring engine (``nasi_nal.scores.blockwise``) can run the network block by block with the network's own
arithmetic.

NAS-Bench-201 (``NB201Network``) and NAS-Bench-101 (``NB101Network``: projections, vertex ops, truncations, the
output's channel concatenation as zero-padded parts summed, which is exact) have tapes; DARTS networks do not.
"""
from __future__ import annotations

import functools
from typing import Any, NamedTuple, Union

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from nasi_nal.networks import nb101 as nb101_net
from nasi_nal.networks.nb201 import NB201Head, NB201Network, NB201Stem
from nasi_nal.networks.ops import ResNetBasicblock, nb201_op
from nasi_nal.spaces import nb101 as nb101_space
from nasi_nal.spaces import nb201 as nb201_space

Block = Union[nn.Module, str]  # a Flax module ``(x, train) -> y``, or "identity" / "zero"


class Step(NamedTuple):
    """``nodes[dst] += block(nodes[src])``, the block's variables at ``scope`` in the network's tree.

    ``keys`` non-empty: the block's variables are those entries of the tree at ``scope`` (stem and head layers
    sit at the network's root); empty: the whole sub-tree at ``scope``.
    """

    block: Block
    scope: tuple[str, ...]
    src: int
    dst: int
    keys: tuple[str, ...] = ()


class Tape(NamedTuple):
    """A network as steps in topological order; node 0 is the input, the last node the logits.

    ``features``: the nodes holding the stage features, in order -- the stem's output and the output of every cell
    and reduction block (AZ-NAS's "cell features", the inputs of its expressivity and trainability scores).
    """

    steps: tuple[Step, ...]
    num_nodes: int
    features: tuple[int, ...] = ()


def supports(model: nn.Module) -> bool:
    """Whether :func:`tape` can lay out ``model`` (NAS-Bench-201 and NAS-Bench-101 networks; not DARTS)."""
    return isinstance(model, (NB201Network, nb101_net.NB101Network))


def tape(model: nn.Module) -> Tape:
    """The :class:`Tape` of ``model``; ``TypeError`` for networks without one."""
    if isinstance(model, NB201Network):
        return _nb201_tape(model)
    if isinstance(model, nb101_net.NB101Network):
        return _nb101_tape(model)
    raise TypeError(f"blockwise scoring lays out NB201Network and NB101Network, not {type(model).__name__}: score "
                    "it with engine='joint'")


@functools.lru_cache(maxsize=64)
def _nb201_tape(model: NB201Network) -> Tape:
    """``tiny_network``'s layers in order: stem, 3 stages of cells (one step per edge) with reductions, head."""
    kw = dict(dtype=model.dtype, batch_norm=model.batch_norm)
    steps = [Step(NB201Stem(model.channels, **kw), (), 0, 1, ("stem_conv", "stem_bn"))]
    node, outputs = 1, [1]
    for stage in range(3):
        features = model.channels * 2 ** stage
        if stage > 0:
            steps.append(Step(ResNetBasicblock(features, **kw), (f"reduction_{stage}",), node, node + 1))
            node += 1
            outputs.append(node)
        for i in range(model.cells_per_stage):
            for (to, source), op in zip(nb201_space.EDGES, model.arch.ops):
                block = {"none": "zero", "skip_connect": "identity"}.get(op) or nb201_op(op, features, **kw)
                steps.append(Step(block, (f"stage{stage}_cell{i}", f"edge_{source}_{to}"), node + source, node + to))
            node += nb201_space.NUM_NODES - 1
            outputs.append(node)
    steps.append(Step(NB201Head(model.num_classes, **kw), (), node, node + 1, ("last_bn", "classifier")))
    return Tape(tuple(steps), node + 2, tuple(outputs))


class Truncate(nn.Module):
    """NB101's truncation of an interior vertex's output to the width of the vertex it feeds."""

    width: int

    def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
        return x[..., :self.width]


class Place(nn.Module):
    """One part of a channel concatenation: ``x`` zero-padded into channels ``[offset, offset + C)`` of ``total``.

    Summing the parts of a concatenation gives it exactly (each sum adds zeros), so a concatenation is a set of
    ``nodes[dst] += block(nodes[src])`` steps like every other join.
    """

    offset: int
    total: int

    def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
        return jnp.pad(x, [(0, 0)] * (x.ndim - 1) + [(self.offset, self.total - self.offset - x.shape[-1])])


class MaxPool2x2(nn.Module):
    """NB101's down-sampling between stacks."""

    def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
        return nn.max_pool(x, (2, 2), strides=(2, 2), padding="SAME")


@functools.lru_cache(maxsize=64)
def _nb101_tape(model: nb101_net.NB101Network) -> Tape:
    """``NB101Network``'s layers in order: stem, stacks of cells (projections, vertex ops, truncations, the output
    concatenation as placed parts, in ``NB101Cell``'s order of summation), down-samplings, head.

    Parameter-free steps get a scope no variable lives at, so they receive no variables.
    """
    matrix, ops = nb101_space.prune(np.asarray(model.matrix), model.ops)
    out = matrix.shape[0] - 1
    kw = dict(batch_norm=model.batch_norm, dtype=model.dtype)
    steps = [Step(nb101_net.ConvBNReLU(model.stem_channels, 3, **kw), ("stem",), 0, 1)]
    node, in_channels, channels = 1, model.stem_channels, model.stem_channels
    outputs = [1]
    for stack in range(model.num_stacks):
        if stack > 0:
            steps.append(Step(MaxPool2x2(), (f"downsample_{stack}",), node, node + 1))
            node += 1
            channels *= 2
        for cell in range(model.cells_per_stack):
            scope = f"stack{stack}_module{cell}"
            widths = nb101_net.vertex_channels(in_channels, channels, matrix)
            cell_in, value = node, {}
            for t in range(1, out):
                vertex_in, node = node + 1, node + 2
                value[t] = node
                for src in range(1, t):
                    if matrix[src, t]:
                        block = "identity" if widths[src] == widths[t] else Truncate(widths[t])
                        steps.append(Step(block, (scope, f"truncate_{src}_{t}"), value[src], vertex_in))
                if matrix[0, t]:
                    steps.append(Step(nb101_net.ConvBNReLU(widths[t], 1, **kw), (scope, f"vertex_{t}_projection"),
                                      cell_in, vertex_in))
                op = (nb101_net.MaxPool3x3() if ops[t] == nb101_net.MAXPOOL3X3
                      else nb101_net.ConvBNReLU(widths[t], nb101_net.OP_KERNEL[ops[t]], **kw))
                steps.append(Step(op, (scope, f"vertex_{t}"), vertex_in, value[t]))
            node += 1
            feeding = [t for t in range(1, out) if matrix[t, out]]
            offset = 0
            for t in feeding:
                block = "identity" if len(feeding) == 1 else Place(offset, channels)
                steps.append(Step(block, (scope, f"concat_{t}"), value[t], node))
                offset += widths[t]
            if matrix[0, out] or not feeding:
                steps.append(Step(nb101_net.ConvBNReLU(channels, 1, **kw), (scope, "output_projection"), cell_in,
                                  node))
            in_channels = channels
            outputs.append(node)
    steps.append(Step(nb101_net.NB101Head(model.num_classes, model.dtype), (), node, node + 1, ("logits",)))
    return Tape(tuple(steps), node + 2, tuple(outputs))


def block_variables(variables: Any, step: Step) -> dict[str, Any]:
    """The sub-tree of every collection of the network's ``variables`` that ``step``'s block reads."""
    out = {}
    for collection, tree in variables.items():
        try:
            for k in step.scope:
                tree = tree[k]
        except KeyError:
            continue
        tree = {k: tree[k] for k in step.keys if k in tree} if step.keys else tree
        if tree:
            out[collection] = tree
    return out


def place(tree: dict, step: Step, sub: Any) -> None:
    """Writes a block's sub-tree into a nested dict at the step's scope (merging for root-level keys)."""
    for k in step.scope[:-1]:
        tree = tree.setdefault(k, {})
    if step.keys:
        tree = tree.setdefault(step.scope[-1], {}) if step.scope else tree
        tree.update(sub)
    else:
        tree[step.scope[-1]] = sub


__all__ = ["Block", "MaxPool2x2", "Place", "Step", "Tape", "Truncate", "block_variables", "place", "supports",
           "tape"]
