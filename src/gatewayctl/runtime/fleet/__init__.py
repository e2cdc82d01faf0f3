"""The fleet: lanes claimed fleet-wide under a coordination service's leases.

Owns the lease-holding side of issue 16: ``etcd`` (a thin, synchronous
client of etcd's v3 JSON gateway on httpx; lane workers import it, so it
imports only the standard library and, lazily, httpx) and ``backend`` (the
``Backend`` interface the owner drives, with ``LocalBackend`` for plans
without a ``[fleet]`` table and ``EtcdBackend`` for the rest).

Like the rest of ``gatewayctl.runtime`` it never imports source, selectors,
validate, pipeline, report or cli (import-linter enforces it). This
``__init__`` imports nothing, so ``import gatewayctl.runtime.fleet.etcd``
stays as light as the module itself.
"""
