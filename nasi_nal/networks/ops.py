"""Candidate operations of the NAS-Bench-201 and DARTS cells, in Flax (NHWC).

Definitions follow the official PyTorch code:

* NAS-Bench-201: ``lib/models/cell_operations.py`` of D-X-Y/AutoDL-Projects, built as the benchmark builds its
  trained networks (``InferCell``: ``affine=True``, ``track_running_stats=True``), so ReLU -> conv (no bias, since
  ``bias = not affine``) -> BN. :func:`nb201_op` maps the five NAS-Bench-201 op names to modules.
* DARTS: ``cnn/operations.py`` of quark0/darts (Liu et al., ICLR 2019). :func:`darts_op` maps the DARTS
  ``PRIMITIVES`` (the ``OPS`` entries the DARTS space uses; ``sep_conv_7x7`` and ``conv_7x1_1x7`` are left out) to
  modules. Pools carry no BN in the final networks (``model.py``); the search supernet
  (``model_search.py``, ``MixedOp``) appends a non-affine BN to them, available here as ``pool_bn=True``.

Every op takes ``(x, train)`` so cells can call them uniformly; ``train`` selects batch statistics (and updates of
the ``batch_stats`` collection) in BN, as PyTorch's ``module.train()`` does. BN uses PyTorch's defaults
(momentum 0.1, i.e. Flax ``momentum=0.9``, and eps 1e-5). ``batch_norm=False`` drops every BN layer (the synflow
score of Abdelfattah et al., 2021 is computed on networks without BN). ``dtype`` is the computation dtype;
parameters stay float32. All ReLUs go through :class:`nasi_nal.networks.common.ReLU`.
"""
from __future__ import annotations

from typing import Any, Optional

import flax.linen as nn
import jax
import jax.numpy as jnp

from nasi_nal.errors import InvalidCellError
from nasi_nal.networks.common import ReLU
from nasi_nal.spaces import darts as darts_space
from nasi_nal.spaces import nb201 as nb201_space

Dtype = Any

# Flax's BN momentum is the weight of the old running value; PyTorch's 0.1 is the weight of the new one.
_BN_MOMENTUM = 0.9
_BN_EPSILON = 1e-5


def batch_norm_layer(x: jax.Array, train: bool, *, enabled: bool, affine: bool = True, dtype: Dtype = jnp.float32,
                     name: Optional[str] = None) -> jax.Array:
    """PyTorch-default ``BatchNorm2d`` over the channel axis, or the identity when ``enabled`` is False.

    Must be called inside a compact method (it creates a submodule there).
    """
    if not enabled:
        return x
    return nn.BatchNorm(use_running_average=not train, momentum=_BN_MOMENTUM, epsilon=_BN_EPSILON,
                        use_scale=affine, use_bias=affine, dtype=dtype, name=name)(x)


def _pad(p: int) -> tuple[tuple[int, int], tuple[int, int]]:
    return ((p, p), (p, p))


class ReLUConvBN(nn.Module):
    """ReLU -> conv (no bias) -> BN: ``ReLUConvBN`` of both AutoDL-Projects (NAS-Bench-201) and quark0/darts."""

    features: int
    kernel_size: int
    strides: int = 1
    padding: int = 0
    affine: bool = True
    dtype: Dtype = jnp.float32
    batch_norm: bool = True

    @nn.compact
    def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
        x = ReLU()(x)
        x = nn.Conv(self.features, (self.kernel_size, self.kernel_size), strides=self.strides,
                    padding=_pad(self.padding), use_bias=False, dtype=self.dtype)(x)
        return batch_norm_layer(x, train, enabled=self.batch_norm, affine=self.affine, dtype=self.dtype)


