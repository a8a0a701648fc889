"""Verification scenarios for ``eavs_core``: a plan plus its expected outcome.

A :class:`Scenario` records, for every action it adds to a :class:`sim.plan.Plan`,
what the core must answer (computed with :func:`sim.compare.expected` from
the golden model and the cycle model, or the error bits a fault must set).
After the simulation, :meth:`Scenario.verify` walks the record and returns
every mismatch as one line naming the action, the sample and the field.

The scenario builders below are shared by the tests, ``eavs sim`` and the
benchmark: :func:`random_models` (random models that fit a capacity and
together cover 4- and 8-bit weights, both resets and recurrence),
:func:`models_back_to_back` and :func:`faults`.

numpy only (no cocotb): the plan runs wherever :func:`sim.build.run_cocotb` runs it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from hw.spec import protocol, regmap
from hw.spec.capacity import Capacity
from sim.compare import compare_load, compare_registers, compare_results, expected
from sim.plan import Plan, Record
from sw.events import END_OF_STEP
from sw.qnet import InputGroup, Layer, QNet, Source
from sw.random_net import random_qnet, random_spikes

__all__ = ["Scenario", "test_capacity", "random_models", "models_back_to_back", "faults", "error_mask"]


def error_mask(*names: str) -> int:
    """The ERROR-register bits of the named causes (hw.spec.regmap.ERROR_BITS)."""
    by = {f.name: f for f in regmap.ERROR_BITS}
    out = 0
    for n in names:
        if n not in by:
            raise KeyError(f"no error cause {n!r}; causes: {sorted(by)}")
        out |= by[n].mask
    return out


def test_capacity(lanes: int = 8, **changes: int) -> Capacity:
    """A small capacity for simulation (fast builds), with ``lanes`` P."""
    base = dict(
        lanes=lanes,
        max_layers=4,
        max_neurons=32,
        max_sources=3,
        max_inputs=64,
        weight_depth=1024,
        weight_bits=8,
        v_bits=16,
        max_timesteps=16,
    )
    base.update(changes)
    return Capacity(**base)


test_capacity.__test__ = False  # not a pytest test


@dataclass
class Scenario:
    """A plan and the checks its record must pass.

    Parameters
    ----------
    capacity : Capacity
        The core the plan runs on (fixes P for the cycle model).
    seed, source_pause, sink_pause
        Passed to the :class:`Plan` (random idles and backpressure).
    """

    capacity: Capacity
    seed: int = 0
    source_pause: float = 0.2
    sink_pause: float = 0.2
    plan: Plan = field(init=False)
    checks: list[Callable[[Record], list[str]]] = field(default_factory=list, init=False)
    samples: int = field(default=0, init=False)
    n_checked: int = field(default=0, init=False)

    def __post_init__(self) -> None:
        self.plan = Plan(self.seed, self.source_pause, self.sink_pause)

    # -- actions ------------------------------------------------------------------

    def load(self, net: QNet | None, label: str, *, image: np.ndarray | None = None, expect_valid: bool = True,
             expect_errors: tuple[str, ...] = ()) -> None:
        """Load ``net`` (or a raw ``image``) and check validity, errors and model info."""
        img = protocol.pack_model(net, self.capacity) if image is None else image
        h = self.plan.load(img)

        def check(rec: Record) -> list[str]:
            if rec.timed_out(h.wait):
                return [f"{label}: the load never finished (STATUS 0x{rec[h.wait]['status']:x})"]
            return compare_load(rec.regs(h.regs), net, label, expect_valid, expect_errors)

        self.checks.append(check)

    def run(self, net: QNet, spikes: np.ndarray, label: str, *, packets: list[np.ndarray] | None = None,
            errors: list[str] | None = None, batch_errors: dict[int, tuple[str, ...]] | None = None,
            samples_known: bool = True) -> None:
        """Run ``spikes [B, T, N_in]`` as one batch; every record must equal the golden model.

        ``packets`` overrides the event packets (to inject faults; ``spikes``
        then are what the core must compute after dropping the bad words);
        ``batch_errors`` maps a sample to the error causes its record must carry.
        """
        spikes = np.asarray(spikes)
        if spikes.ndim == 2:
            spikes = spikes[None]
        exp = expected(net, spikes, self.capacity).results
        for b, causes in (batch_errors or {}).items():
            exp.errors[b] = error_mask(*causes)
        pk = protocol.event_packets(spikes) if packets is None else packets
        budget = 10_000 + 4 * int(exp.cycles.sum()) + 40 * sum(len(p) for p in pk)
        h = self.plan.run(pk, net.readout.n, batch=len(spikes), timeout=budget)
        before = self.samples if samples_known else None
        self.samples += len(spikes)

        def check(rec: Record) -> list[str]:
            out = []
            if rec.timed_out(h.wait):
                out.append(f"{label}: the batch never finished (STATUS 0x{rec[h.wait]['status']:x})")
            if rec.timed_out(h.recv):
                out.append(f"{label}: only {len(rec.frames(h))} of {h.n_samples} result records arrived")
            try:
                got = rec.results(h)
            except protocol.ProtocolError as e:
                return out + [f"{label}: bad result stream: {e}"]
            self.n_checked += len(got.prediction)
            out += compare_results(got, exp, label)
            readout = rec[h.readout]["values"] if h.readout is not None else None
            out += compare_registers(rec.regs(h.regs), exp, before, label, readout)
            return out

        self.checks.append(check)

    def check(self, fn: Callable[[Record], list[str]]) -> None:
        """Add a custom check on the record."""
        self.checks.append(fn)

    # -- verdict ------------------------------------------------------------------

    def verify(self, record: Record | dict) -> list[str]:
        """Every mismatch of ``record`` against this scenario's expectations."""
        rec = record if isinstance(record, Record) else Record.from_json(record)
        if len(rec.ops) != len(self.plan.ops):
            return [f"the simulation executed {len(rec.ops)} of {len(self.plan.ops)} plan operations"]
        out: list[str] = []
        for c in self.checks:
            out += c(rec)
        return out


