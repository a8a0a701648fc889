"""The board back-end: ``eavs_core`` in a PYNQ overlay.

:class:`EavsCoreIP` is a ``pynq.DefaultIP`` bound to the core's VLNV, so
``pynq.Overlay("eavs.bit")`` hands back an instance of it for the core
(import this module before opening the overlay). :class:`BoardBackend`
opens the overlay, finds the core and its AXI DMA by type (no hierarchy
names are assumed), and runs :class:`host.driver.CoreDriver` on PYNQ's MMIO,
DMA and ``pynq.allocate``.

numpy + pynq only: this runs on the board's ARM cores.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

from pynq import DefaultIP

from host.backend import Backend
from host.driver import CoreDriver, NoCoreError, read_capacity, results_fields
from hw.spec import regmap
from hw.spec.capacity import Capacity

__all__ = ["EavsCoreIP", "BoardBackend", "find_core", "find_dma", "DMA_VLNV_PREFIX"]

#: AXI DMA IP type prefix (any version).
DMA_VLNV_PREFIX = "xilinx.com:ip:axi_dma:"


class EavsCoreIP(DefaultIP):
    """PYNQ driver of one ``eavs_core`` (registers only; streams go through a DMA).

    Attributes
    ----------
    capacity : Capacity
        What this bitstream holds, read back from the ``CAP_*`` registers.
    """

    bindto = [regmap.VLNV]

    def __init__(self, description: dict[str, Any]):
        super().__init__(description=description)
        self.description = description

    @property
    def capacity(self) -> Capacity:
        return read_capacity(self.mmio)

    def read_register(self, name: str) -> int:
        """Read a register of :mod:`hw.spec.regmap` by name."""
        return int(self.mmio.read(regmap.offset(name)))


def _ip_types(overlay) -> dict[str, str]:
    return {name: str(d.get("type", "")) for name, d in overlay.ip_dict.items()}


def _resolve(overlay, name: str):
    return functools.reduce(getattr, name.split("/"), overlay)


def find_core(overlay, where: str = "overlay"):
    """The one ``eavs_core`` of ``overlay`` (its :class:`EavsCoreIP`)."""
    types = _ip_types(overlay)
    cores = sorted(n for n, t in types.items() if t == regmap.VLNV)
    if not cores:
        raise NoCoreError(
            f"{where} holds no eavs_core (IP type {regmap.VLNV}); its IP: "
            + (", ".join(f"{n} ({t})" for n, t in sorted(types.items())) or "none")
        )
    if len(cores) > 1:
        raise NoCoreError(f"{where} holds {len(cores)} eavs_core instances {cores}; pass core_name=")
    return cores[0]


def find_dma(overlay, where: str = "overlay") -> str:
    """The name of the overlay's one AXI DMA."""
    types = _ip_types(overlay)
    dmas = sorted(n for n, t in types.items() if t.startswith(DMA_VLNV_PREFIX))
    if not dmas:
        raise NoCoreError(f"{where} has no AXI DMA ({DMA_VLNV_PREFIX}*) to stream events to eavs_core")
    if len(dmas) > 1:
        raise NoCoreError(f"{where} has {len(dmas)} AXI DMAs {dmas}; pass dma_name=")
    return dmas[0]


class BoardBackend(Backend):
    """Inference on the FPGA through PYNQ.

    Parameters
    ----------
    bitfile : path
        The overlay's ``.bit`` (its ``.hwh`` beside it), e.g. ``eavs.bit``.
    board : str, optional
        Name in ``boards.toml``: gives the core clock (for latency).
    overlay : pynq.Overlay, optional
        An overlay already open (then ``bitfile`` is not downloaded).
    core_name, dma_name : str, optional
        IP names, when the design holds more than one core or DMA.
    timeout_s : float
        Deadline of each wait on the core.
    download : bool
        Program the FPGA when opening ``bitfile`` (False: it already is).
    allocate : callable, optional
        Buffer allocator; ``pynq.allocate`` by default.
    """

    kind = "board"

    def __init__(
        self,
        bitfile: str | Path = "eavs.bit",
        *,
        board: str | None = None,
        overlay=None,
        core_name: str | None = None,
        dma_name: str | None = None,
        timeout_s: float = 10.0,
        download: bool = True,
        allocate=None,
    ):
        import pynq

        clock_hz = None
        if board is not None:
            from hw.spec.boards import get_board

            clock_hz = get_board(board).clock_hz
        if overlay is None:
            path = Path(bitfile)
            if not path.is_file():
                raise FileNotFoundError(f"bitstream {path} not found (copy eavs.bit and eavs.hwh to the board, see host/README.md)")
            overlay = pynq.Overlay(str(path), download=download)
        where = f"bitstream {bitfile}"
        self.overlay = overlay
        self.core_name = core_name or find_core(overlay, where)
        self.dma_name = dma_name or find_dma(overlay, where)
        self.core = _resolve(overlay, self.core_name)
        self.dma = _resolve(overlay, self.dma_name)
        self.driver = CoreDriver(self.core.mmio, self.dma, allocate or pynq.allocate, timeout_s=timeout_s)
        super().__init__(self.driver.capacity, clock_hz)

    def _load(self, net) -> None:
        self.driver.load_model(net)

    def _run_batch(self, spikes):
        return results_fields(self.driver.run(spikes))

