"""``ControlRegisters``: the AXI4-Lite target of ``eavs_core``.

The register decoder is generated from :mod:`hw.spec.regmap`, the one declaration
of the map, so no offset is typed here. Registers fall into three kinds:

* **stored** (``rw``): ``CTRL`` and ``BATCH`` live here. A ``CTRL`` write
  produces its ``start``, ``soft_reset`` and ``clear_errors`` pulses and the
  ``start_mode`` bit combinationally, in the cycle of the write handshake,
  and latches ``mode``; a ``BATCH`` write latches ``batch``. A ``rw``
  register added to the map without storage here fails at elaboration.
* **live** (``ro``, see :func:`live_registers`): one ``In`` member each,
  named after the register in lower case, driven by the core through
  :meth:`ControlRegisters.drive`, which refuses a missing or unknown
  register, so a register added to the map without a source in the core
  fails at elaboration. A register with fields (``STATUS``, ``ERROR``,
  ``SAMPLE_ERRORS``) is an ``In`` of a :class:`~amaranth.lib.data.FlexibleLayout`
  that puts each field at its ``lsb``: the layout *is* the packing.
* **constant** (:data:`CONSTANT_REGISTERS`): ``ID``, ``VERSION`` and the
  ``CAP_*`` capacity registers read as :func:`hw.spec.regmap.reset_value`.

Unmapped offsets read as 0; writes to them and to read-only registers are
acknowledged and ignored.

Timing (cycle-exact with the decoder that was inline in ``hw.rtl.core``)
---------------------------------------------------------------------
Writes: address and data are accepted in the same handshake (``awready`` =
``wready`` = ``awvalid & wvalid & ~bvalid``), ``wstrb`` is ignored
(registers are written whole), ``bvalid`` rises the next cycle and stays
until ``bready``; no new write is accepted while it is up.

Reads take two cycles: the accept cycle registers the address (``pending``),
the next registers ``rdata`` and raises ``rvalid`` until ``rready``; no
new read is accepted while one is pending or valid. The ``READOUT`` window
is a memory in the core, read through ``readout_addr`` / ``readout_data``:
``readout_addr`` is the word index ``(araddr - READOUT) >> 2``, driven from
``araddr`` in the accept cycle and held from the registered address while
pending, so a synchronous read port's ``data`` is valid in the pending
cycle, where it is sampled (``readout_data``, already sign-extended to 32
bits by the core).
"""

from __future__ import annotations

from amaranth import Cat, Const, Module, Signal, Value, unsigned
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from hw.spec import regmap
from hw.rtl.axi import AXI4LiteSignature
from hw.spec.capacity import Capacity, require_capacity

__all__ = ["CONSTANT_REGISTERS", "STORED_REGISTERS", "ControlRegisters", "live_registers", "register_shape"]

#: Registers whose value is fixed by the bitstream: read as ``regmap.reset_value``.
CONSTANT_REGISTERS = frozenset({"ID", "VERSION"} | {r.name for r in regmap.CAPACITY_REGISTERS})
#: Read/write registers this component stores (any other ``rw`` register is an error).
STORED_REGISTERS = ("CTRL", "BATCH")


def live_registers() -> tuple[regmap.Register, ...]:
    """The read-only registers whose value comes from the core, in map order."""
    return tuple(r for r in regmap.REGISTERS if r.access == "ro" and r.name not in CONSTANT_REGISTERS)


def register_shape(reg: regmap.Register):
    """32 bits, with ``reg``'s fields named at their ``lsb`` if it has any."""
    if not reg.fields:
        return unsigned(32)
    return data.FlexibleLayout(32, {f.name: data.Field(unsigned(f.width), f.lsb) for f in reg.fields})


