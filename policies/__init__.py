"""phalanx.policies: ToolSword safety policies for tool-using agents (methods.md Part B).

Guards for the three stages (input: malicious queries, jailbreaks; execution: noisy
misdirection, risky cues, destructive calls; output: harmful feedback, error conflicts),
deterministic by default (rules + offline sentence embeddings) with an optional model-judge
variant, configured by a policy file and put on the agent as tool hooks and turn guards.
"""

from phalanx.policies.config import GuardConfig, PolicyConfig, load_policy
from phalanx.policies.embedder import SentenceEmbedder
from phalanx.policies.errors import GuardError, PolicyConfigError, PolicyError, ScenarioDataError
from phalanx.policies.guard import Guard, register_guard, registered_guards
from phalanx.policies.stack import Decision, PolicyStack
from phalanx.policies.toolsword_data import (
    SCENARIOS,
    ToolSwordRecord,
    load_scenario,
    load_toolsword,
    toolsword_data_dir,
)
from phalanx.policies.types import Finding, GuardAction, GuardContext, GuardVerdict, Stage, ToolSpec

__all__ = [
    "SCENARIOS",
    "Decision",
    "Finding",
    "Guard",
    "GuardAction",
    "GuardConfig",
    "GuardContext",
    "GuardError",
    "GuardVerdict",
    "PolicyConfig",
    "PolicyConfigError",
    "PolicyError",
    "PolicyStack",
    "PolicyToolHook",
    "PolicyTurnGuard",
    "RequestClassifier",
    "ScenarioDataError",
    "SentenceEmbedder",
    "Stage",
    "ToolSpec",
    "ToolSwordRecord",
    "load_policy",
    "load_scenario",
    "load_toolsword",
    "policy_adapters",
    "register_guard",
    "registered_guards",
    "screen_queries",
    "summarize_screen",
    "ScreenSummary",
    "HarmCorpusIndex",
    "build_index",
    "default_corpora",
    "evaluate_index",
    "heldout_corpora",
    "SeedSet",
    "load_seeds",
    "evaluate_request_classifier",
    "evaluation_sets",
    "heldout_requests",
    "rephrase_requests",
    "train_request_classifier",
    "training_sets",
    "toolsword_data_dir",
]

_REQUEST_CLASSIFIER = (
    "RequestClassifier",
    "evaluate_request_classifier",
    "evaluation_sets",
    "heldout_requests",
    "train_request_classifier",
    "training_sets",
)


def __getattr__(name: str):
    # The hook adapters import phalanx.tools; load them on first use.
    if name in ("PolicyToolHook", "PolicyTurnGuard", "policy_adapters"):
        from phalanx.policies import hooks

        return getattr(hooks, name)
    if name in _REQUEST_CLASSIFIER:
        # numpy and the training sets load with the request classifier, not with the package
        from phalanx.policies import request_classifier

        return getattr(request_classifier, name)
    if name == "rephrase_requests":
        from phalanx.policies.request_phrasing import rephrase_requests

        return rephrase_requests
    if name in ("screen_queries", "summarize_screen", "ScreenSummary"):
        from phalanx.policies import screen

        return getattr(screen, name)
    if name in ("HarmCorpusIndex", "build_index", "default_corpora", "evaluate_index", "heldout_corpora"):
        # numpy and the corpus files load with the harm index, not with the package
        from phalanx.policies import harm_corpus

        return getattr(harm_corpus, name)
    if name in ("SeedSet", "load_seeds"):
        from phalanx.policies import seeds

        return getattr(seeds, name)
    raise AttributeError(name)
