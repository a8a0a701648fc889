"""The hardware contract: pure Python, imported by the gateware, the flows, the simulators and the host (it runs on the board)."""
