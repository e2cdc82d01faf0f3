"""Test-only helpers around the built-in fakes (``gatewayctl.fakes``):
``plans`` (plan and lane builders pointed at a fake, ``LaneThread``),
``handler_script`` (an exec handler) and ``handler_http`` (a url handler)."""