class SepConv(nn.Module):
    """DARTS separable conv: (ReLU -> depthwise kxk -> pointwise 1x1 -> BN) twice; only the first is strided."""

    features: int
    kernel_size: int
    strides: int = 1
    padding: int = 1
    affine: bool = True
    dtype: Dtype = jnp.float32
    batch_norm: bool = True

    @nn.compact
    def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
        c_in = x.shape[-1]
        k = (self.kernel_size, self.kernel_size)
        for strides, c_out in ((self.strides, c_in), (1, self.features)):
            x = ReLU()(x)
            x = nn.Conv(c_in, k, strides=strides, padding=_pad(self.padding), feature_group_count=c_in,
                        use_bias=False, dtype=self.dtype)(x)
            x = nn.Conv(c_out, (1, 1), padding="VALID", use_bias=False, dtype=self.dtype)(x)
            x = batch_norm_layer(x, train, enabled=self.batch_norm, affine=self.affine, dtype=self.dtype)
        return x


class DilConv(nn.Module):
    """DARTS dilated separable conv: ReLU -> dilated depthwise kxk -> pointwise 1x1 -> BN."""

    features: int
    kernel_size: int
    strides: int = 1
    padding: int = 2
    dilation: int = 2
    affine: bool = True
    dtype: Dtype = jnp.float32
    batch_norm: bool = True

    @nn.compact
    def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
        c_in = x.shape[-1]
        x = ReLU()(x)
        x = nn.Conv(c_in, (self.kernel_size, self.kernel_size), strides=self.strides, padding=_pad(self.padding),
                    kernel_dilation=self.dilation, feature_group_count=c_in, use_bias=False, dtype=self.dtype)(x)
        x = nn.Conv(self.features, (1, 1), padding="VALID", use_bias=False, dtype=self.dtype)(x)
        return batch_norm_layer(x, train, enabled=self.batch_norm, affine=self.affine, dtype=self.dtype)


class FactorizedReduce(nn.Module):
    """Halves the resolution with two stride-2 1x1 convs, the second shifted by one pixel, concatenated -> BN.

    ReLU first. The shifted branch sees the input padded by one zero row/column at the bottom/right and cropped at
    the top/left (AutoDL-Projects' form), which for even sizes is exactly quark0/darts' ``x[:, :, 1:, 1:]`` and also
    works for odd sizes. Channels split ``features // 2`` and ``features - features // 2`` (equal for DARTS, which
    requires even ``features``).
    """

    features: int
    affine: bool = True
    dtype: Dtype = jnp.float32
    batch_norm: bool = True

    @nn.compact
    def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
        x = ReLU()(x)
        shifted = jnp.pad(x, ((0, 0), (0, 1), (0, 1), (0, 0)))[:, 1:, 1:, :]
        half = self.features // 2
        a = nn.Conv(half, (1, 1), strides=2, padding="VALID", use_bias=False, dtype=self.dtype)(x)
        b = nn.Conv(self.features - half, (1, 1), strides=2, padding="VALID", use_bias=False, dtype=self.dtype)(shifted)
        x = jnp.concatenate([a, b], axis=-1)
        return batch_norm_layer(x, train, enabled=self.batch_norm, affine=self.affine, dtype=self.dtype)


class Identity(nn.Module):
    """The identity (``skip_connect`` at stride 1)."""

    @nn.compact
    def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
        return x


class Zero(nn.Module):
    """The ``none`` op: zeros shaped like the strided input, as ``x[:, ::s, ::s] * 0`` (so NaNs still propagate)."""

    strides: int = 1

    @nn.compact
    def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
        return x[:, ::self.strides, ::self.strides, :] * 0


class Pool3x3(nn.Module):
    """3x3 pool with padding 1: ``avg`` excludes padded cells from the mean (``count_include_pad=False``), ``max``
    pads with -inf, as PyTorch. ``pool_bn`` appends the non-affine BN of DARTS' search supernet (``MixedOp``)."""

    kind: str
    strides: int = 1
    pool_bn: bool = False
    dtype: Dtype = jnp.float32
    batch_norm: bool = True

    @nn.compact
    def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
        if self.kind == "avg":
            # Flax divides by float32 window counts; cast back so bfloat16 networks stay in bfloat16.
            x = nn.avg_pool(x, (3, 3), strides=(self.strides, self.strides), padding=_pad(1),
                            count_include_pad=False).astype(x.dtype)
        elif self.kind == "max":
            x = nn.max_pool(x, (3, 3), strides=(self.strides, self.strides), padding=_pad(1))
        else:
            raise ValueError(f"Pool3x3 kind must be 'avg' or 'max', got {self.kind!r}")
        if self.pool_bn:
            x = batch_norm_layer(x, train, enabled=self.batch_norm, affine=False, dtype=self.dtype)
        return x


