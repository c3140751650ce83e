"""DEVICE / --device: what is accepted, and a GPU that is asked for but absent is an error."""

from __future__ import annotations

import pytest
import torch

from colorlib import devices
from colorlib.devices import pick_device
from colorlib.errors import UserError


@pytest.fixture()
def gpus(monkeypatch):
    """Pretend PyTorch sees `n` CUDA GPUs (0: none), whatever this machine has."""

    def set_count(n: int, cuda_build: str | None = "12.4") -> None:
        monkeypatch.setattr(torch.cuda, "is_available", lambda: n > 0)
        monkeypatch.setattr(torch.cuda, "device_count", lambda: n)
        monkeypatch.setattr(torch.version, "cuda", cuda_build)

    return set_count


def test_default_is_cuda_when_present_else_cpu(gpus):
    gpus(0)
    assert pick_device() == torch.device("cpu")
    assert pick_device("") == torch.device("cpu")
    gpus(1)
    assert pick_device(None) == torch.device("cuda")
    assert pick_device("  ") == torch.device("cuda")


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("cpu", torch.device("cpu")),
        ("CPU", torch.device("cpu")),
        ("cuda", torch.device("cuda")),
        ("cuda:0", torch.device("cuda", 0)),
        ("cuda:1", torch.device("cuda", 1)),
    ],
)
def test_accepted_names(gpus, name, expected):
    gpus(2)
    assert pick_device(name) == expected


@pytest.mark.parametrize("name", ["cuda", "cuda:0"])
@pytest.mark.parametrize(
    ("build", "words"),
    [("12.4", "built for CUDA 12.4"), (None, "CPU-only build")],
)
def test_cuda_without_a_gpu_is_an_error_not_a_silent_cpu_run(gpus, name, build, words):
    gpus(0, cuda_build=build)
    with pytest.raises(UserError) as info:
        pick_device(name)
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(f"DEVICE/--device '{name}' was asked for")
    assert "PyTorch sees no CUDA GPU" in message and words in message
    assert "silently" in message and "CPU" in message
    assert f"torch {torch.__version__}" in message


def test_a_gpu_index_out_of_range(gpus):
    gpus(2)
    with pytest.raises(UserError, match=r"'cuda:2' .* sees 2 CUDA GPU\(s\) \(cuda:0, cuda:1\)"):
        pick_device("cuda:2")


@pytest.mark.parametrize("name", ["gpu", "cuda:x", "cuda:-1", "cuda:", "tpu", "cuda0"])
def test_unknown_names_list_the_accepted_ones(gpus, name):
    gpus(1)
    with pytest.raises(UserError) as info:
        pick_device(name)
    message = str(info.value)
    assert "\n" not in message
    assert f"{name!r} is not a device this accepts" in message
    assert devices.ACCEPTED in message


def test_mps_when_absent(monkeypatch):
    monkeypatch.setattr(devices, "_mps_available", lambda: False)
    with pytest.raises(UserError, match="no Apple GPU"):
        pick_device("mps")
    monkeypatch.setattr(devices, "_mps_available", lambda: True)
    assert pick_device("mps") == torch.device("mps")
