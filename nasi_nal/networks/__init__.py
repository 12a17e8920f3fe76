"""The benchmarks' own networks in Flax (NHWC, pure init/apply)."""
from nasi_nal.networks.common import ReLU, count_params
