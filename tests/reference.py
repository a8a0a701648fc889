"""A deliberately plain scalar reference of DESIGN.md section 3.

Python integers, one neuron and one spike at a time, written line by line
from the equations and nothing else, so that the vectorised golden model in
``sw.golden`` can be checked against something whose correctness is evident
by reading it. It is slow on purpose; never use it outside tests.
"""

from __future__ import annotations


def reference_run(net, spikes, shift_form=False):
    """``spikes``: nested lists / array ``[T][N_in]`` of 0/1 for ONE sample.

    ``shift_form=True`` evaluates the version 1 equation instead, the leak
    ``v - (v >> k)`` with the layer's ``leak_shift`` k, to prove that the
    decay ``4096 >> k`` keeps every shift model's integers.

    Returns (spike trains {layer: [T][n]}, final readout membrane list, prediction).
    The prediction is the argmax of the last layer's membrane, or of its spike
    counts when its ``readout`` is ``"spikes"``; the lowest index wins ties.
    """
    T = net.timesteps
    offset = {}
    at = 0
    for g in net.inputs:
        offset[g.name] = at
        at += g.size
    v = {layer.name: [0] * layer.n for layer in net.layers}
    prev = {layer.name: [0] * layer.n for layer in net.layers}
    trains = {layer.name: [] for layer in net.layers}
    for t in range(T):
        now = {}
        for g in net.inputs:
            now[g.name] = [int(spikes[t][offset[g.name] + i]) for i in range(g.size)]
        for layer in net.layers:
            lo = -(2 ** (layer.v_bits - 1))
            hi = 2 ** (layer.v_bits - 1) - 1
            out = [0] * layer.n
            for j in range(layer.n):
                current = 0 if layer.bias is None else int(layer.bias[j])
                for src in layer.sources:
                    s = prev[src.name] if src.delay == 1 else now[src.name]
                    for i in range(len(s)):
                        if s[i]:
                            current += int(src.weight[i][j])
                old = v[layer.name][j]
                if shift_form:
                    leak = 0 if layer.leak_shift == 0 else old // (2 ** layer.leak_shift)
                else:
                    d = int(layer.decay[j])
                    leak = (old * d) // 4096  # Python ints: exact product, floor division == arithmetic shift
                new = old - leak + current
                if new < lo:
                    new = lo
                if new > hi:
                    new = hi
                spike = 1 if (layer.spiking and new >= layer.threshold) else 0
                if spike:
                    if layer.reset == "zero":
                        new = 0
                    else:
                        new = new - layer.threshold
                v[layer.name][j] = new
                out[j] = spike
            now[layer.name] = out
            trains[layer.name].append(out)
        for layer in net.layers:
            prev[layer.name] = now[layer.name]
    last = net.layers[-1]
    readout = v[last.name]
    if last.readout == "spikes":
        score = [sum(trains[last.name][t][j] for t in range(T)) for j in range(last.n)]
    else:
        score = readout
    best = 0
    for j in range(len(score)):
        if score[j] > score[best]:
            best = j
    return trains, readout, best
