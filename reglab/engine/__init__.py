"""The engine runs trial jobs and hands each result back as soon as it ends.

It knows datasets and trial configs, not the store or the command line: the caller's ``on_result``
commits each result. Strategies share the ``Job`` → ``JobResult`` contract, so the store, selection and
report see the same results whichever one ran.
"""

from reglab.engine.jobs import Job, JobResult, run_job, run_sequential

__all__ = ["Job", "JobResult", "run_job", "run_sequential"]
