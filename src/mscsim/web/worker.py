"""A job's worker process: ``python -m mscsim.web.worker DB_PATH JOB_ID CHUNK_SIZE``.

Started by :class:`mscsim.web.jobs.JobRunner` in a fresh interpreter, so a job's
work, warnings and memory stay out of the server's process.
"""

from __future__ import annotations

import sys

from mscsim.web.jobs import run_job

__all__ = ["main"]


def main(argv: list[str]) -> int:
    """Run the job ``argv`` names; return the exit status (2 for bad arguments)."""
    if len(argv) != 3 or not argv[2].isdigit():
        sys.stderr.write("usage: python -m mscsim.web.worker DB_PATH JOB_ID CHUNK_SIZE\n")
        return 2
    run_job(argv[0], argv[1], int(argv[2]))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