# -- models ---------------------------------------------------------------------------


def _features(net: QNet) -> set[str]:
    f = {f"reset:{layer.reset}" for layer in net.layers if layer.spiking}
    if any(s.delay for layer in net.layers for s in layer.sources):
        f.add("recurrence")
    f |= {f"w{s.weight_bits}" for layer in net.layers for s in layer.sources}
    return f


def random_models(seed: int, capacity: Capacity, count: int, *, timesteps: int = 6,
                  max_neurons: int | None = None) -> list[QNet]:
    """``count`` random models that fit ``capacity``, alternating 4- and 8-bit
    weights, chosen so that together they cover both reset modes and
    recurrence (raises if the seed cannot, so coverage never silently shrinks).
    """
    rng = np.random.default_rng(seed)
    need = {"reset:zero", "reset:subtract", "recurrence", "w4", "w8"}
    nmax = max_neurons or min(capacity.max_neurons, 12 if capacity.lanes < 32 else 40)
    models: list[QNet] = []
    covered: set[str] = set()
    tries = 0
    while len(models) < count:
        tries += 1
        if tries > 400:
            raise RuntimeError(f"seed {seed}: no {count} fitting models covering {sorted(need)} in 400 tries")
        wb = 4 if len(models) % 2 == 0 else min(8, capacity.weight_bits)
        net = random_qnet(rng, max_inputs=min(capacity.max_inputs, 24), max_neurons=nmax,
                          max_hidden=min(2, capacity.max_layers - 1), max_sources=capacity.max_sources,
                          weight_bits=wb, v_bits=int(rng.choice([8, 12, min(16, capacity.v_bits)])),
                          timesteps=timesteps)
        if capacity.problems(net) or len(net.inputs) > capacity.max_sources:
            continue
        feats = _features(net)
        remaining = count - len(models)
        if remaining <= len(need - covered) and not (feats & (need - covered)):
            continue  # the last slots must add coverage
        models.append(net)
        covered |= feats
    if count >= 3 and not need <= covered:
        raise RuntimeError(f"seed {seed}: models cover {sorted(covered)}, missing {sorted(need - covered)}")
    return models


def models_back_to_back(scn: Scenario, models: list[QNet], seed: int, batch: int = 3, label: str = "model") -> None:
    """For each model: load it, then run ``batch`` samples back to back (a new
    model is loaded between batches, so loading over a used core is covered)."""
    rng = np.random.default_rng(seed)
    for k, net in enumerate(models):
        scn.load(net, f"{label} {k} load")
        scn.run(net, random_spikes(rng, net, batch), f"{label} {k} run")


