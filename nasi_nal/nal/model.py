"""The NAL link predictor: a multi-head graph-attention encoder on jraph and an MLP link decoder, in Flax linen.

NAL (Liang & Sun, "Automating Neural Architecture Design without Search") trains a graph attention network for
link prediction on the best NAS-Bench-101 cells and decodes new cells from its link probabilities. No official
code exists; this design is ours:

* Encoder: ``num_layers`` GATv2 layers (Brody et al., 2022, "How Attentive are Graph Attention Networks?": score
  ``a^T LeakyReLU(W_s h_s + W_r h_r + W_e e)``, the attention of Velickovic et al., 2018, made dynamic), each
  with ``num_heads`` heads normalised per receiver by ``jraph.segment_softmax``, attention dropout, a residual
  connection and LayerNorm. It runs on the candidate graph of :mod:`nasi_nal.nal.data` (complete graph with
  self-loops, edges typed only by direction), so it never sees the edges it predicts.
* Decoder: an MLP on ``[h_i, h_j, h_i * h_j]`` giving the logit of P(edge i -> j) for every forward pair i < j.
"""
from __future__ import annotations

import dataclasses
import functools
from typing import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import jraph
import numpy as np

from nasi_nal.nal import data


@dataclasses.dataclass(frozen=True)
class ModelConfig:
    """Sizes of the link predictor (all defaults are those of the shipped checkpoint)."""

    hidden: int = 64  # node embedding width
    num_heads: int = 4  # attention heads per layer; hidden must be divisible by it
    num_layers: int = 3  # GAT layers (>= 2: a vertex must see the ops of vertices two hops away on the ordering)
    dropout: float = 0.1  # on attention weights and layer outputs during training
    decoder_hidden: int = 64  # width of the link MLP

    def __post_init__(self) -> None:
        if self.hidden % self.num_heads:
            raise ValueError(f"hidden={self.hidden} must be divisible by num_heads={self.num_heads}")
        if self.num_layers < 1:
            raise ValueError(f"num_layers must be >= 1, got {self.num_layers}")


class GATv2Layer(nn.Module):
    """One multi-head GATv2 layer with typed edges, residual connection and LayerNorm."""

    hidden: int
    num_heads: int
    dropout: float

    @nn.compact
    def __call__(self, nodes: jax.Array, edge_emb: jax.Array, senders: jax.Array, receivers: jax.Array,
                 deterministic: bool) -> jax.Array:
        n = nodes.shape[0]
        head = self.hidden // self.num_heads
        src = nn.Dense(self.hidden, name="w_src")(nodes).reshape(n, self.num_heads, head)
        dst = nn.Dense(self.hidden, use_bias=False, name="w_dst")(nodes).reshape(n, self.num_heads, head)
        e = nn.Dense(self.hidden, use_bias=False, name="w_edge")(edge_emb).reshape(-1, self.num_heads, head)
        pre = nn.leaky_relu(src[senders] + dst[receivers] + e, negative_slope=0.2)  # (E, H, head)
        a = self.param("attention", nn.initializers.lecun_normal(), (self.num_heads, head))
        logits = jnp.sum(pre * a, axis=-1)  # (E, H)
        weights = jraph.segment_softmax(logits, receivers, num_segments=n)
        weights = nn.Dropout(self.dropout)(weights, deterministic=deterministic)
        messages = (src[senders] + e) * weights[..., None]
        agg = jax.ops.segment_sum(messages, receivers, num_segments=n).reshape(n, self.hidden)
        out = nn.Dense(self.hidden, name="out")(nn.elu(agg))
        out = nn.Dropout(self.dropout)(out, deterministic=deterministic)
        return nn.LayerNorm()(nodes + out)


