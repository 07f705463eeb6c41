"""Scale out on Dask: many files and long videos across worker processes or machines.

Only this package imports ``dask``/``distributed``, and only when a run asks
for workers, so ``veil mask`` without ``--workers``/``--scheduler`` pays
nothing for it. See :mod:`veil.scale.run` (the client side),
:mod:`veil.scale.worker` (tasks), :mod:`veil.scale.segments` (video cut and
join) and :mod:`veil.scale.manifest` (resume).
"""