def _one_layer_net(n_in: int, n: int, timesteps: int, rng: np.random.Generator) -> QNet:
    """A small two-layer model for the fault scenarios."""
    w1 = rng.integers(-7, 8, size=(n_in, n)).astype(np.int16)
    w2 = rng.integers(-7, 8, size=(n, 3)).astype(np.int16)
    return QNet(
        classes=["a", "b", "c"],
        timesteps=timesteps,
        inputs=[InputGroup("in", n_in)],
        layers=[
            Layer("h", n, [Source("in", w1, 4)], threshold=6, leak_shift=2, reset="subtract", v_bits=12),
            Layer("out", 3, [Source("h", w2, 4)], threshold=1, leak_shift=0, reset="zero", v_bits=12, spiking=False),
        ],
    ).validate()


def _fault_no_model(scn: Scenario, net: QNet, good: Callable[..., np.ndarray], rng: np.random.Generator) -> None:
    """A run before any model: nothing runs, no_model is raised."""
    p = scn.plan
    p.add("ctrl", clear_errors=1)
    p.add("write", reg="BATCH", value=1)
    p.add("ctrl", start=1, mode=regmap.MODE_RUN)
    w = p.add("wait_done", timeout=2000)
    r = p.read("ERROR", "STATUS")

    def no_model(rec: Record, r=r, w=w) -> list[str]:
        errs = regmap.decode_errors(rec.regs(r)["ERROR"])
        return [] if errs == ["no_model"] and not rec.timed_out(w) else [f"run without a model: ERROR {errs}, expected ['no_model']"]

    scn.check(no_model)


def _fault_over_capacity(scn: Scenario, net: QNet, good: Callable[..., np.ndarray], rng: np.random.Generator) -> None:
    """Over capacity: the image of a model with more neurons than max_neurons."""
    cap = scn.capacity
    big = _one_layer_net(10, cap.max_neurons + 1, 5, rng)
    scn.load(big, "over-capacity load", image=protocol.pack_model(big, cap, check=False), expect_valid=False,
             expect_errors=("over_capacity",))
    scn.load(net, "load after the rejected model")
    scn.run(net, good(2), "first samples after the rejected model")


def _fault_event_index(scn: Scenario, net: QNet, good: Callable[..., np.ndarray], rng: np.random.Generator) -> None:
    """Event index out of range (dropped, flagged), then an exact sample."""
    s = good(1)
    words = list(protocol.event_packets(s)[0])
    words.insert(1, net.n_inputs + 3)
    s2 = good(1)
    scn.run(net, np.concatenate([s, s2]), "out-of-range event index",
            packets=[np.array(words, np.uint32), protocol.event_packets(s2)[0]],
            batch_errors={0: ("event_index",)})


def _fault_extra_events(scn: Scenario, net: QNet, good: Callable[..., np.ndarray], rng: np.random.Generator) -> None:
    """Words after the T-th marker of a batch's last sample (dropped, flagged), then a batch that must be
    exact. (Inside a batch, words after a sample's T-th marker are the next sample's: hw.spec.protocol,
    "Mode selection".)
    """
    s = good(1)
    extra = np.concatenate([protocol.event_packets(s)[0], np.array([1, END_OF_STEP, 2], np.uint32)])
    scn.run(net, s, "events after the T-th marker", packets=[extra], batch_errors={0: ("extra_events",)})
    scn.run(net, good(2), "samples after extra events")


def _fault_batch_in_one_packet(scn: Scenario, net: QNet, good: Callable[..., np.ndarray], rng: np.random.Generator) -> None:
    """A whole batch in one packet (TLAST only on the last sample's T-th marker)."""
    s = good(3)
    scn.run(net, s, "batch in one packet", packets=[np.concatenate(protocol.event_packets(s))])


