"""build(): full-size and proxy networks for the three spaces, overrides, and clear errors."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from nasi_nal.errors import InvalidCellError, NetworkConfigError
from nasi_nal.networks.build import PROXY_CONFIGS, SPACES, build
from nasi_nal.networks.common import count_params
from nasi_nal.networks.darts import DartsCifarNetwork
from nasi_nal.networks.nb101 import NB101Network
from nasi_nal.networks.nb201 import NB201Network
from nasi_nal.spaces import darts, nb101, nb201

NB101_CELL = nb101.Cell(np.array([[0, 1, 1], [0, 0, 1], [0, 0, 0]]), ("input", "conv3x3-bn-relu", "output"))
NB201_ARCH = "|nor_conv_3x3~0|+|nor_conv_1x1~0|avg_pool_3x3~1|+|skip_connect~0|none~1|nor_conv_3x3~2|"
CELLS = {"nb101": NB101_CELL, "nb201": NB201_ARCH, "darts": darts.DARTS_V2}
NETWORKS = {"nb101": NB101Network, "nb201": NB201Network, "darts": DartsCifarNetwork}


def test_every_space_has_a_proxy_config():
    assert set(PROXY_CONFIGS) == set(SPACES) == set(CELLS)


@pytest.mark.parametrize("space", SPACES)
def test_full_size_is_the_benchmark_network_and_proxy_overrides_only_its_config(space):
    full = build(space, CELLS[space])
    proxy = build(space, CELLS[space], proxy=True)
    assert type(full) is type(proxy) is NETWORKS[space]
    assert full == NETWORKS[space](**_cell_kwargs(space))  # the network's own (benchmark) defaults
    for field, value in PROXY_CONFIGS[space].items():
        assert getattr(proxy, field) == value
    assert proxy == full.clone(**PROXY_CONFIGS[space])
    assert count_params(proxy) < count_params(full)


def _cell_kwargs(space):
    return {"nb101": dict(matrix=NB101_CELL.matrix, ops=NB101_CELL.ops), "nb201": dict(arch=NB201_ARCH),
            "darts": dict(genotype=darts.DARTS_V2)}[space]


def test_proxy_networks_run_on_cifar_sized_images():
    x = jnp.zeros((2, 32, 32, 3))
    for space in ("nb201", "darts"):
        net = build(space, CELLS[space], proxy=True, num_classes=7)
        variables = jax.eval_shape(net.init, jax.random.PRNGKey(0), x)
        assert jax.eval_shape(net.apply, variables, x).shape == (2, 7)


def test_common_options_and_overrides_reach_the_network():
    net = build("nb201", nb201.parse(NB201_ARCH), proxy=True, num_classes=100, dtype=jnp.bfloat16,
                batch_norm=False, channels=8)
    assert (net.num_classes, net.dtype, net.batch_norm, net.channels, net.cells_per_stage) == (
        100, jnp.bfloat16, False, 8, PROXY_CONFIGS["nb201"]["cells_per_stage"])
    assert build("darts", darts.DARTS_V1, layers=5).layers == 5


def test_errors_name_the_problem():
    with pytest.raises(NetworkConfigError, match="unknown search space 'nb301'"):
        build("nb301", darts.DARTS_V2)
    with pytest.raises(InvalidCellError, match="nasi_nal.spaces.darts.Genotype"):
        build("darts", NB201_ARCH)
    with pytest.raises(InvalidCellError, match="nasi_nal.spaces.nb101.Cell"):
        build("nb101", darts.DARTS_V2)
    with pytest.raises(InvalidCellError, match="nb201.Arch or an arch string"):
        build("nb201", NB101_CELL)
    with pytest.raises(InvalidCellError, match="unknown op"):
        build("nb201", NB201_ARCH.replace("nor_conv_1x1", "conv_5x5"))
    with pytest.raises(NetworkConfigError, match=r"no option\(s\) \['width'\]"):
        build("darts", darts.DARTS_V2, width=8)
    with pytest.raises(NetworkConfigError, match="own arguments"):
        build("nb201", NB201_ARCH, arch=NB201_ARCH)