class ResNetBasicblock(nn.Module):
    """NAS-Bench-201's reduction block between stages (AutoDL-Projects ``ResNetBasicblock`` at stride 2).

    ReLUConvBN 3x3 (stride 2) -> ReLUConvBN 3x3, plus a shortcut of 2x2 avg pool -> 1x1 conv (no bias, no BN).
    The official block's stride-1 variants never occur in the benchmark's network and are not built.
    """

    features: int
    dtype: Dtype = jnp.float32
    batch_norm: bool = True

    @nn.compact
    def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
        kw = dict(dtype=self.dtype, batch_norm=self.batch_norm)
        y = ReLUConvBN(self.features, 3, 2, 1, name="conv_a", **kw)(x, train)
        y = ReLUConvBN(self.features, 3, 1, 1, name="conv_b", **kw)(y, train)
        residual = nn.avg_pool(x, (2, 2), strides=(2, 2))
        residual = nn.Conv(self.features, (1, 1), padding="VALID", use_bias=False, dtype=self.dtype,
                           name="downsample")(residual)
        return residual + y


def nb201_op(op: str, features: int, *, dtype: Dtype = jnp.float32, batch_norm: bool = True,
             name: Optional[str] = None) -> nn.Module:
    """The module of a NAS-Bench-201 edge inside a cell (stride 1, ``features`` channels in and out).

    Inside the benchmark's cells input and output widths are equal and the stride is 1 (reductions are
    ResNet blocks), so ``skip_connect`` is the identity and ``avg_pool_3x3`` needs no 1x1 preprocessing.
    """
    if op == "none":
        return Zero(1, name=name)
    if op == "skip_connect":
        return Identity(name=name)
    if op == "nor_conv_1x1":
        return ReLUConvBN(features, 1, 1, 0, dtype=dtype, batch_norm=batch_norm, name=name)
    if op == "nor_conv_3x3":
        return ReLUConvBN(features, 3, 1, 1, dtype=dtype, batch_norm=batch_norm, name=name)
    if op == "avg_pool_3x3":
        return Pool3x3("avg", 1, name=name)
    raise InvalidCellError(f"unknown NAS-Bench-201 op {op!r}: use one of {nb201_space.OPS}")


def darts_op(op: str, features: int, strides: int, *, affine: bool = True, pool_bn: bool = False,
             dtype: Dtype = jnp.float32, batch_norm: bool = True, name: Optional[str] = None) -> nn.Module:
    """The module of quark0/darts ``OPS[op](C=features, stride=strides, affine)``, for ``op`` in ``PRIMITIVES``.

    ``pool_bn=True`` adds the non-affine BN that DARTS' search supernet puts after pools.
    """
    kw = dict(affine=affine, dtype=dtype, batch_norm=batch_norm, name=name)
    if op == "none":
        return Zero(strides, name=name)
    if op in ("avg_pool_3x3", "max_pool_3x3"):
        return Pool3x3(op[:3], strides, pool_bn=pool_bn, dtype=dtype, batch_norm=batch_norm, name=name)
    if op == "skip_connect":
        return Identity(name=name) if strides == 1 else FactorizedReduce(features, **kw)
    if op in ("sep_conv_3x3", "sep_conv_5x5"):
        k = int(op[-1])
        return SepConv(features, k, strides, k // 2, **kw)  # padding 1 / 2
    if op in ("dil_conv_3x3", "dil_conv_5x5"):
        k = int(op[-1])
        return DilConv(features, k, strides, k - 1, 2, **kw)  # padding 2 / 4, dilation 2
    raise InvalidCellError(f"unknown DARTS op {op!r}: use one of {darts_space.PRIMITIVES}")


def is_identity(op: str, strides: int) -> bool:
    """Whether :func:`darts_op` builds :class:`Identity` (DARTS applies no drop path to those)."""
    return op == "skip_connect" and strides == 1
