"""Sandbox for untrusted, model-written code (HumanEval, MBPP): see docs/sandbox.md for what it guarantees."""

from llmeval_assets.sandbox.check_split import split_check_function
from llmeval_assets.sandbox.isolation import isolation_report
from llmeval_assets.sandbox.runner import execute, execute_many
from llmeval_assets.sandbox.types import CodeProgram, ExecutionResult, Limits, TestCase, TestOutcome

__all__ = [
    "CodeProgram",
    "ExecutionResult",
    "Limits",
    "TestCase",
    "TestOutcome",
    "execute",
    "execute_many",
    "isolation_report",
    "split_check_function",
]
