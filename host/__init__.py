"""The host side of EAVS-TF: one driver for the board, the RTL simulation and
the golden model.

>>> import host
>>> with host.open_backend("golden") as be:          # or "board", "rtl", "serial"
...     be.load_model("model.qnet")
...     result = be.infer_batch(spikes)              # [B, T, N_in] 0/1

Every back-end presents :class:`host.backend.Backend`: ``load_model``,
``infer``, ``infer_batch``, ``encode_and_infer``; results are
:class:`host.results.BatchResult` / :class:`host.results.SampleResult`.
The board and RTL back-ends run the same :class:`host.driver.CoreDriver`
code; the golden back-end runs ``sw.golden`` and the cycle model.

This package imports numpy, pynq and the numpy-only ``sw`` / ``hw``
modules, never torch or amaranth (it runs on the board's ARM cores). Back-end
modules are imported on demand, so ``import host`` stays light and does not
need pynq unless the board back-end is opened.
"""

from __future__ import annotations

from typing import Any

from host.backend import Backend, HostError, NoModelError, SpikeShapeError
from host.results import BatchResult, SampleResult

__all__ = [
    "BACKENDS",
    "Backend",
    "BatchResult",
    "HostError",
    "NoModelError",
    "SampleResult",
    "SpikeShapeError",
    "open_backend",
]

#: The back-end kinds :func:`open_backend` knows.
BACKENDS = ("board", "rtl", "golden", "serial")


def open_backend(kind: str, **options: Any) -> Backend:
    """Open a back-end by name.

    Parameters
    ----------
    kind : {"board", "rtl", "golden", "serial"}
    **options
        ``board``: ``bitfile`` (default ``eavs.bit``), ``board`` (name in
        boards.toml, for the clock), ``timeout_s``, ``core_name``,
        ``dma_name`` (see :class:`host.board.BoardBackend`).
        ``rtl``: ``capacity``, ``simulator`` (``verilator``/``icarus``),
        ``build_dir``, ``timeout_s`` (see :class:`host.rtl.RtlBackend`).
        ``golden``: ``capacity``, ``board`` (capacity and clock from
        boards.toml), ``clock_hz``.
        ``serial``: ``port`` (pyserial URL: ``/dev/ttyUSB0``,
        ``socket://HOST:PORT``), ``board`` (default ``ulx3s-85f``: baud and
        clock), ``baud``, ``timeout_s``, ``link_timeout_s``, ``retries`` (see
        :class:`host.serial_backend.SerialBackend`).

    Returns
    -------
    Backend
        Use it as a context manager to release simulators and buffers.
    """
    if kind == "golden":
        from host.golden_backend import GoldenBackend

        board = options.pop("board", None)
        if board is not None:
            from hw.spec.boards import get_board

            b = get_board(board)
            options.setdefault("capacity", b.capacity)
            options.setdefault("clock_hz", b.clock_hz)
        return GoldenBackend(**options)
    if kind == "board":
        from host.board import BoardBackend

        return BoardBackend(**options)
    if kind == "rtl":
        from host.rtl import RtlBackend

        return RtlBackend(**options)
    if kind == "serial":
        from host.serial_backend import SerialBackend

        return SerialBackend(**options)
    raise ValueError(f"unknown back-end {kind!r}; choose one of {', '.join(BACKENDS)}")
