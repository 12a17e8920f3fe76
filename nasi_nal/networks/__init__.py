"""The benchmarks' own networks in Flax (NHWC, pure init/apply), one module per space.

``nb101.NB101Network`` (google-research/nasbench ``model_builder``), ``nb201.NB201Network`` (NAS-Bench-201's
``TinyNetwork``) and ``darts.DartsCifarNetwork`` / ``darts.DartsImageNetNetwork`` (quark0/darts ``cnn/model.py``);
``common`` holds what they share: the ``ReLU`` module scores hook into and ``count_params``; ``build`` makes any
space's network from a cell, at full or proxy size.
"""
from nasi_nal.networks.common import ReLU, count_params
from nasi_nal.networks.darts import DartsCifarNetwork, DartsImageNetNetwork
from nasi_nal.networks.nb101 import NB101Network
from nasi_nal.networks.nb201 import NB201Network
from nasi_nal.networks.build import PROXY_CONFIGS, build

__all__ = ["PROXY_CONFIGS", "ReLU", "build", "count_params", "NB101Network", "NB201Network", "DartsCifarNetwork",
           "DartsImageNetNetwork"]
