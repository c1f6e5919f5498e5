"""Executors: how chunks of work are spread, in process or on a Dask cluster.

An executor maps a picklable function over items and yields the results in
order. Populations split their patients into chunks of ``chunk_size``; the
numbers do not depend on the chunk size or the executor.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar, runtime_checkable

import numpy as np
from numpy.typing import NDArray

from mscsim.errors import SpecError

__all__ = ["DEFAULT_CHUNK_SIZE", "DaskExecutor", "Executor", "InProcess", "patient_chunks"]

T = TypeVar("T")
R = TypeVar("R")

DEFAULT_CHUNK_SIZE = 2_000
"""Patients simulated together: large enough to vectorize, small enough to stream.

The states of a chunk of the SCA example (12 states, 366 outputs) take 70 MiB at
2,000 patients. On 20,000 patients in chunks of 5,000 (176 MiB) the run spent
1.0 s of its 10.7 s of CPU in the kernel, faulting in fresh memory for each
chunk's arrays; in chunks of 2,000, 0.05 s, and it was about 4% faster
(``bench/population.py --chunk-size``)."""
_TCP_ADDRESS = re.compile(r"tcp://[^\s:/]+:[0-9]{1,5}")
"""A scheduler address: a host name or IPv4 address and a port."""


def patient_chunks(
    n_patients: int, chunk_size: int = DEFAULT_CHUNK_SIZE
) -> list[NDArray[np.int64]]:
    """Split patient ids ``0 .. n_patients - 1`` into consecutive chunks."""
    if chunk_size < 1:
        raise SpecError(f"chunk_size = {chunk_size}: must be >= 1")
    ids = np.arange(n_patients, dtype=np.int64)
    return [ids[i : i + chunk_size] for i in range(0, n_patients, chunk_size)]


@runtime_checkable
class Executor(Protocol):
    """The contract of an executor.

    ``map(func, items)`` yields ``func(item)`` for every item, in order, calling
    ``progress(done, total)`` after each. ``chunk_size`` is how many patients one
    item of a population run holds.
    """

    @property
    def chunk_size(self) -> int:
        """Patients per chunk of a population run."""
        ...

    def map(
        self,
        func: Callable[[T], R],
        items: Sequence[T],
        *,
        progress: Callable[[int, int], None] | None = None,
    ) -> Iterator[R]:
        """Yield ``func(item)`` for every item, in order."""
        ...


def _check_chunk_size(chunk_size: int) -> None:
    if isinstance(chunk_size, bool) or not isinstance(chunk_size, int) or chunk_size < 1:
        raise SpecError(f"chunk_size = {chunk_size!r}: must be a whole number >= 1")


@dataclass(frozen=True)
class InProcess:
    """Run every item in this process, one after the other (the default)."""

    chunk_size: int = DEFAULT_CHUNK_SIZE

    def __post_init__(self) -> None:
        _check_chunk_size(self.chunk_size)

    def map(
        self,
        func: Callable[[T], R],
        items: Sequence[T],
        *,
        progress: Callable[[int, int], None] | None = None,
    ) -> Iterator[R]:
        """See :meth:`Executor.map`."""
        for done, item in enumerate(items, start=1):
            yield func(item)
            if progress is not None:
                progress(done, len(items))


@dataclass(frozen=True)
class DaskExecutor:
    """Run items on a Dask cluster.

    Parameters
    ----------
    address : str
        ``"local"`` or ``"local:N"`` (a LocalCluster with N worker processes,
        started and closed by each :meth:`map`), or ``"tcp://HOST:PORT"`` (an
        existing scheduler).
    chunk_size : int
        Patients per chunk of a population run.

    Examples
    --------
    >>> DaskExecutor("local:2").n_local_workers
    2
    """

    address: str
    chunk_size: int = DEFAULT_CHUNK_SIZE

    def __post_init__(self) -> None:
        _check_chunk_size(self.chunk_size)
        if self.is_local:
            workers = self.address.partition(":")[2]
            if workers and (not workers.isdigit() or int(workers) < 1):
                raise SpecError(
                    f"dask address = {self.address!r}: local:N needs a whole number N >= 1"
                )
        elif not _TCP_ADDRESS.fullmatch(self.address):
            raise SpecError(
                f"dask address = {self.address!r}: use tcp://HOST:PORT, local or local:N"
            )

    @property
    def is_local(self) -> bool:
        """Whether :meth:`map` starts its own LocalCluster."""
        return self.address == "local" or self.address.startswith("local:")

    @property
    def n_local_workers(self) -> int | None:
        """Worker processes of a local cluster (None: Dask's default)."""
        workers = self.address.partition(":")[2] if self.is_local else ""
        return int(workers) if workers else None

    def _client(self) -> Any:
        try:
            from dask.distributed import Client, LocalCluster
        except ImportError as err:  # pragma: no cover - a dependency of mscsim
            raise SpecError(
                f"dask address = {self.address!r}: dask.distributed is not installed"
            ) from err
        if self.is_local:
            cluster = LocalCluster(  # type: ignore[no-untyped-call]
                n_workers=self.n_local_workers,
                threads_per_worker=1,
                processes=True,
                dashboard_address=None,
            )
            return Client(cluster)  # type: ignore[no-untyped-call]
        try:
            return Client(self.address, timeout="10s")  # type: ignore[no-untyped-call]
        except OSError as err:
            raise SpecError(f"dask address = {self.address!r}: cannot connect ({err})") from err

    def map(
        self,
        func: Callable[[T], R],
        items: Sequence[T],
        *,
        progress: Callable[[int, int], None] | None = None,
    ) -> Iterator[R]:
        """See :meth:`Executor.map`; a Dask cluster may work ahead of the consumer."""
        client = self._client()
        try:
            futures = client.map(func, list(items), pure=False)
            for done, future in enumerate(futures, start=1):
                yield future.result()
                future.release()
                if progress is not None:
                    progress(done, len(items))
        finally:
            cluster = getattr(client, "cluster", None)
            client.close()
            if cluster is not None and self.is_local:
                cluster.close()