def _fault_start_busy(scn: Scenario, net: QNet, good: Callable[..., np.ndarray], rng: np.random.Generator) -> None:
    """Start while busy: ignored, flagged in the running sample and ERROR."""
    p = scn.plan
    cap = scn.capacity
    s = good(1)
    p.add("ctrl", clear_errors=1)
    p.add("write", reg="BATCH", value=1)
    p.add("ctrl", start=1, mode=regmap.MODE_RUN)
    st = p.read("STATUS")
    p.add("ctrl", start=1, mode=regmap.MODE_RUN)
    p.add("send", words=[int(x) for x in protocol.event_packets(s)[0]], wait=False)
    w = p.add("wait_done", timeout=50_000)
    rv = p.add("recv", frames=1, timeout=5000)
    r = p.read("ERROR")
    exp = expected(net, s, cap).results
    exp.errors[0] = error_mask("start_busy")
    scn.samples += 1

    def start_busy(rec: Record, st=st, w=w, rv=rv, r=r, exp=exp) -> list[str]:
        out = []
        if not regmap.field("STATUS", "busy").get(rec.regs(st)["STATUS"]):
            out.append("start while busy: the core was not busy after the first start")
        if rec.timed_out(w) or rec.timed_out(rv):
            return out + ["start while busy: the sample never finished"]
        words = [x for f in rec[rv]["frames"] for x in f]
        out += compare_results(protocol.decode_results(np.array(words, np.uint32), net.readout.n), exp, "start while busy")
        if regmap.decode_errors(rec.regs(r)["ERROR"]) != ["start_busy"]:
            out.append(f"start while busy: ERROR {regmap.decode_errors(rec.regs(r)['ERROR'])}, expected ['start_busy']")
        return out

    scn.check(start_busy)
    scn.run(net, good(1), "sample after start while busy")


def _fault_soft_reset(scn: Scenario, net: QNet, good: Callable[..., np.ndarray], rng: np.random.Generator) -> None:
    """Soft reset in the middle of a sample: no record, model kept, next sample exact. The last step is
    made heavy (every input spikes) and the reset is written as soon as the core has taken the last
    event word, while it computes.
    """
    p = scn.plan
    s = good(1)
    s[0, -1, :] = 1
    p.add("ctrl", clear_errors=1)
    p.add("write", reg="BATCH", value=1)
    p.add("ctrl", start=1, mode=regmap.MODE_RUN)
    p.add("send", words=[int(x) for x in protocol.event_packets(s)[0]], wait=False)
    p.add("wait_idle", timeout=50_000)
    busy = p.read("STATUS")
    p.add("ctrl", soft_reset=1)
    after = p.read("STATUS")
    dr = p.add("drain", cycles=300)

    def soft_reset(rec: Record, busy=busy, after=after, dr=dr) -> list[str]:
        out = []
        if not regmap.field("STATUS", "busy").get(rec.regs(busy)["STATUS"]):
            out.append("soft reset: the core was not busy in the middle of the sample")
        fa = regmap.decode_fields("STATUS", rec.regs(after)["STATUS"])
        if fa["busy"] or not fa["model_valid"]:
            out.append(f"soft reset: STATUS after it {fa}, expected idle with the model kept")
        if rec[dr]["frames"]:
            out.append(f"soft reset: {len(rec[dr]['frames'])} result record(s) of the aborted sample arrived")
        return out

    scn.check(soft_reset)
    scn.run(net, good(2), "samples after a soft reset mid-sample", samples_known=False)


def _fault_hard_reset(scn: Scenario, net: QNet, good: Callable[..., np.ndarray], rng: np.random.Generator) -> None:
    """Hard reset (rst) in the middle of a sample: the model is gone; reload, exact again."""
    p = scn.plan
    s = good(1)
    p.add("ctrl", clear_errors=1)
    p.add("write", reg="BATCH", value=1)
    p.add("ctrl", start=1, mode=regmap.MODE_RUN)
    p.add("send", words=[int(x) for x in protocol.event_packets(s)[0]], wait=False)
    p.add("cycles", n=60)
    p.add("reset", cycles=3)
    after_hard = p.read("STATUS", "ERROR", "SAMPLES")

    def hard_reset(rec: Record, after_hard=after_hard) -> list[str]:
        v = rec.regs(after_hard)
        fa = regmap.decode_fields("STATUS", v["STATUS"])
        if fa["busy"] or fa["model_valid"] or v["ERROR"] or v["SAMPLES"]:
            return [f"hard reset: STATUS {fa}, ERROR {v['ERROR']}, SAMPLES {v['SAMPLES']}; expected all cleared"]
        return []

    scn.check(hard_reset)
    scn.samples = 0
    scn.load(net, "load after a hard reset")
    scn.run(net, good(2), "samples after a hard reset mid-sample")


