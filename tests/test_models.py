"""Shapes, exact parameter counts of the source configurations, and model-registry behaviour."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from torch import nn

from colorlib.models import (
    DISCRIMINATORS,
    GENERATORS,
    MODELS,
    CNNDiscriminator,
    ColorNet,
    MeanChromaRegressor,
    PatchDiscriminator,
    ResidualGenerator,
    ResNet18Discriminator,
    SelfAttention,
    UnetBlock,
    UnetGenerator,
    build_model,
    count_parameters,
    define_D,
    define_G,
    init_weights,
    model_spec,
)
from colorlib.models.labgan import RepeatedReflectionPad


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)


# ---------------------------------------------------------------- mean-chroma regressor


def test_regressor_source_parameter_count() -> None:
    # Conv(4x4) weights + biases, then BatchNorm (2 per channel), at the source's 128 input:
    #   1->32: 1*32*16+32 = 544          BN 64
    #  32->64: 32*64*16+64 = 32832       BN 128
    #  64->128: 64*128*16+128 = 131200   BN 256
    # 128->256: 128*256*16+256 = 524544  BN 512
    # 256->256: 256*256*16+256 = 1048832 BN 512
    # 256->512: 256*512*16+512 = 2097664 BN 1024
    # convs 3835616 + BN 2496 + Linear(512*2*2 -> 2) 2048*2+2 = 4098  ->  3842210
    assert count_parameters(MeanChromaRegressor(in_size=128)) == 3_842_210
    assert MeanChromaRegressor(in_size=128).head.in_features == 512 * 2 * 2


@pytest.mark.parametrize("size", [64, 128, 192])
def test_regressor_any_multiple_of_64(size: int) -> None:
    net = MeanChromaRegressor(in_size=size)
    assert net.head.in_features == 512 * (size // 64) ** 2
    out = net(torch.randn(3, 1, size, size) * 3)
    assert out.shape == (3, 2)
    assert out.min() >= 0 and out.max() <= 1


def test_regressor_rejects_bad_sizes() -> None:
    with pytest.raises(ValueError, match="in_size"):
        MeanChromaRegressor(in_size=96)
    with pytest.raises(ValueError, match="widths"):
        MeanChromaRegressor(widths=(32, 64))
    with pytest.raises(ValueError, match="expects"):
        MeanChromaRegressor(in_size=64)(torch.zeros(1, 1, 128, 128))


# ---------------------------------------------------------------- ColorNet


def test_colornet_source_parameter_count() -> None:
    # Down Conv(3x3): 1->8: 72+8 = 80, BN 16; 8->32: 2304+32 = 2336, BN 64;
    #                 32->128: 36864+128 = 36992, BN 256
    # Up ConvT(2x2): 128->32: 16384+32 = 16416, BN 64; 32->8: 1024+8 = 1032, BN 16;
    #                8->2: 64+2 = 66 (no BN on the output layer)
    # total 80+16+2336+64+36992+256+16416+64+1032+16+66 = 57338
    net = ColorNet()
    assert count_parameters(net) == 57_338
    assert isinstance(net.upsample[-1], nn.Sigmoid)
    assert isinstance(net.upsample[-2], nn.ConvTranspose2d)  # no BN/ReLU before the activation


@pytest.mark.parametrize("size", [32, 64])
def test_colornet_shapes_and_activations(size: int) -> None:
    x = torch.randn(2, 1, size, size)
    ranges = {"sigmoid": (0.0, 1.0), "tanh": (-1.0, 1.0), "relu": (0.0, None)}
    for activation, (low, high) in ranges.items():
        out = ColorNet(activation=activation)(x)
        assert out.shape == (2, 2, size, size)
        assert out.min() >= low
        if high is not None:
            assert out.max() <= high
    raw = ColorNet(activation="none")(x)
    assert raw.min() < 0 < raw.max()


def test_colornet_deeper_stack() -> None:
    net = ColorNet(widths=(8, 16, 32, 64, 128))
    assert net.depth == 5
    convs = [m for m in net.downsample if isinstance(m, nn.Conv2d)]
    ups = [m for m in net.upsample if isinstance(m, nn.ConvTranspose2d)]
    assert [c.out_channels for c in convs] == [8, 16, 32, 64, 128]
    assert [u.out_channels for u in ups] == [64, 32, 16, 8, 2]
    assert net(torch.randn(1, 1, 64, 64)).shape == (1, 2, 64, 64)
    with pytest.raises(ValueError, match="multiples of 32"):
        net(torch.randn(1, 1, 48, 48))


def test_colornet_rejects_unknown_activation() -> None:
    with pytest.raises(ValueError, match="activation"):
        ColorNet(activation="softmax")


# ---------------------------------------------------------------- Lab GAN


def test_residual_generator_source_parameter_count() -> None:
    # 9x9 1->32: 2592+32 = 2624, BN 64; 3x3 s2 32->64: 18432+64 = 18496, BN 128;
    # 3x3 s2 64->128: 73728+128 = 73856, BN 256;
    # per residual block 2*(147456+128) + 2*256 = 295680, x5 = 1478400;
    # ConvT 128->64: 73728+64 = 73792, BN 128; ConvT 64->32: 18432+32 = 18464, BN 64;
    # 9x9 32->2: 5184+2 = 5186  ->  1671458
    assert count_parameters(ResidualGenerator()) == 1_671_458


@pytest.mark.parametrize(("size", "n_blocks"), [(32, 5), (64, 5), (36, 2), (40, 0)])
def test_residual_generator_keeps_size(size: int, n_blocks: int) -> None:
    net = ResidualGenerator(n_blocks=n_blocks).eval()
    x = torch.randn(2, 1, size, size)
    with torch.no_grad():
        # the padding (8 px per block) is what the blocks shave at quarter resolution
        assert net.encoder(x).shape[-1] == size // 4 + 4 * n_blocks
        out = net(x)
    assert out.shape == (2, 2, size, size)
    assert out.abs().max() <= 1


def test_residual_generator_rejects_sizes_not_multiple_of_4() -> None:
    with pytest.raises(ValueError, match="multiples of 4"):
        ResidualGenerator()(torch.zeros(1, 1, 34, 34))


def test_repeated_reflection_pad() -> None:
    x = torch.randn(1, 2, 64, 64)
    # larger input than the pad: exactly the source's single reflection
    assert torch.equal(RepeatedReflectionPad(40)(x), nn.ReflectionPad2d(40)(x))
    small = torch.randn(1, 2, 32, 32)
    padded = RepeatedReflectionPad(40)(small)
    assert padded.shape == (1, 2, 112, 112)
    first = nn.ReflectionPad2d(31)(small)  # the first reflection sits in the middle
    assert torch.equal(padded[..., 9:-9, 9:-9], first)


def test_cnn_discriminator_parameter_counts() -> None:
    # Conv(4x4, no bias) + BN per strided layer, channels 64 * 2**i, then a 4x4 conv to 1:
    # 3->64 3072, 64->128 131072, 128->256 524288, 256->512 2097152, 512->1024 8388608,
    # 1024->2048 33554432; BN 2*(64+...+2048).
    # 128 (5 strided): 11144192 + 1024*16 + BN 3968 = 11164544
    # 256 (6 strided): 44695552 + 2048*16 + BN 8064 = 44739456
    assert count_parameters(CNNDiscriminator(image_size=128)) == 11_164_544
    net = CNNDiscriminator(image_size=256)
    assert count_parameters(net) == 44_739_456
    assert max(m.out_channels for m in net.modules() if isinstance(m, nn.Conv2d)) == 2048


@pytest.mark.parametrize("size", [32, 64])
def test_cnn_discriminator_output(size: int) -> None:
    net = CNNDiscriminator(image_size=size, ndf=8)
    x = torch.randn(8, 3, size, size) * 10
    out = net(x)
    assert out.shape == (8, 1)
    assert out.min() < 0 or out.max() > 1  # a logit: the sigmoid is for display only
    assert torch.allclose(net.probability(x), torch.sigmoid(out))
    with pytest.raises(ValueError, match="image_size"):
        net(torch.randn(2, 3, 2 * size, 2 * size))
    with pytest.raises(ValueError, match="power of two"):
        CNNDiscriminator(image_size=96)


def test_resnet18_discriminator() -> None:
    # torchvision resnet18 has 11689512 parameters, of which fc 512*1000+1000 = 513000;
    # with a 512 -> 1 head: 11176512 + 513 = 11177025
    assert count_parameters(ResNet18Discriminator(pretrained=False)) == 11_177_025
    net = ResNet18Discriminator(in_channels=1, pretrained=False).eval()
    assert net.net.conv1.in_channels == 1
    assert not net.imagenet and "random" in net.status
    x = torch.randn(8, 1, 32, 32) * 10
    out = net(x)
    assert out.shape == (8, 1)
    assert torch.allclose(net.probability(x), torch.sigmoid(out))


def test_resnet18_discriminator_starts_from_imagenet_weights_when_it_can(tmp_path, monkeypatch):
    import io
    import urllib.request

    import torchvision

    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    monkeypatch.delenv("COLORLIB_OFFLINE", raising=False)
    imagenet = torchvision.models.resnet18(weights=None).state_dict()
    served = io.BytesIO()
    torch.save(imagenet, served)
    payload = served.getvalue()
    entry = torchvision.models.ResNet18_Weights.IMAGENET1K_V1
    # The stub serves a file whose name promises another digest: rejected, random weights.
    monkeypatch.setattr(urllib.request, "urlopen", lambda *a, **k: io.BytesIO(payload))
    refused = ResNet18Discriminator(pretrained=None)
    assert not refused.imagenet and "does not start with" in refused.status
    with pytest.raises(RuntimeError, match="no ImageNet weights"):
        ResNet18Discriminator(pretrained=True)
    # Once in torch's cache (downloaded, or left there by torchvision), it is loaded.
    cached = tmp_path / "hub" / "checkpoints" / Path(entry.url).name
    cached.parent.mkdir(parents=True, exist_ok=True)
    torch.save(imagenet, cached)
    net = ResNet18Discriminator(in_channels=1)
    assert net.imagenet and "torch's cache" in net.status
    assert torch.equal(net.net.layer1[0].conv1.weight, imagenet["layer1.0.conv1.weight"])
    mean_rgb = imagenet["conv1.weight"].mean(1, keepdim=True)
    assert torch.allclose(net.net.conv1.weight, mean_rgb)


# ---------------------------------------------------------------- U-Net


def test_unet_256_bottleneck_is_1x1_and_count() -> None:
    net = UnetGenerator(1, 2, ngf=64, image_size=256).eval()
    assert net.n_down == 8
    # 8 ngf blocks: down 512*512*16 = 4194304, up 1024*512*16 = 8388608 (middle) or
    # 512*512*16 (innermost), BN 2*512 each side -> 12584960 per middle block, 8389632 innermost.
    # Outer levels: 64->128: 131072+256+262144+128 = 393600; 128->256: 1573632;
    # 256->512: 6292992. Outermost: 1*64*16 = 1024 and ConvT 128->2 with bias 4096+2 = 4098.
    # 1024+4098+393600+1573632+6292992+3*12584960+8389632 = 54409858
    # (pix2pix's 3->3 unet_256: +2048 in, +2049 out -> 54413955, printed as "54.414 M")
    assert count_parameters(net) == 54_409_858
    innermost = [m for m in net.modules() if isinstance(m, UnetBlock) and m.submodule is None]
    assert len(innermost) == 1
    seen: list[torch.Size] = []
    innermost[0].down.register_forward_hook(lambda mod, inp, out: seen.append(out.shape))
    with torch.no_grad():
        out = net(torch.randn(1, 1, 256, 256))
    assert seen == [torch.Size([1, 512, 1, 1])]
    assert out.shape == (1, 2, 256, 256)
    assert sum(isinstance(m, nn.Dropout) for m in net.modules()) == 3


def test_unet_128_ngf32_count() -> None:
    # n_down 7, levels ngf*(1,2,4,8,8,8,8) = 32,64,128,256,256,256,256:
    # outermost 512 + (64*2*16+2) = 2562; 32->64: 32768+128+65536+64 = 98496;
    # 64->128: 393600; 128->256: 1573632; two middle 256 blocks: 2*3146752 = 6293504;
    # innermost 256: 1048576+1048576+512 = 2097664  ->  10459458
    net = UnetGenerator(1, 2, ngf=32, image_size=128)
    assert net.n_down == 7
    assert count_parameters(net) == 10_459_458
    assert sum(isinstance(m, nn.Dropout) for m in net.modules()) == 2


@pytest.mark.parametrize("size", [32, 64])
def test_unet_small_sizes(size: int) -> None:
    net = UnetGenerator(1, 2, ngf=8, image_size=size)
    out = net(torch.randn(2, 1, size, size))
    assert out.shape == (2, 2, size, size)
    assert out.abs().max() <= 1
    assert not any(isinstance(m, nn.Dropout) for m in UnetGenerator(ngf=8, dropout=False).modules())
    with pytest.raises(ValueError, match="multiples"):
        net(torch.randn(1, 1, size + 8, size + 8))


def test_unet_instance_norm_rgb_variant() -> None:
    net = UnetGenerator(3, 3, ngf=8, norm="instance", image_size=64)
    assert not any(isinstance(m, nn.BatchNorm2d) for m in net.modules())
    assert any(isinstance(m, nn.InstanceNorm2d) for m in net.modules())
    # InstanceNorm is not affine, so the convolutions keep their bias
    assert all(m.bias is not None for m in net.modules() if isinstance(m, nn.Conv2d))
    out = net(torch.randn(2, 3, 64, 64))
    assert out.shape == (2, 3, 64, 64)
    with pytest.raises(ValueError, match="norm"):
        UnetGenerator(norm="group")


def test_unet_attention_placement_and_identity_at_init() -> None:
    net = UnetGenerator(1, 2, ngf=8, image_size=64, attention_at=16).eval()
    layers = [m for m in net.modules() if isinstance(m, SelfAttention)]
    assert len(layers) == 1
    sides: list[int] = []
    layers[0].register_forward_hook(lambda mod, inp, out: sides.append(inp[0].shape[-1]))
    plain = UnetGenerator(1, 2, ngf=8, image_size=64).eval()
    missing, unexpected = net.load_state_dict(plain.state_dict(), strict=False)
    assert not unexpected and all("attention" in key for key in missing)
    x = torch.randn(2, 1, 64, 64)
    with torch.no_grad():
        assert torch.allclose(net(x), plain(x), atol=1e-6)  # gamma = 0: identity
        assert sides == [16]
        layers[0].gamma.fill_(1.0)
        assert not torch.allclose(net(x), plain(x), atol=1e-4)


@pytest.mark.parametrize("side", [64, 24, 1, 0])
def test_unet_rejects_bad_attention_side(side: int) -> None:
    with pytest.raises(ValueError, match="attention_at"):
        UnetGenerator(ngf=8, image_size=64, attention_at=side)


# ---------------------------------------------------------------- self-attention


def test_self_attention_identity_at_init_and_map() -> None:
    layer = SelfAttention(16)
    assert layer.gamma.item() == 0.0
    x = torch.randn(2, 16, 4, 6)
    assert torch.equal(layer(x), x)
    assert layer.last_attention is None
    layer.keep_attention = True
    with torch.no_grad():
        layer.gamma.fill_(0.7)
    out = layer(x)
    assert not torch.allclose(out, x)
    attention = layer.last_attention
    assert attention is not None and attention.shape == (2, 24, 24)
    assert torch.allclose(attention.sum(-1), torch.ones(2, 24))
    out.sum().backward()
    assert layer.gamma.grad is not None and layer.gamma.grad.abs() > 0


# ---------------------------------------------------------------- PatchGAN


def test_patchgan_count_and_output_map() -> None:
    # 3->64 with bias: 3072+64 = 3136; 64->128: 131072, BN 256; 128->256: 524288, BN 512;
    # 256->512 (stride 1): 2097152, BN 1024; 512->1 with bias: 8192+1 = 8193  ->  2765633
    net = PatchDiscriminator(3, ndf=64)
    assert count_parameters(net) == 2_765_633
    assert net(torch.randn(1, 3, 64, 64)).shape == (1, 1, 6, 6)  # 64->32->16->8->7->6


def test_patchgan_receptive_field_is_70() -> None:
    net = PatchDiscriminator(3, ndf=8).eval()  # eval: BatchNorm must not mix positions
    x = torch.randn(1, 3, 128, 128, requires_grad=True)
    out = net(x)
    assert out.shape == (1, 1, 14, 14)
    out[0, 0, 7, 7].backward()
    rows, cols = torch.nonzero(x.grad.abs().sum(dim=(0, 1))).unbind(1)
    assert int(rows.max() - rows.min()) + 1 == 70
    assert int(cols.max() - cols.min()) + 1 == 70


def test_patchgan_instance_norm() -> None:
    net = PatchDiscriminator(6, ndf=8, norm="instance")
    assert not any(isinstance(m, nn.BatchNorm2d) for m in net.modules())
    assert all(m.bias is not None for m in net.modules() if isinstance(m, nn.Conv2d))
    assert net(torch.randn(2, 6, 32, 32)).shape == (2, 1, 2, 2)


# ---------------------------------------------------------------- registry and init

SMALL_KWARGS = {
    "regressor": {"in_size": 64, "widths": [4, 4, 8, 8, 8, 8]},
    "colornet": {"widths": [4, 8], "activation": "tanh"},
    "residual": {"n_blocks": 1, "width": 4},
    "unet": {"ngf": 4, "image_size": 32, "attention_at": 8, "norm": "instance"},
    "cnn": {"ndf": 4, "image_size": 32},
    "resnet18": {"in_channels": 3, "pretrained": False},
    "patchgan": {"in_channels": 3, "ndf": 4, "n_layers": 2},
}


def test_registry_covers_all_models() -> None:
    assert set(MODELS) == set(GENERATORS) | set(DISCRIMINATORS) == set(SMALL_KWARGS)


@pytest.mark.parametrize("name", sorted(SMALL_KWARGS))
def test_build_model_round_trip(name: str) -> None:
    net = build_model(name, SMALL_KWARGS[name])
    spec_name, kwargs = model_spec(net)
    assert spec_name == name
    kwargs = json.loads(json.dumps(kwargs))  # a checkpoint stores the kwargs as JSON
    rebuilt = build_model(spec_name, kwargs)
    assert {k: v.shape for k, v in rebuilt.state_dict().items()} == {
        k: v.shape for k, v in net.state_dict().items()
    }
    rebuilt.load_state_dict(net.state_dict())


def test_build_model_errors() -> None:
    with pytest.raises(ValueError, match="known models"):
        build_model("vgg", {})
    with pytest.raises(TypeError, match="colornet"):
        build_model("colornet", {"width": 3})
    with pytest.raises(ValueError, match="unknown generator"):
        define_G("patchgan")
    with pytest.raises(ValueError, match="unknown discriminator"):
        define_D("unet")
    with pytest.raises(ValueError, match="not a registered model"):
        model_spec(nn.Conv2d(1, 1, 1))


def _conv_weight_std(net: nn.Module) -> float:
    weights = [m.weight.flatten() for m in net.modules() if isinstance(m, nn.Conv2d)]
    return float(torch.cat(weights).detach().std())


def test_define_uses_source_initialisation() -> None:
    unet = define_G("unet", ngf=8, image_size=32)
    assert _conv_weight_std(unet) == pytest.approx(0.02, rel=0.05)
    patch = define_D("patchgan", ndf=8)
    assert _conv_weight_std(patch) == pytest.approx(0.02, rel=0.05)
    # the faces ColorNet keeps PyTorch's default init unless forced: uniform(+-1/sqrt(fan_in)),
    # std 1/sqrt(3 * 9) = 0.19 on the first 3x3 convolution
    first_std = float(define_G("colornet").downsample[0].weight.detach().std())
    assert first_std > 0.1
    forced = define_G("colornet", init=True)
    assert _conv_weight_std(forced) == pytest.approx(0.02, rel=0.1)
    unforced = define_G("unet", init=False, ngf=8, image_size=32)
    assert float(unforced.model.down[0].weight.detach().std()) > 0.1  # fan_in 16: std 0.14


def test_init_weights() -> None:
    net = UnetGenerator(ngf=8, image_size=64, attention_at=16)
    assert init_weights(net, gain=0.05) is net
    convs = [m for m in net.modules() if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d))]
    assert float(torch.cat([m.weight.detach().flatten() for m in convs]).std()) == pytest.approx(
        0.05, rel=0.05
    )
    assert all(m.bias is None or not m.bias.any() for m in convs)
    norms = [m for m in net.modules() if isinstance(m, nn.BatchNorm2d)]
    weights = torch.cat([m.weight.detach() for m in norms])
    assert float(weights.mean()) == pytest.approx(1.0, abs=0.02)
    assert 0.02 < float(weights.std()) < 0.08
    assert all(not m.bias.any() for m in norms)
    gammas = [m.gamma for m in net.modules() if isinstance(m, SelfAttention)]
    assert gammas and all(g.item() == 0.0 for g in gammas)


def test_count_parameters_trainable_only() -> None:
    net = ColorNet()
    net.downsample.requires_grad_(False)
    frozen = sum(p.numel() for p in net.downsample.parameters())
    assert count_parameters(net) == 57_338
    assert count_parameters(net, trainable_only=True) == 57_338 - frozen
