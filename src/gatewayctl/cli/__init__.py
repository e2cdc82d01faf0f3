"""The command line: click commands that fill settings and call one orchestrator.

Exit codes are decided here and only here (cli/exitcodes.py). Commands are
loaded lazily so `gatewayctl check` never pays for the runtime's imports.
"""
