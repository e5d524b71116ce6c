"""Loading and validating ToolSword scenario files (methods.md Part B, "Data layout").

Every record is checked before any model call; a malformed file fails with the file,
the record index and the field named. Works on the copy shipped with phalanx
(`policies/data/toolsword`, Apache-2.0, see its LICENSE and SOURCE.md) or any user folder.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from phalanx.policies.errors import ScenarioDataError
from phalanx.tools.records import RecordFileError, iter_records

SCENARIOS: dict[str, tuple[str, str]] = {
    # scenario -> (file, stage)
    "MQ": ("data_MQ.json", "Input"),
    "JA": ("data_JA.json", "Input"),
    "NM": ("data_NM.json", "Execution"),
    "RC": ("data_RC.json", "Execution"),
    "HF": ("data_HF.json", "Output"),
    "EC": ("data_EC.json", "Output"),
    "confict": ("data_confict.json", "Output"),  # spelled so upstream
}
TOOLSWORD_DIR = Path(__file__).with_name("data") / "toolsword"
"""The ToolSword data shipped with phalanx (installed as package data)."""
JA_TEMPLATES = ("Burple", "DeltaGPT", "GPT-4 Simulator")
"""The three jailbreak wrappers of data_JA.json, 55 records each, in file order (paper Table 2)."""


class ToolSwordRecord(BaseModel):
    """One validated ToolSword record."""

    model_config = ConfigDict(extra="allow")

    id: str
    """Stable id: `<scenario>-<index>` (e.g. `NM-007`), `JA:<template>-<index>` for jailbreaks."""
    index: int
    stage: Literal["Input", "Execution", "Output"]
    scenario: str
    """Scenario code (`MQ`, `JA`, `NM`, `RC`, `HF`, `EC`, `confict`)."""
    group: str
    """Reporting group: the scenario, or `JA:<template>` for jailbreak records."""
    tools: list[dict[str, Any]]
    """OpenAI function schemas offered to the agent."""
    query: str
    dialog: list[dict[str, Any]] = Field(default_factory=list)
    """Output stage: user turn, assistant function_call, function result."""

    @property
    def user_turn(self) -> str:
        """What the agent is asked (the dialog's user message for output-stage records)."""
        return self.dialog[0]["content"] if self.dialog else self.query

    @property
    def recorded_call(self) -> dict[str, Any] | None:
        """Output stage: the recorded `{"name", "arguments"}` function call."""
        return self.dialog[1]["function_call"] if self.dialog else None

    @property
    def recorded_result(self) -> str | None:
        """Output stage: the recorded tool result text."""
        return self.dialog[2]["content"] if self.dialog else None


def _fail(path: Path, index: int | None, field: str, problem: str) -> ScenarioDataError:
    where = (
        f"{path}"
        + (f", record {index}" if index is not None else "")
        + (f", field {field!r}" if field else "")
    )
    return ScenarioDataError(f"{where}: {problem}")


def _validate_tool(path: Path, i: int, j: int, tool: Any) -> None:
    field = f"tools[{j}]"
    if not isinstance(tool, dict):
        raise _fail(path, i, field, "must be an OpenAI function schema object")
    fn = tool.get("function", tool)
    if not isinstance(fn.get("name"), str) or not fn["name"]:
        raise _fail(path, i, f"{field}.name", "missing or not a string")
    params = fn.get("parameters", {})
    if not isinstance(params, dict):
        raise _fail(path, i, f"{field}.parameters", "must be a JSON-schema object")


def _validate_record(path: Path, i: int, raw: Any, scenario: str) -> dict[str, Any]:
    if not isinstance(raw, dict):
        raise _fail(path, i, "", f"record must be an object, got {type(raw).__name__}")
    for field, kind in (("stage", str), ("scenario", str), ("tools", list), ("query", str)):
        if field not in raw:
            raise _fail(path, i, field, "missing")
        if not isinstance(raw[field], kind):
            raise _fail(path, i, field, f"must be a {kind.__name__}, got {type(raw[field]).__name__}")
    if raw["scenario"] not in SCENARIOS:
        raise _fail(
            path, i, "scenario", f"unknown scenario {raw['scenario']!r}; known: {', '.join(SCENARIOS)}"
        )
    if raw["scenario"] != scenario:
        raise _fail(path, i, "scenario", f"is {raw['scenario']!r} but the file holds {scenario!r} records")
    expected_stage = SCENARIOS[scenario][1]
    if raw["stage"] != expected_stage:
        raise _fail(path, i, "stage", f"is {raw['stage']!r}; {scenario} records are {expected_stage!r}")
    if not raw["tools"]:
        raise _fail(path, i, "tools", "is empty")
    for j, tool in enumerate(raw["tools"]):
        _validate_tool(path, i, j, tool)
    if expected_stage == "Output":
        dialog = raw.get("dialog")
        if not isinstance(dialog, list) or len(dialog) != 3:
            raise _fail(
                path,
                i,
                "dialog",
                "output-stage records need [user, assistant function_call, function result]",
            )
        roles = [m.get("role") if isinstance(m, dict) else None for m in dialog]
        if roles != ["user", "assistant", "function"]:
            raise _fail(path, i, "dialog", f"roles must be user, assistant, function; got {roles}")
        call = dialog[1].get("function_call")
        if not isinstance(call, dict) or not isinstance(call.get("name"), str):
            raise _fail(path, i, "dialog[1].function_call", "missing or has no name")
        if not isinstance(dialog[2].get("content"), str):
            raise _fail(path, i, "dialog[2].content", "the function result must be a string")
    return raw


def load_scenario(scenario: str, data_dir: str | Path | None = None) -> list[ToolSwordRecord]:
    """Load and validate every record of one scenario from `data_dir`.

    Args:
        scenario: `MQ`, `JA`, `NM`, `RC`, `HF`, `EC` or `confict`.
        data_dir: folder with the `data_*.json` files (or its parent holding `data/`);
            None means the copy shipped with phalanx (`toolsword_data_dir`).

    Raises:
        ScenarioDataError: unknown scenario, missing file, bad JSON, or a malformed record.
    """
    if scenario not in SCENARIOS:
        raise ScenarioDataError(f"unknown scenario {scenario!r}; known: {', '.join(SCENARIOS)}")
    path = resolve_data_dir(data_dir) / SCENARIOS[scenario][0]
    if not path.is_file():
        raise ScenarioDataError(
            f"{path}: file not found (scenario {scenario}); pass --data DIR with the ToolSword data_*.json files"
        )
    try:
        entries = list(iter_records(path, "json"))
    except RecordFileError as exc:
        raise ScenarioDataError(str(exc)) from None
    if any(e.key is not None for e in entries):
        raise ScenarioDataError(f"{path}: must hold a JSON list of records")
    raw = [e.value for e in entries]
    records = []
    per_template = max(1, len(raw) // len(JA_TEMPLATES)) if scenario == "JA" else 0
    for i, item in enumerate(raw):
        rec = _validate_record(path, i, item, scenario)
        if scenario == "JA":
            template = JA_TEMPLATES[min(i // per_template, len(JA_TEMPLATES) - 1)]
            group, rid = f"JA:{template}", f"JA:{template}-{i:03d}"
        else:
            group, rid = scenario, f"{scenario}-{i:03d}"
        records.append(ToolSwordRecord(id=rid, index=i, group=group, **rec))
    return records


def toolsword_data_dir() -> Path:
    """The folder of the ToolSword data shipped with phalanx (the default of every loader and command).

    Raises:
        ScenarioDataError: the installation lacks the data (a broken install); names the path.
    """
    if not (TOOLSWORD_DIR / "data" / SCENARIOS["MQ"][0]).is_file():
        raise ScenarioDataError(
            f"{TOOLSWORD_DIR}: the ToolSword data shipped with phalanx is missing (broken install?); "
            "reinstall phalanx or pass --data DIR with ToolSword's data_*.json files"
        )
    return TOOLSWORD_DIR


def resolve_data_dir(data_dir: str | Path | None = None) -> Path:
    """Accept the folder of `data_*.json` or a parent holding `data/`; None is the shipped copy."""
    p = toolsword_data_dir() if data_dir is None else Path(data_dir).expanduser()
    if not p.is_dir():
        raise ScenarioDataError(f"{p}: data folder not found")
    if not any(p.glob("data_*.json")) and (p / "data").is_dir():
        return p / "data"
    return p


def load_toolsword(
    data_dir: str | Path | None = None, scenarios: list[str] | None = None
) -> list[ToolSwordRecord]:
    """Load several scenarios (all by default), validating every file before returning.

    Args:
        data_dir: a ToolSword data folder; None means the copy shipped with phalanx.
        scenarios: scenario codes to load (all of `SCENARIOS` by default).
    """
    names = scenarios or list(SCENARIOS)
    unknown = [s for s in names if s not in SCENARIOS]
    if unknown:
        raise ScenarioDataError(f"unknown scenario(s) {unknown}; known: {', '.join(SCENARIOS)}")
    out: list[ToolSwordRecord] = []
    for name in names:
        out.extend(load_scenario(name, data_dir))
    return out
