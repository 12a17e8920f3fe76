"""The DARTS evaluation networks in Flax: quark0/darts ``cnn/model.py`` (``NetworkCIFAR``, ``NetworkImageNet``).

Liu, Simonyan & Yang, "DARTS: Differentiable Architecture Search", ICLR 2019. A network stacks ``layers`` cells;
the cells at ``layers // 3`` and ``2 * layers // 3`` are reduction cells (stride 2 on the edges from the two cell
inputs, channels doubled). Cell k reads the outputs of cells k-2 and k-1, each first mapped to C channels
(ReLU-conv1x1-BN, or FactorizedReduce when cell k-2's output has twice the resolution), and outputs the
concatenation of its 4 intermediate nodes (4C channels). The auxiliary head (``AuxiliaryHeadCIFAR`` /
``AuxiliaryHeadImageNet``) reads the output of cell ``2 * layers // 3``.

Training interface (for the trainer):

* ``__call__(x, train=False, drop_path_rate=None) -> logits`` (float32).
* ``train=True`` uses batch statistics: pass ``mutable=["batch_stats", "intermediates"]``.
* With ``auxiliary=True`` and ``train=True`` the auxiliary logits are stored with
  ``self.sow("intermediates", "aux_logits", aux)``: read them as ``updates["intermediates"]["aux_logits"][0]``.
  DARTS trains on ``loss(logits) + 0.4 * loss(aux_logits)`` (``--auxiliary_weight 0.4``). The head's parameters
  are created at ``init`` whatever ``train`` is, so eval-mode and train-mode initialisation give the same tree.
* Drop path (DARTS ``utils.drop_path``: one Bernoulli(1 - p) per sample, survivors scaled by 1 / (1 - p)) acts on
  every op output except identities, only when ``train=True``; it draws from the ``'dropout'`` rng stream
  (``rngs={"dropout": key}``). DARTS ramps p linearly, ``drop_path_prob * epoch / epochs``: pass the current value
  as the ``drop_path_rate`` call argument (a float or a traced scalar, so one compiled step serves every epoch);
  without it the ``drop_path_rate`` field is used.

Parameter check (``tests/test_networks_darts.py``): DARTS_V2 comes to 3,349,342 parameters on CIFAR-10 (36
channels, 20 layers) and 4,718,752 on ImageNet (mobile setting: 48 channels, 14 layers), auxiliary heads excluded
as DARTS' ``utils.count_parameters_in_MB`` excludes them; the paper reports 3.3M and 4.7M (Tables 1 and 3).
"""
from __future__ import annotations

from typing import Any, Optional, Sequence, Union

import flax.linen as nn
import jax
import jax.numpy as jnp

from nasi_nal.networks import common
from nasi_nal.networks.common import ReLU
from nasi_nal.networks.ops import FactorizedReduce, ReLUConvBN, batch_norm_layer, darts_op, is_identity
from nasi_nal.spaces import darts as space

Dtype = Any
Rate = Union[float, jax.Array]


def drop_path(x: jax.Array, rate: Rate, key: jax.Array) -> jax.Array:
    """DARTS ``utils.drop_path``: zero whole samples with probability ``rate``, scale the rest by ``1 / (1 - rate)``.

    ``rate`` may be a traced scalar (DARTS ramps it over training).
    """
    keep = 1.0 - jnp.asarray(rate, jnp.float32)
    mask = jax.random.bernoulli(key, keep, (x.shape[0],) + (1,) * (x.ndim - 1))
    return x * (mask / keep).astype(x.dtype)


