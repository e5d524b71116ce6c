"""phalanx.agents.stepcoder: StepCoder's executor on APPS+, reward ladder, CCCS curriculum and FGO masks.

The data side of StepCoder (methods.md Part C): a trainer takes `make_reward_fn(executor)`
as its reward, `Curriculum` for CCCS prompts and `fgo_mask` for per-token loss masks;
`train_stepcoder` is that trainer (PPO with CCCS and FGO).
"""

from phalanx.agents.stepcoder.batch import Job, read_results, run_batch
from phalanx.agents.stepcoder.cccs import (
    Curriculum,
    CurriculumSchedule,
    Subtask,
    build_subtasks,
    completion_prompt,
)
from phalanx.agents.stepcoder.data import default_data_path, load_problems, problem_from_record
from phalanx.agents.stepcoder.errors import DatasetError, ExecutorError, StepCoderError
from phalanx.agents.stepcoder.eval import EvalSummary, evaluate_model, extract_program, pass_at_k
from phalanx.agents.stepcoder.executor import Executor, ExecutorConfig, harness_source
from phalanx.agents.stepcoder.fgo import dead_lines, fgo_mask, mask_from_offsets
from phalanx.agents.stepcoder.reward import RewardLadder, compute_reward, make_reward_fn
from phalanx.agents.stepcoder.sandboxes import APPS_IMAGE, open_apps_sandbox
from phalanx.agents.stepcoder.train import (
    StepCoderResult,
    StepCoderStep,
    StepCoderTrainConfig,
    completion_mask,
    run_stepcoder,
    token_offsets,
    train_stepcoder,
)
from phalanx.agents.stepcoder.types import OUTCOMES, CaseResult, Outcome, Problem, ProgramResult
from phalanx.agents.stepcoder.verify import VerifySummary, summarise, verify_apps

__all__ = [
    "APPS_IMAGE",
    "OUTCOMES",
    "CaseResult",
    "Curriculum",
    "CurriculumSchedule",
    "DatasetError",
    "EvalSummary",
    "Executor",
    "ExecutorConfig",
    "ExecutorError",
    "Job",
    "Outcome",
    "Problem",
    "ProgramResult",
    "RewardLadder",
    "StepCoderError",
    "StepCoderResult",
    "StepCoderStep",
    "StepCoderTrainConfig",
    "Subtask",
    "VerifySummary",
    "build_subtasks",
    "completion_mask",
    "completion_prompt",
    "compute_reward",
    "dead_lines",
    "default_data_path",
    "evaluate_model",
    "extract_program",
    "fgo_mask",
    "harness_source",
    "load_problems",
    "make_reward_fn",
    "mask_from_offsets",
    "open_apps_sandbox",
    "pass_at_k",
    "problem_from_record",
    "read_results",
    "run_batch",
    "run_stepcoder",
    "summarise",
    "token_offsets",
    "train_stepcoder",
    "verify_apps",
]
