"""Samples per second of the golden model against the same network in snnTorch.

Demo-sized network (576 inputs: 64 audio + 512 visual, hidden layers of 128,
8 outputs, T = 40, ~10% input spikes), batch 64, CPU. The baseline is the
same weights run as a float snnTorch model (``snn.Leaky`` neurons, subtract
reset) in the same process. Goal: golden >= 10x snnTorch.
"""

from __future__ import annotations

import numpy as np

from bench.common import Row, best_time, print_table
from sw import golden
from sw.random_net import demo_shaped_qnet

BATCH = 64


def snntorch_equivalent(net):
    """The demo-shaped ``net`` as a float snnTorch model (same weights, same wiring)."""
    import snntorch as snn
    import torch

    layers = {layer.name: layer for layer in net.layers}

    class Model(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = torch.nn.ModuleDict()
            self.lif = torch.nn.ModuleDict()
            for layer in net.layers:
                for s in layer.sources:
                    fc = torch.nn.Linear(s.weight.shape[0], layer.n, bias=False)
                    fc.weight.data = torch.tensor(s.weight.T, dtype=torch.float32)
                    self.fc[f"{layer.name}__{s.name}"] = fc
                beta = 1.0 - 2.0 ** -layer.leak_shift if layer.leak_shift else 1.0
                self.lif[layer.name] = snn.Leaky(
                    beta=beta,
                    threshold=float(layer.threshold),
                    reset_mechanism="subtract" if layer.spiking else "none",
                )

        def forward(self, x):  # x: [T, B, N_in]
            T, B, _ = x.shape
            groups = {"audio": x[..., :64], "visual": x[..., 64:]}
            mem = {name: torch.zeros(B, layers[name].n) for name in layers}
            prev = {name: torch.zeros(B, layers[name].n) for name in layers}
            for t in range(T):
                now = {g: v[t] for g, v in groups.items()}
                for layer in net.layers:
                    cur = sum(
                        self.fc[f"{layer.name}__{s.name}"](prev[s.name] if s.delay else now[s.name])
                        for s in layer.sources
                    )
                    spk, mem[layer.name] = self.lif[layer.name](cur, mem[layer.name])
                    now[layer.name] = spk
                prev = {name: now[name] for name in layers}
            return mem[net.layers[-1].name]

    return Model().eval()


def main() -> list[Row]:
    import torch

    rng = np.random.default_rng(0)
    net = demo_shaped_qnet(rng)
    x = (rng.random((BATCH, net.timesteps, net.n_inputs)) < 0.1).astype(np.uint8)
    model = snntorch_equivalent(net)
    xt = torch.tensor(x.transpose(1, 0, 2), dtype=torch.float32)

    t_golden = best_time(lambda: golden.run(net, x))
    with torch.no_grad():
        t_snn = best_time(lambda: model(xt))
    golden_sps, snn_sps = BATCH / t_golden, BATCH / t_snn
    rows = [
        Row("golden_speed", "golden model, batch 64", golden_sps, "samples/s", snn_sps, "snnTorch float", ">= 10x"),
    ]
    return rows


if __name__ == "__main__":
    print_table(main())