class LinkPredictor(nn.Module):
    """GAT encoder + link MLP; returns one logit per edge of the (padded) candidate graph.

    Only the logits of forward edges (``edges['kind'] == 0``) are meaningful: they are log-odds of P(i -> j).
    """

    config: ModelConfig

    @nn.compact
    def __call__(self, graph: jraph.GraphsTuple, deterministic: bool = True) -> jax.Array:
        cfg = self.config
        h = nn.Dense(cfg.hidden, name="embed")(graph.nodes)
        edge_emb = jax.nn.one_hot(graph.edges["kind"], data.NUM_KINDS)
        for layer in range(cfg.num_layers):
            h = GATv2Layer(cfg.hidden, cfg.num_heads, cfg.dropout, name=f"gat_{layer}")(
                h, edge_emb, graph.senders, graph.receivers, deterministic
            )
        hs, hr = h[graph.senders], h[graph.receivers]
        z = jnp.concatenate([hs, hr, hs * hr], axis=-1)
        z = nn.relu(nn.Dense(cfg.decoder_hidden, name="decoder_0")(z))
        return nn.Dense(1, name="decoder_1")(z)[:, 0]


def init_params(config: ModelConfig, key: jax.Array) -> dict:
    """Fresh parameters for ``config`` (shapes do not depend on the batch)."""
    graph = data.pad(data.candidate_graphs([("input", "conv3x3-bn-relu", "output")]), 1)
    return _init_fn(config)(key, graph)["params"]


@functools.lru_cache(maxsize=None)
def _init_fn(config: ModelConfig):
    """Jitted ``init`` (eager init dispatches every op separately, which is slow on CPU)."""
    module = LinkPredictor(config)
    return jax.jit(lambda key, graph: module.init(key, graph, deterministic=True))


@functools.lru_cache(maxsize=None)
def _apply_fn(config: ModelConfig):
    """The jitted deterministic forward pass for ``config``, compiled once per padded batch size."""
    module = LinkPredictor(config)
    return jax.jit(lambda params, graph: module.apply({"params": params}, graph, deterministic=True))


def edge_logits(config: ModelConfig, params: dict, op_seqs: Sequence[Sequence[str]],
                batch_size: int = 256) -> list[np.ndarray]:
    """Log-odds of P(i -> j) for every op sequence: a list of (V, V) float64 arrays, upper triangle filled.

    Entries on and below the diagonal are 0 and mean nothing. Batches are padded to ``batch_size`` graphs, so
    any number of cells runs through one compiled function.
    """
    fn = _apply_fn(config)
    out: list[np.ndarray] = []
    for start in range(0, len(op_seqs), batch_size):
        chunk = op_seqs[start:start + batch_size]
        graph = data.pad(data.candidate_graphs(chunk), batch_size)
        logits = np.asarray(fn(params, graph), np.float64)
        offset = 0
        for ops in chunk:
            v = len(ops)
            s, r, kind = data._TEMPLATES[v]
            fwd = kind == 0
            block = np.zeros((v, v))
            block[s[fwd], r[fwd]] = logits[offset:offset + len(s)][fwd]
            out.append(block)
            offset += len(s)
    return out


def edge_probabilities(config: ModelConfig, params: dict, op_seqs: Sequence[Sequence[str]],
                       batch_size: int = 256) -> list[np.ndarray]:
    """P(i -> j) per op sequence as (V, V) arrays; only the upper triangle (i < j) is meaningful."""
    return [1.0 / (1.0 + np.exp(-z)) for z in edge_logits(config, params, op_seqs, batch_size)]


def edge_log_probabilities(config: ModelConfig, params: dict, op_seqs: Sequence[Sequence[str]],
                           batch_size: int = 256) -> list[tuple[np.ndarray, np.ndarray]]:
    """(log P(i -> j), log(1 - P(i -> j))) per op sequence as (V, V) arrays, stable log-sigmoids of the logits.

    Only the upper triangle (i < j) is meaningful.
    """
    return [(-np.logaddexp(0.0, -z), -np.logaddexp(0.0, z)) for z in edge_logits(config, params, op_seqs, batch_size)]
