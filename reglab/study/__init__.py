"""Studies: which regularization, and how strong — planned, run through the engine, kept in the store."""

from reglab.study.runner import run_study
from reglab.study.settings import DEFAULT_METHODS, StudySettings
from reglab.study.summary import MethodSummary, StudySummary, summarize_study

__all__ = ["run_study", "DEFAULT_METHODS", "StudySettings", "MethodSummary", "StudySummary", "summarize_study"]
