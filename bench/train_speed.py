"""Training steps per second: EAVS-TF (Brevitas QAT, integer-exact forward)
against the same network written in snnTorch (float ``nn.Linear`` +
``snn.Leaky`` / ``snn.RLeaky``), same batch, same device, same process.

Demo shape: 64 audio + 512 visual inputs, 64/64/64 hidden, 8 classes, T = 40,
batch 32, ~5% input spikes. CPU always; CUDA too when present. The baseline
does no quantization, no floor and no clamp, so it bounds what the QAT
emulation costs.
"""

from __future__ import annotations

import time

import numpy as np

from bench.common import Row, print_table

BATCH, T, A, V, H, C = 32, 40, 64, 512, 64, 8


def snntorch_net():
    import snntorch as snn
    import torch
    from torch import nn

    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.fa, self.fv = nn.Linear(A, H, bias=False), nn.Linear(V, H, bias=False)
            self.ff = nn.Linear(2 * H, H, bias=False)
            self.fo = nn.Linear(H, C, bias=False)
            self.la = snn.Leaky(beta=0.875)
            self.lv = snn.Leaky(beta=0.875)
            self.lf = snn.RLeaky(beta=0.875, linear_features=H, all_to_all=True)
            self.lo = snn.Leaky(beta=1.0, reset_mechanism="none")

        def forward(self, x):  # [B, T, N]
            ma, mv, mo = self.la.init_leaky(), self.lv.init_leaky(), self.lo.init_leaky()
            sf, mf = self.lf.init_rleaky()
            for t in range(x.shape[1]):
                sa, ma = self.la(self.fa(x[:, t, :A]), ma)
                sv, mv = self.lv(self.fv(x[:, t, A:]), mv)
                sf, mf = self.lf(self.ff(torch.cat([sa, sv], 1)), sf, mf)
                _, mo = self.lo(self.fo(sf), mo)
            return mo

    return Net()


def steps_per_second(model, forward, x, y, device, seconds: float = 8.0, min_steps: int = 3) -> float:
    import torch

    opt = torch.optim.Adam(model.parameters(), 1e-3)

    def step():
        loss = torch.nn.functional.cross_entropy(forward(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        if device.type == "cuda":
            torch.cuda.synchronize()

    step()  # warm-up
    n, t0 = 0, time.perf_counter()
    while n < min_steps or time.perf_counter() - t0 < seconds:
        step()
        n += 1
    return n / (time.perf_counter() - t0)


def main() -> list[Row]:
    import torch

    from sw.model import EAVSNet, ModelConfig

    torch.set_num_threads(1)  # one thread: stable figures when other processes share the cores
    rows = []
    devices = [torch.device("cpu")] + ([torch.device("cuda")] if torch.cuda.is_available() else [])
    rng = np.random.default_rng(0)
    x_np = (rng.random((BATCH, T, A + V)) < 0.05).astype(np.float32)
    y_np = rng.integers(0, C, BATCH)
    for dev in devices:
        torch.manual_seed(0)
        x, y = torch.from_numpy(x_np).to(dev), torch.from_numpy(y_np).to(dev)
        ours = EAVSNet(ModelConfig(audio_hidden=H, visual_hidden=H, fusion_hidden=H)).to(dev).train()
        base = snntorch_net().to(dev).train()
        s_ours = steps_per_second(ours, lambda xb: ours(xb)["logits"], x, y, dev)
        s_base = steps_per_second(base, base, x, y, dev)
        rows.append(Row("train_speed", f"EAVS-TF QAT training, batch {BATCH}, {dev.type}, 1 thread", s_ours, "steps/s", s_base,
                        "snnTorch float, same net", "report"))
    return rows


if __name__ == "__main__":
    print_table(main())