class ControlRegisters(wiring.Component):
    """AXI4-Lite control and status registers for one :class:`~hw.spec.capacity.Capacity`.

    Parameters
    ----------
    capacity : Capacity
        Sets the address width and the ``READOUT`` window's length.

    Members
    -------
    s_axil : In(AXI4LiteSignature(regmap.address_bits(capacity)))
        The bus.
    start, soft_reset, clear_errors, start_mode : Out(1)
        ``CTRL`` fields as written, high in the write-handshake cycle only
        (combinational); ``start_mode`` is ``CTRL.mode`` of that write.
    mode : Out(1)
        ``CTRL.mode`` as last written (reset 0).
    batch : Out(32)
        ``BATCH`` as last written (reset ``regmap`` ``BATCH.reset``).
    readout_addr : Out(address bits - 2)
        Word index into the ``READOUT`` window for the core's read port.
    readout_data : In(32)
        That port's data, sign-extended to 32 bits.
    <register> : In(register_shape(reg))
        One per :func:`live_registers` entry, named ``reg.name.lower()``.
    """

    def __init__(self, capacity: Capacity):
        require_capacity(self, capacity)
        self.capacity = capacity
        self.addr_bits = regmap.address_bits(capacity)
        members = {
            "s_axil": In(AXI4LiteSignature(self.addr_bits)),
            "start": Out(1),
            "soft_reset": Out(1),
            "clear_errors": Out(1),
            "start_mode": Out(1),
            "mode": Out(1),
            "batch": Out(32, init=regmap.register("BATCH").reset),
            "readout_addr": Out(self.addr_bits - 2),
            "readout_data": In(32),
        }
        for reg in live_registers():
            name = reg.name.lower()
            if name in members:
                raise AssertionError(f"register {reg.name} clashes with member {name!r} of ControlRegisters")
            members[name] = In(register_shape(reg))
        super().__init__(members)

    def drive(self, **values) -> list:
        """Statements that drive the live registers' inputs from the core.

        One keyword per :func:`live_registers` entry (lower-case name); a
        register with fields takes a dict ``{field: value}`` with every field.
        A missing or unknown register or field raises ``AssertionError``
        naming it, so the map and the core cannot drift apart silently.
        """
        names = {r.name.lower(): r for r in live_registers()}
        if set(values) != set(names):
            raise AssertionError(
                f"core drives registers {sorted(set(values) - set(names))} missing from hw.spec.regmap and lacks "
                f"{sorted(set(names) - set(values))}"
            )
        stmts = []
        for name, value in values.items():
            port = getattr(self, name)
            if not isinstance(value, dict):
                stmts.append(port.eq(value))
                continue
            want = {f.name for f in names[name].fields}
            if set(value) != want:
                raise AssertionError(f"register {names[name].name}: fields {sorted(value)} given, {sorted(want)} in hw.spec.regmap")
            stmts += [port[f].eq(v) for f, v in value.items()]
        return stmts

    def elaborate(self, platform):
        values = self._read_values()  # checks the map first
        m = Module()
        self._writes(m)
        self._reads(m, values)
        return m

    def _read_values(self) -> dict:
        """Register name -> the 32-bit value a read returns, for every register in the map."""
        ctrl_mode = regmap.field("CTRL", "mode")
        values = {"CTRL": Cat(Const(0, ctrl_mode.lsb), self.mode), "BATCH": self.batch}
        for reg in regmap.REGISTERS:
            if reg.access != "ro":
                if reg.name not in STORED_REGISTERS:
                    raise AssertionError(f"register {reg.name} ({reg.access}) has no storage in hw.rtl.csr")
            elif reg.name in CONSTANT_REGISTERS:
                values[reg.name] = Const(regmap.reset_value(reg, self.capacity), 32)
            else:
                values[reg.name] = Value.cast(getattr(self, reg.name.lower()))
        return values

    def _writes(self, m: Module) -> None:
        """Write channel: one handshake takes address and data; B follows."""
        axil = self.s_axil
        bvalid = Signal()
        wr_go = Signal()
        m.d.comb += [
            wr_go.eq(axil.awvalid & axil.wvalid & ~bvalid),
            axil.awready.eq(wr_go),
            axil.wready.eq(wr_go),
            axil.bvalid.eq(bvalid),
            axil.bresp.eq(0),
        ]
        with m.If(wr_go):
            m.d.sync += bvalid.eq(1)
        with m.Elif(axil.bready):
            m.d.sync += bvalid.eq(0)
        wa = axil.awaddr[2:]
        ctrl = regmap.register("CTRL")
        with m.If(wr_go & (wa == ctrl.offset // 4)):
            m.d.comb += [
                self.start.eq(axil.wdata[ctrl.field("start").lsb]),
                self.soft_reset.eq(axil.wdata[ctrl.field("soft_reset").lsb]),
                self.clear_errors.eq(axil.wdata[ctrl.field("clear_errors").lsb]),
                self.start_mode.eq(axil.wdata[ctrl.field("mode").lsb]),
            ]
            m.d.sync += self.mode.eq(axil.wdata[ctrl.field("mode").lsb])
        with m.If(wr_go & (wa == regmap.offset("BATCH") // 4)):
            m.d.sync += self.batch.eq(axil.wdata)

    def _reads(self, m: Module, values: dict) -> None:
        """Read channel: accept, then one cycle to look up (the window is a memory)."""
        axil = self.s_axil
        win = regmap.READOUT
        win_end = win.offset + 4 * win.length(self.capacity)
        r_pend = Signal()
        r_addr = Signal(self.addr_bits)
        rvalid = Signal()
        rdata = Signal(32)
        m.d.comb += [
            axil.arready.eq(~r_pend & ~rvalid),
            axil.rvalid.eq(rvalid),
            axil.rdata.eq(rdata),
            axil.rresp.eq(0),
            self.readout_addr.eq((axil.araddr - win.offset)[2:]),
        ]
        with m.If(axil.arvalid & ~r_pend & ~rvalid):
            m.d.sync += [r_pend.eq(1), r_addr.eq(axil.araddr)]
        with m.If(r_pend):
            m.d.sync += [r_pend.eq(0), rvalid.eq(1)]
            with m.If((r_addr >= win.offset) & (r_addr < win_end)):
                m.d.sync += rdata.eq(self.readout_data)
            with m.Else():
                with m.Switch(r_addr[2:]):
                    for reg in regmap.REGISTERS:
                        with m.Case(reg.offset // 4):
                            m.d.sync += rdata.eq(values[reg.name])
                    with m.Default():
                        m.d.sync += rdata.eq(0)
        with m.If(rvalid & axil.rready):
            m.d.sync += rvalid.eq(0)
        # the core's read port registers its address in the accept cycle;
        # hold it from r_addr while pending so its data stays the same word
        with m.If(r_pend):
            m.d.comb += self.readout_addr.eq((r_addr - win.offset)[2:])
