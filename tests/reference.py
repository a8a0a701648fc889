"""A deliberately plain scalar reference of docs/design.md section 3.

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


def plain_margin(values):
    """The largest value minus the second largest (a tie gives 0; one value, 0)."""
    top = sorted(values, reverse=True)
    return top[0] - top[1] if len(top) > 1 else 0


def reference_exit(net, spikes):
    """The early-exit rule (issue 20) for ONE sample, scalar and plain.

    Re-runs the network one step longer each time (quadratic, but it uses
    only :func:`reference_run` and the rule's words): q_t is the readout
    membrane after step t, or its spike counts over steps 0..t; margin_t is
    the largest q minus the second largest (a tie gives 0); the sample exits
    at the first t >= min_step with margin_t >= margin, else T-1.

    Returns a dict: exit_step, prediction and readout membrane at the exit,
    counts over 0..exit, the counters over 0..exit (synaptic_ops, spikes per
    layer, input events, neuron updates), and q (the list of q_t).
    """
    T = net.timesteps
    last = net.layers[-1]
    trains, _, _ = reference_run(net, spikes)
    qs, membranes = [], []
    for t in range(T):
        short = _truncated(net, t + 1)
        _, mem_t, _ = reference_run(short, [spikes[s] for s in range(t + 1)])
        membranes.append(list(mem_t))
        if last.readout == "spikes":
            qs.append([sum(trains[last.name][s][j] for s in range(t + 1)) for j in range(last.n)])
        else:
            qs.append(list(mem_t))
    exit_step = T - 1
    rule = net.exit
    if rule is not None:
        for t in range(rule.min_step, T):
            if plain_margin(qs[t]) >= rule.margin:
                exit_step = t
                break
    q = qs[exit_step]
    best = 0
    for j in range(len(q)):
        if q[j] > q[best]:
            best = j
    offset, at = {}, 0
    for g in net.inputs:
        offset[g.name] = at
        at += g.size
    sops = 0
    for t in range(exit_step + 1):
        for layer in net.layers:
            for src in layer.sources:
                if src.name in offset:
                    n_ev = sum(int(spikes[t][offset[src.name] + i]) for i in range(net.source_size(src.name)))
                elif src.delay == 1:
                    n_ev = sum(trains[src.name][t - 1]) if t > 0 else 0
                else:
                    n_ev = sum(trains[src.name][t])
                sops += n_ev * layer.n
    return {
        "exit_step": exit_step,
        "prediction": best,
        "q": qs,
        "readout": membranes[exit_step],
        "counts": [sum(trains[last.name][s][j] for s in range(exit_step + 1)) for j in range(last.n)],
        "synaptic_ops": sops,
        "layer_spikes": [sum(sum(trains[layer.name][s]) for s in range(exit_step + 1)) for layer in net.layers],
        "input_spikes": sum(int(x) for s in range(exit_step + 1) for x in spikes[s]),
        "neuron_updates": (exit_step + 1) * sum(layer.n for layer in net.layers),
    }


def _truncated(net, steps):
    """The same network with T = ``steps`` and no exit rule (to read a membrane after a given step)."""
    import copy

    short = copy.copy(net)
    short.timesteps = steps
    short.exit = None
    return short
