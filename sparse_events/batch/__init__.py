"""Many records at once: joblib locally, Dask distributed on a cluster.

Point :func:`run_batch` at a real cluster by passing a client::

    from dask.distributed import Client
    client = Client("tcp://scheduler-host:8786")   # sparse-events installed on workers
    results = run_batch(detect_record, paths, client=client)
"""

from ._batch import BatchItem, run_batch

__all__ = ["BatchItem", "run_batch"]
