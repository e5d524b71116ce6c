"""phalanx.agents.selfevolve: self-evolving benchmarks (methods.md Part B §2).

Extend a static dataset with six reframing operations (eight modes) made by generator and
verifier agents, keep only high-confidence instances, and compare models on the result.

    import asyncio
    from phalanx.agents.selfevolve import evolve_dataset, evaluate_models, load_instances, parse_modes

    data = load_instances("embedded:kinship", limit=20)
    asyncio.run(evolve_dataset(data, parse_modes("all"), "scripted:evolve-generator",
                               "scripted:evolve-verifier", "out/"))
    result = asyncio.run(evaluate_models(["scripted:evolve-solver"], "out/"))
"""

from phalanx.agents.selfevolve import scripted as _scripted  # noqa: F401  (registers scripted:evolve-*)
from phalanx.agents.selfevolve.datasets import DatasetError, load_instances, read_jsonl
from phalanx.agents.selfevolve.embedded import load_embedded
from phalanx.agents.selfevolve.evaluate import EvaluationResult, ModeScore, evaluate_models
from phalanx.agents.selfevolve.graph import EvolveSummary, build_evolve_graph, evolve_dataset, read_evolved
from phalanx.agents.selfevolve.operations import OPERATIONS, Operation
from phalanx.agents.selfevolve.pipeline import (
    PREFILTER_FAILED,
    VERIFY_ERROR_1,
    VERIFY_ERROR_2,
    AgentReplyError,
    EvolvePipeline,
    EvolveSettings,
)
from phalanx.agents.selfevolve.prompts import PROMPT_VERSION, PromptLibrary
from phalanx.agents.selfevolve.report import write_report
from phalanx.agents.selfevolve.scoring import score_reply
from phalanx.agents.selfevolve.types import ALL_MODES, EvolvedInstance, Instance, Mode, Verdict, parse_modes

__all__ = [
    "ALL_MODES",
    "OPERATIONS",
    "PREFILTER_FAILED",
    "PROMPT_VERSION",
    "VERIFY_ERROR_1",
    "VERIFY_ERROR_2",
    "AgentReplyError",
    "DatasetError",
    "EvaluationResult",
    "EvolvePipeline",
    "EvolveSettings",
    "EvolveSummary",
    "EvolvedInstance",
    "Instance",
    "Mode",
    "ModeScore",
    "Operation",
    "PromptLibrary",
    "Verdict",
    "build_evolve_graph",
    "evaluate_models",
    "evolve_dataset",
    "load_embedded",
    "load_instances",
    "parse_modes",
    "read_evolved",
    "read_jsonl",
    "score_reply",
    "write_report",
]