def _fault_backpressure(scn: Scenario, net: QNet, good: Callable[..., np.ndarray], rng: np.random.Generator) -> None:
    """Abrupt total backpressure on the output while records are due, then release."""
    p = scn.plan
    cap = scn.capacity
    s = good(3)
    p.add("pauses", source=scn.source_pause, sink=1.0)
    p.add("ctrl", clear_errors=1)
    p.add("write", reg="BATCH", value=3)
    p.add("ctrl", start=1, mode=regmap.MODE_RUN)
    for pk in protocol.event_packets(s):
        p.add("send", words=[int(x) for x in pk], wait=False)
    p.add("cycles", n=3000)
    stuck = p.read("STATUS")
    p.add("pauses", source=scn.source_pause, sink=scn.sink_pause)
    w = p.add("wait_done", timeout=100_000)
    rv = p.add("recv", frames=3, timeout=5000)
    exp_bp = expected(net, s, cap).results
    scn.samples += 3

    def backpressure(rec: Record, stuck=stuck, w=w, rv=rv, exp_bp=exp_bp) -> list[str]:
        out = []
        if not regmap.field("STATUS", "busy").get(rec.regs(stuck)["STATUS"]):
            out.append("backpressure: the core finished although its output was blocked")
        if rec.timed_out(w) or rec.timed_out(rv):
            return out + ["backpressure: the batch did not finish after the output was released"]
        words = [x for f in rec[rv]["frames"] for x in f]
        return out + compare_results(protocol.decode_results(np.array(words, np.uint32), net.readout.n), exp_bp,
                                     "after total backpressure")

    scn.check(backpressure)
    scn.run(net, good(1), "sample after backpressure")


#: The fault scenarios in the order :func:`faults` plans them (each draws from the same random stream).
FAULTS = (
    _fault_no_model,
    _fault_over_capacity,
    _fault_event_index,
    _fault_extra_events,
    _fault_batch_in_one_packet,
    _fault_start_busy,
    _fault_soft_reset,
    _fault_hard_reset,
    _fault_backpressure,
)


def faults(scn: Scenario, seed: int) -> None:
    """The fault scenarios, each followed by a sample that must be exact again.

    Out-of-range event index; words after the T-th marker; a model over
    capacity; a run without a model; a start while busy; a soft reset and a
    hard reset in the middle of a sample; abrupt, total backpressure on the
    output; a whole batch in one packet (one TLAST).
    """
    rng = np.random.default_rng(seed)
    cap = scn.capacity
    net = _one_layer_net(10, min(cap.max_neurons, 2 * cap.lanes + 3), 5, rng)
    good = lambda b=1: random_spikes(rng, net, b, rate=0.35)  # noqa: E731
    for fault in FAULTS:
        fault(scn, net, good, rng)


def exit_pairs(seed: int, capacity: Capacity, count: int, batch: int = 3, timesteps: int = 6) -> list[tuple[QNet, np.ndarray]]:
    """``count`` (model, spikes) pairs whose models carry an early-exit rule
    (membrane and spike-count readouts alternate), chosen so that together
    their samples both exit before T-1 and run to it (raises if the seed
    cannot, so the exit path is never silently untested)."""
    from sw.golden import run as golden_run  # noqa: PLC0415

    rng = np.random.default_rng(seed)
    out: list[tuple[QNet, np.ndarray]] = []
    early = full = 0
    for _ in range(400):
        if len(out) == count:
            break
        net = random_qnet(rng, max_inputs=min(capacity.max_inputs, 24), max_neurons=min(capacity.max_neurons, 12),
                          max_hidden=min(2, capacity.max_layers - 1), max_sources=capacity.max_sources,
                          v_bits=min(12, capacity.v_bits), timesteps=timesteps, early_exit=True,
                          readout="spikes" if len(out) % 2 else "membrane")  # fmt: skip
        if capacity.problems(net) or len(net.inputs) > capacity.max_sources:
            continue
        spikes = random_spikes(rng, net, batch, rate=0.3)
        ex = golden_run(net, spikes).exit_step
        if len(out) == count - 1 and (early == 0 or full == 0) and not ((ex < timesteps - 1).any() if early == 0 else (ex == timesteps - 1).any()):
            continue
        early += int((ex < timesteps - 1).sum())
        full += int((ex == timesteps - 1).sum())
        out.append((net, spikes))
    if len(out) < count or not (early and full):
        raise RuntimeError(f"seed {seed}: no {count} exit models with early ({early}) and full ({full}) samples")
    return out
