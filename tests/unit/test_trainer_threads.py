"""On a CPU, training gives the network the cores its loading processes leave."""

import torch

from stmanet.engine import batch, trainer


def test_the_network_gets_the_cores_the_loaders_leave(monkeypatch):
    before = torch.get_num_threads()
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.setattr(batch, "available_cores", lambda: 4)
    try:
        assert trainer.cpu_threads(torch.device("cpu"), workers=1) == 3
        assert torch.get_num_threads() == 3
        assert trainer.cpu_threads(torch.device("cpu"), workers=6) == 1
        assert trainer.cpu_threads(torch.device("cpu"), workers=0) == 4
        # the user's OMP_NUM_THREADS, a GPU and distributed runs are left alone
        assert trainer.cpu_threads(torch.device("cpu"), workers=1, world_size=2) is None
        assert trainer.cpu_threads(torch.device("cuda"), workers=1) is None
        monkeypatch.setenv("OMP_NUM_THREADS", "2")
        assert trainer.cpu_threads(torch.device("cpu"), workers=1) is None
    finally:
        torch.set_num_threads(before)
