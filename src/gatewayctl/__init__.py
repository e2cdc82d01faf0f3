"""gatewayctl: lint, plan and run multi-channel gateway rollouts.

The pipeline is the architecture: source -> selectors -> validate -> compile
-> runtime, with diagnostics as the one currency every stage returns.
"""

__version__ = "0.1.0"
