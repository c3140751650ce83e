"""Receptive fields: the recurrence against the pixels that actually reach one output unit."""

from __future__ import annotations

import pandas as pd
import pytest
import torch
from torch import nn

from colorlib.models import define_D, define_G
from colorlib.receptive import layer_table, receptive_field


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)


def measured_field(net: nn.Module, input_shape: tuple[int, int, int]) -> int:
    """The side of the input region whose pixels change the centre output unit (by autograd).

    A ReLU blocks the gradient where its input is negative, so the region is the union over a
    batch of random inputs (in eval mode each image passes the net on its own).
    """
    torch.manual_seed(0)
    net.eval()
    x = torch.randn(16, *input_shape, requires_grad=True)
    out = net(x)
    h, w = out.shape[-2:]
    out[:, 0, h // 2, w // 2].sum().backward()
    rows = x.grad.abs().sum(dim=(0, 1, 3)).nonzero()
    cols = x.grad.abs().sum(dim=(0, 1, 2)).nonzero()
    assert rows.numel() and cols.numel(), "no input pixel reached the output"
    return max(int(rows.max() - rows.min()) + 1, int(cols.max() - cols.min()) + 1)


@pytest.mark.parametrize(("n_layers", "expected"), [(1, 16), (2, 34), (3, 70)])
def test_patchgan_fields_are_pix2pix_s_16_34_and_70(n_layers, expected):
    net = define_D("patchgan", ndf=4, n_layers=n_layers)
    assert receptive_field(net) == expected
    assert measured_field(net, (3, 160, 160)) == expected


def test_colornet_field_is_15_and_the_transposed_convolutions_add_nothing():
    net = define_G("colornet", widths=[4, 8, 16])
    assert receptive_field(net) == 15  # 3, then +2*2, then +2*4
    assert measured_field(net, (1, 64, 64)) == 15
    deeper = define_G("colornet", widths=[8, 8, 8, 8, 8])
    assert receptive_field(deeper) == measured_field(deeper, (1, 128, 128)) == 63


def test_a_transposed_convolution_whose_kernel_overlaps_widens_the_field():
    net = nn.Sequential(nn.Conv2d(1, 1, 3, 2, 1), nn.ConvTranspose2d(1, 1, 3, 2, 1, 1))
    # Each output reads ceil(3/2) = 2 neighbouring inputs, 2 pixels apart: 3 + 2 = 5 in the
    # interior (some outputs read only one input: the recurrence gives the largest field).
    assert receptive_field(net) == 5
    nn.init.constant_(net[0].weight, 1.0)
    nn.init.constant_(net[1].weight, 1.0)
    torch.manual_seed(0)
    x = torch.randn(1, 1, 32, 32, requires_grad=True)
    net(x)[0, 0, 15, 15].backward()  # an odd position: it reads two inputs
    rows = x.grad[0, 0].abs().sum(dim=1).nonzero()
    assert int(rows.max() - rows.min()) + 1 == 5


def test_pooling_and_dilation_follow_the_same_recurrence():
    net = nn.Sequential(nn.Conv2d(1, 1, 3, dilation=2), nn.MaxPool2d(2), nn.Conv2d(1, 1, 3))
    # 1 + 2*2 = 5; pool: 5 + 1 = 6, jump 2; conv: 6 + 2*2 = 10.
    assert receptive_field(net) == 10
    assert measured_field(net, (1, 40, 40)) == 10


def test_layer_table_lists_shapes_in_forward_order_and_restores_training_mode():
    net = define_G("colornet", widths=[8, 32, 128])
    net.train()
    table = layer_table(net, (1, 64, 64))
    assert net.training
    assert list(table["output (C x H x W)"]) == [
        "8 x 32 x 32", "32 x 16 x 16", "128 x 8 x 8", "32 x 16 x 16", "8 x 32 x 32", "2 x 64 x 64",
    ]  # fmt: skip
    assert list(table["receptive field"]) == [3, 7, 15, 15, 15, 15]
    assert list(table["jump"]) == [2, 4, 8, 4, 2, 1]
    assert table["parameters"].sum() == sum(
        p.numel() for m in net.modules() if isinstance(m, nn.Conv2d | nn.ConvTranspose2d)
        for p in m.parameters()
    )  # fmt: skip
    every = layer_table(net, (1, 64, 64), all_layers=True)
    assert len(every) > len(table) and "BatchNorm2d" in set(every["type"])


def test_layer_table_of_the_lab_gan_generator_shows_the_padding_the_blocks_shave_off():
    net = define_G("residual", n_blocks=2, width=4)
    table = layer_table(net, (1, 32, 32), all_layers=True)
    assert table.loc["encoder.0", "output (C x H x W)"] == "1 x 64 x 64"  # 32 + 2 * 8 * 2
    assert pd.isna(table.loc["encoder.0", "kernel"])  # padding: no kernel, field unchanged
    assert table.loc["encoder.0", "receptive field"] == 1
    assert table.loc["blocks.1.body.3", "output (C x H x W)"] == "16 x 8 x 8"  # 16 - 2 * 4
    assert table["output (C x H x W)"].iloc[-1] == "2 x 32 x 32"
    assert str(table["kernel"].dtype) == "Int64"
