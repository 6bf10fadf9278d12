"""Executors run jobs somewhere and report back; the job manager never knows where.

This module holds what every executor is (:class:`Executor`) and what it reports
(:class:`ExecutorEvents`); :mod:`~makespan.api.local_executor` runs jobs as processes here,
:mod:`~makespan.api.ray_executor` as Ray tasks, and :mod:`~makespan.api.executors` picks one by
name.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, Protocol

from makespan.api.worker import JobTask


class ExecutorEvents(Protocol):
    """Where an executor reports what its jobs do (from its own threads; must not block)."""

    def on_incumbent(self, job_id: str, incumbent: dict[str, Any]) -> None:
        """An improving solution or bound."""

    def on_checkpoint(self, job_id: str, result: dict[str, Any]) -> None:
        """The job's best checked answer so far, as a Result."""

    def on_result(self, job_id: str, result: dict[str, Any]) -> None:
        """The job's final Result (``termination: cancelled`` when it was stopped)."""

    def on_error(self, job_id: str, error: dict[str, Any]) -> None:
        """The job ended without any Result (exception, crash, kill before a checkpoint)."""


class JobStartError(RuntimeError):
    """A job's process (or task) could not be started; the job fails with this message."""


class Executor(ABC):
    """Runs job tasks and reports through :class:`ExecutorEvents`."""

    @abstractmethod
    def start(self, events: ExecutorEvents) -> None:
        """Begin accepting tasks."""

    @abstractmethod
    def submit(self, task: JobTask) -> None:
        """Start running a task now (the caller has reserved its slots).

        Raises:
            JobStartError: the task could not be started; nothing of it is left running.
        """

    @abstractmethod
    def cancel(self, job_id: str) -> None:
        """Ask a running task to stop and report its best answer; after the grace it is
        killed and ends with its last checkpoint."""

    def forget(self, job_id: str) -> None:
        """The job's final state is stored: whatever the executor kept for it can go."""
        del job_id

    @abstractmethod
    def shutdown(self) -> None:
        """Stop everything; running jobs stay 'running' in the store and are recovered later."""


def final_from_checkpoint(
    checkpoint: dict[str, Any] | None, termination: str, reason: str
) -> dict[str, Any] | None:
    """The Result a stopped job ends with: its checkpoint, with why it ended."""
    if checkpoint is None:
        return None
    final = dict(checkpoint)
    final["termination"] = termination
    final["message"] = "; ".join(filter(None, [checkpoint.get("message"), reason]))
    return final