def preprocess(s0: jax.Array, s1: jax.Array, features: int, reduction_prev: bool, train: bool,
               **kw: Any) -> tuple[jax.Array, jax.Array]:
    """A DARTS cell's two input states brought to ``features`` channels (``preprocess0`` / ``preprocess1``).

    ``s0`` is halved in resolution (``FactorizedReduce``) when the previous cell reduced, else a 1x1
    ``ReLUConvBN``; ``kw`` goes to both layers (``dtype``, ``batch_norm``, ``affine``). Called from a cell's compact
    ``__call__`` (evaluation and search cells alike), so the layers become its submodules.
    """
    if reduction_prev:
        s0 = FactorizedReduce(features, name="preprocess0", **kw)(s0, train)
    else:
        s0 = ReLUConvBN(features, 1, name="preprocess0", **kw)(s0, train)
    return s0, ReLUConvBN(features, 1, name="preprocess1", **kw)(s1, train)


class DartsCell(nn.Module):
    """One DARTS cell (quark0/darts ``model.Cell``) for one half of a genotype.

    ``edges``: the 8 ``(op, input)`` pairs (``genotype.normal`` or ``genotype.reduce``); ``concat``: the nodes
    concatenated into the output.
    """

    edges: tuple[tuple[str, int], ...]
    concat: tuple[int, ...]
    features: int
    reduction: bool
    reduction_prev: bool
    dtype: Dtype = jnp.float32
    batch_norm: bool = True

    @nn.compact
    def __call__(self, s0: jax.Array, s1: jax.Array, train: bool = False,
                 drop_path_rate: Optional[Rate] = None) -> jax.Array:
        kw = dict(dtype=self.dtype, batch_norm=self.batch_norm)
        states = list(preprocess(s0, s1, self.features, self.reduction_prev, train, **kw))
        for node in range(len(self.edges) // 2):
            total = None
            for position in (2 * node, 2 * node + 1):
                op, source = self.edges[position]
                strides = 2 if self.reduction and source < 2 else 1
                h = darts_op(op, self.features, strides, name=f"op{position}_{op}", **kw)(states[source], train)
                if train and drop_path_rate is not None and not is_identity(op, strides):
                    h = drop_path(h, drop_path_rate, self.make_rng("dropout"))
                total = h if total is None else total + h
            states.append(total)
        return jnp.concatenate([states[i] for i in self.concat], axis=-1)


class AuxiliaryHead(nn.Module):
    """DARTS' auxiliary classifier: ReLU -> 5x5 avg pool -> conv1x1(128)-BN-ReLU -> conv2x2(768)[-BN]-ReLU -> linear.

    ``pool_stride`` 3 and ``second_bn=True`` is ``AuxiliaryHeadCIFAR`` (8x8 input); ``pool_stride`` 2 and
    ``second_bn=False`` is ``AuxiliaryHeadImageNet`` (7x7 input), whose second BN quark0/darts leaves out "for
    consistency with the experiments in the paper".
    """

    num_classes: int
    pool_stride: int
    second_bn: bool
    dtype: Dtype = jnp.float32
    batch_norm: bool = True

    @nn.compact
    def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
        x = ReLU()(x)
        x = nn.avg_pool(x, (5, 5), strides=(self.pool_stride, self.pool_stride))  # no padding: count_include_pad moot
        x = nn.Conv(128, (1, 1), padding="VALID", use_bias=False, dtype=self.dtype)(x)
        x = batch_norm_layer(x, train, enabled=self.batch_norm, dtype=self.dtype)
        x = ReLU()(x)
        x = nn.Conv(768, (2, 2), padding="VALID", use_bias=False, dtype=self.dtype)(x)
        if self.second_bn:
            x = batch_norm_layer(x, train, enabled=self.batch_norm, dtype=self.dtype)
        x = ReLU()(x)
        if x.shape[1:3] != (1, 1):
            raise ValueError(
                f"the DARTS auxiliary head reduces its input to {x.shape[1:3]} instead of 1x1: it expects 8x8 "
                "features (CIFAR, 32x32 images) or 7x7 (ImageNet, 224x224 images); use that image size or "
                "auxiliary=False")
        x = nn.Dense(self.num_classes, dtype=self.dtype)(x.reshape(x.shape[0], -1))
        return jnp.asarray(x, jnp.float32)


def _as_genotype(genotype: Any) -> space.Genotype:
    """A validated genotype with tuple fields (hashable, so the cells are valid Flax module fields)."""
    space.validate(genotype)
    normal, normal_concat, reduce, reduce_concat = genotype
    return space.Genotype(tuple((op, int(i)) for op, i in normal), tuple(int(i) for i in normal_concat),
                          tuple((op, int(i)) for op, i in reduce), tuple(int(i) for i in reduce_concat))


def _check_fields(module: nn.Module) -> None:
    """Fails at construction, not deep inside init: validates the genotype and stores it with tuple fields."""
    object.__setattr__(module, "genotype", _as_genotype(module.genotype))
    for name in ("channels", "layers", "num_classes"):
        if int(getattr(module, name)) < 1:
            raise ValueError(
                f"{type(module).__name__}.{name} must be a positive integer, got {getattr(module, name)!r}")
    if not 0.0 <= module.drop_path_rate < 1.0:
        raise ValueError(f"{type(module).__name__}.drop_path_rate must be in [0, 1), got {module.drop_path_rate}")


def _cells(module: nn.Module, s0: jax.Array, s1: jax.Array, *, channels: int, layers: int, reduction_prev: bool,
           head: Optional[AuxiliaryHead], train: bool, drop_path_rate: Optional[Rate]) -> jax.Array:
    """The cell stack of ``NetworkCIFAR`` / ``NetworkImageNet``, with the auxiliary head after cell 2L/3.

    Called from the networks' compact ``__call__``, so the cells become their submodules.
    """
    genotype = module.genotype
    features = channels
    kw = dict(dtype=module.dtype, batch_norm=module.batch_norm)
    for i in range(layers):
        reduction = i in (layers // 3, 2 * layers // 3)
        if reduction:
            features *= 2
        edges, concat = (genotype.reduce, genotype.reduce_concat) if reduction else (genotype.normal,
                                                                                      genotype.normal_concat)
        cell = DartsCell(edges, concat, features, reduction, reduction_prev, name=f"cell{i}", **kw)
        s0, s1 = s1, cell(s0, s1, train, drop_path_rate)
        reduction_prev = reduction
        # The head's parameters are created at init in either mode, so both give the same variable tree.
        if i == 2 * layers // 3 and head is not None and (train or module.is_initializing()):
            aux = head(s1, train)
            if train:
                module.sow("intermediates", "aux_logits", aux)
    return s1


def _rate(field: float, override: Optional[Rate]) -> Optional[Rate]:
    """The drop path rate in force: the call's override, else the field; None when statically zero."""
    rate = field if override is None else override
    return None if isinstance(rate, (int, float)) and rate == 0 else rate


class DartsCifarNetwork(nn.Module):
    """quark0/darts ``NetworkCIFAR``: 3x3 stem (3C channels) -> ``layers`` cells -> global pool -> linear.

    Attributes:
        genotype: a :class:`nasi_nal.spaces.darts.Genotype` (e.g. ``DARTS_V2``), validated on call.
        channels: initial channels C (36 in the paper's CIFAR-10 setting).
        layers: number of cells (20).
        num_classes: classifier outputs.
        auxiliary: build the auxiliary head (its logits are sown in train mode; see the module docstring).
        drop_path_rate: drop path probability in train mode (0.2 is DARTS' final value).
        dtype: computation dtype (float32 or bfloat16); parameters are float32.
        batch_norm: False drops every BN layer.
    """

    genotype: Any
    channels: int = 36
    layers: int = 20
    num_classes: int = 10
    auxiliary: bool = True
    drop_path_rate: float = 0.2
    dtype: Dtype = jnp.float32
    batch_norm: bool = True

    def __post_init__(self) -> None:
        _check_fields(self)
        super().__post_init__()

    @nn.compact
    def __call__(self, x: jax.Array, train: bool = False, drop_path_rate: Optional[Rate] = None) -> jax.Array:
        c = 3 * self.channels  # DARTS stem_multiplier = 3
        x = nn.Conv(c, (3, 3), padding=((1, 1), (1, 1)), use_bias=False, dtype=self.dtype, name="stem_conv")(x)
        x = batch_norm_layer(x, train, enabled=self.batch_norm, dtype=self.dtype, name="stem_bn")
        head = (AuxiliaryHead(self.num_classes, 3, True, dtype=self.dtype, batch_norm=self.batch_norm,
                              name="aux_head") if self.auxiliary else None)
        x = _cells(self, x, x, channels=self.channels, layers=self.layers, reduction_prev=False, head=head,
                   train=train, drop_path_rate=_rate(self.drop_path_rate, drop_path_rate))
        x = jnp.mean(x, axis=(1, 2))
        x = nn.Dense(self.num_classes, dtype=self.dtype, name="classifier")(x)
        return jnp.asarray(x, jnp.float32)


class DartsImageNetNetwork(nn.Module):
    """quark0/darts ``NetworkImageNet`` (mobile setting): two stride-2 stems (/8 in all) -> cells -> pool -> linear.

    Same attributes as :class:`DartsCifarNetwork`, with the paper's ImageNet defaults (C = 48, 14 layers, 1000
    classes). The final pool is a global average; DARTS' ``AvgPool2d(7)`` is the same on its 224x224 images.
    """

    genotype: Any
    channels: int = 48
    layers: int = 14
    num_classes: int = 1000
    auxiliary: bool = True
    drop_path_rate: float = 0.0  # train_imagenet.py's default --drop_path_prob
    dtype: Dtype = jnp.float32
    batch_norm: bool = True

    def __post_init__(self) -> None:
        _check_fields(self)
        super().__post_init__()

    @nn.compact
    def __call__(self, x: jax.Array, train: bool = False, drop_path_rate: Optional[Rate] = None) -> jax.Array:
        c = self.channels
        bn = dict(enabled=self.batch_norm, dtype=self.dtype)
        conv = dict(padding=((1, 1), (1, 1)), strides=2, use_bias=False, dtype=self.dtype)
        s0 = nn.Conv(c // 2, (3, 3), name="stem0_conv0", **conv)(x)
        s0 = batch_norm_layer(s0, train, name="stem0_bn0", **bn)
        s0 = ReLU()(s0)
        s0 = nn.Conv(c, (3, 3), name="stem0_conv1", **conv)(s0)
        s0 = batch_norm_layer(s0, train, name="stem0_bn1", **bn)
        s1 = ReLU()(s0)
        s1 = nn.Conv(c, (3, 3), name="stem1_conv", **conv)(s1)
        s1 = batch_norm_layer(s1, train, name="stem1_bn", **bn)
        head = (AuxiliaryHead(self.num_classes, 2, False, dtype=self.dtype, batch_norm=self.batch_norm,
                              name="aux_head") if self.auxiliary else None)
        x = _cells(self, s0, s1, channels=c, layers=self.layers, reduction_prev=True, head=head, train=train,
                   drop_path_rate=_rate(self.drop_path_rate, drop_path_rate))
        x = jnp.mean(x, axis=(1, 2))
        x = nn.Dense(self.num_classes, dtype=self.dtype, name="classifier")(x)
        return jnp.asarray(x, jnp.float32)


def count_darts_params(module: Union[DartsCifarNetwork, DartsImageNetNetwork],
                       input_shape: Optional[Sequence[int]] = None, *, auxiliary: bool = False) -> int:
    """Trainable parameters of a DARTS network as DARTS reports them (``utils.count_parameters_in_MB`` skips every
    parameter named ``auxiliary``): the auxiliary head is left out unless ``auxiliary=True``.

    ``input_shape`` defaults to one 32x32 image for CIFAR networks and one 224x224 image for ImageNet ones.
    """
    if input_shape is None:
        size = 224 if isinstance(module, DartsImageNetNetwork) else 32
        input_shape = (1, size, size, 3)
    return common.count_params(module if auxiliary else module.clone(auxiliary=False), input_shape)
