"""Tests run torch on one intra-op thread: small tensors are faster so, and timings stay steady under load."""

import torch

torch.set_num_threads(1)
