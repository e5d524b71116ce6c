"""`Tool`: a described, validated callable, and the `@tool` decorator that builds one.

A `Tool` holds its JSON schema, description, risk annotations, timeout and retry
settings, and (privately) its body. It cannot be called directly: bodies run only
through `Toolset.call`, the one call path that validates arguments, runs the hook
chain and writes the audit log (see `phalanx.tools.toolset`).
"""

from __future__ import annotations

import asyncio
import copy
import functools
import inspect
from collections.abc import Callable, Sequence
from typing import Any, Literal, overload

from pydantic import BaseModel

from phalanx.tools.errors import ToolDefinitionError, ToolDirectCallError, ToolExecutionError, ToolUnbound
from phalanx.tools.schema import args_model_from_function, parameters_schema, parse_docstring
from phalanx.tools.types import RetryConfig, RiskAnnotations

ToolKind = Literal["python", "bound", "simulated", "unbound"]


class Tool:
    """A tool a model can call.

    Attributes:
        name: name the model uses.
        description: what the tool does (shown to the model).
        parameters: OpenAI `parameters` JSON schema.
        risk: risk annotations that guards read.
        timeout_s: wall-clock limit of one attempt (None = none).
        retry: retry settings for transient errors.
        kind: `python` (from `@tool`), `bound`/`simulated` (a declared tool given an
            implementation or recorded outputs) or `unbound` (declared only; calling
            it gives the model an error).
    """

    __slots__ = (
        "name",
        "description",
        "parameters",
        "risk",
        "timeout_s",
        "retry",
        "kind",
        "metadata",
        "args_model",
        "_body",
        "_is_async",
        "_by_alias",
        "_field_names",
    )

    def __init__(
        self,
        *,
        name: str,
        description: str,
        parameters: dict[str, Any],
        args_model: type[BaseModel],
        body: Callable[..., Any] | None,
        kind: ToolKind,
        risk: RiskAnnotations | None = None,
        timeout_s: float | None = None,
        retry: RetryConfig | None = None,
        metadata: dict[str, Any] | None = None,
        by_alias: bool = False,
    ) -> None:
        if not name or not isinstance(name, str):
            raise ToolDefinitionError("a tool needs a non-empty string name")
        if timeout_s is not None and timeout_s <= 0:
            raise ToolDefinitionError(f"tool {name!r}: timeout_s must be > 0 (or None), got {timeout_s}")
        self.name = name
        self.description = description
        self.parameters = parameters
        self.args_model = args_model
        self.kind: ToolKind = kind
        self.risk = risk or RiskAnnotations()
        self.timeout_s = timeout_s
        self.retry = retry or RetryConfig()
        self.metadata = dict(metadata or {})
        self._body = body
        self._is_async = body is not None and _is_async_callable(body)
        self._by_alias = by_alias
        self._field_names = tuple(args_model.model_fields)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        raise ToolDirectCallError(
            f"tool {self.name!r} cannot be called directly; call it through a Toolset "
            f"(`await Toolset([...]).call({self.name!r}, {{...}})`) so validation, hooks and the audit log apply"
        )

    def __repr__(self) -> str:
        return f"Tool(name={self.name!r}, kind={self.kind!r})"

    @property
    def is_bound(self) -> bool:
        """Whether the tool has something to run (python body, bound or simulated)."""
        return self._body is not None

    def to_openai(self) -> dict[str, Any]:
        """This tool as an OpenAI tool spec `{"type": "function", "function": {...}}`."""
        return {"type": "function", "function": self.to_function_spec()}

    def to_function_spec(self) -> dict[str, Any]:
        """The bare function spec `{"name", "description", "parameters"}` (ToolSword's format)."""
        return {
            "name": self.name,
            "description": self.description,
            "parameters": copy.deepcopy(self.parameters),
        }

    def bind(self, fn: Callable[..., Any]) -> Tool:
        """A copy of this tool that runs `fn(**args)` (sync or async)."""
        if not callable(fn):
            raise ToolDefinitionError(f"tool {self.name!r}: bind() needs a callable, got {type(fn).__name__}")
        return self._replace(body=fn, kind="bound")

    def simulate(self, outputs: Any) -> Tool:
        """A copy that replays recorded outputs instead of doing anything.

        Args:
            outputs: a callable `f(args) -> output`, a list served one per call (an
                error once exhausted), or any other value returned on every call.
        """
        return self._replace(body=_Simulator(self.name, outputs), kind="simulated")

    def unbind(self) -> Tool:
        """A declared-only copy (calling it gives the model an 'unbound' error)."""
        return self._replace(body=None, kind="unbound")

    def with_options(
        self,
        *,
        name: str | None = None,
        description: str | None = None,
        risk: RiskAnnotations | None = None,
        timeout_s: float | None = None,
        retry: RetryConfig | None = None,
    ) -> Tool:
        """A copy with some settings replaced."""
        clone = self._replace()
        clone.name = name or self.name
        clone.description = description if description is not None else self.description
        clone.risk = risk or self.risk
        clone.timeout_s = timeout_s if timeout_s is not None else self.timeout_s
        clone.retry = retry or self.retry
        return clone

    def _replace(self, **changes: Any) -> Tool:
        kwargs: dict[str, Any] = dict(
            name=self.name,
            description=self.description,
            parameters=self.parameters,
            args_model=self.args_model,
            body=self._body,
            kind=self.kind,
            risk=self.risk,
            timeout_s=self.timeout_s,
            retry=self.retry,
            metadata=self.metadata,
            by_alias=self._by_alias,
        )
        kwargs.update(changes)
        return Tool(**kwargs)

    def _kwargs(self, validated: BaseModel) -> dict[str, Any]:
        # Python tools get field values as-is (nested models stay models); declared
        # tools get the names the schema declared, and only what the model sent.
        if self._by_alias:
            return validated.model_dump(by_alias=True, exclude_unset=True)
        return {name: getattr(validated, name) for name in self._field_names}

    async def _invoke(self, validated: BaseModel) -> Any:
        """Run the body once. Private: `Toolset.call` is the only caller."""
        body = self._body
        if body is None:
            raise ToolUnbound(
                f"tool {self.name!r} is declared but has no implementation; bind one with tool.bind(fn) "
                "or tool.simulate(outputs)"
            )
        kwargs = self._kwargs(validated)
        if self._is_async:
            return await body(**kwargs)
        if self.timeout_s is not None:
            # A worker thread lets the timeout fire; the thread itself cannot be killed.
            return await asyncio.to_thread(functools.partial(body, **kwargs))
        out = body(**kwargs)
        if inspect.isawaitable(out):
            out = await out
        return out


class _Simulator:
    """Recorded outputs of a declared tool, for replays."""

    def __init__(self, tool_name: str, outputs: Any) -> None:
        self.tool_name = tool_name
        self.outputs = outputs
        self._served = 0

    def __call__(self, **args: Any) -> Any:
        outputs = self.outputs
        if callable(outputs):
            return outputs(args)
        if isinstance(outputs, list):
            if self._served >= len(outputs):
                raise ToolExecutionError(
                    f"simulated tool {self.tool_name!r} has no recorded output left ({len(outputs)} served)"
                )
            self._served += 1
            return outputs[self._served - 1]
        return outputs


def _is_async_callable(fn: Any) -> bool:
    while isinstance(fn, functools.partial):
        fn = fn.func
    return inspect.iscoroutinefunction(fn) or inspect.iscoroutinefunction(type(fn).__call__)


@overload
def tool(
    fn: Callable[..., Any],
    /,
    *,
    name: str | None = None,
    description: str | None = None,
    risk: RiskAnnotations | Sequence[str] | None = None,
    timeout_s: float | None = None,
    retry: RetryConfig | int | None = None,
    metadata: dict[str, Any] | None = None,
) -> Tool: ...


@overload
def tool(
    *,
    name: str | None = None,
    description: str | None = None,
    risk: RiskAnnotations | Sequence[str] | None = None,
    timeout_s: float | None = None,
    retry: RetryConfig | int | None = None,
    metadata: dict[str, Any] | None = None,
) -> Callable[[Callable[..., Any]], Tool]: ...


def tool(
    fn: Callable[..., Any] | None = None,
    /,
    *,
    name: str | None = None,
    description: str | None = None,
    risk: RiskAnnotations | Sequence[str] | None = None,
    timeout_s: float | None = None,
    retry: RetryConfig | int | None = None,
    metadata: dict[str, Any] | None = None,
) -> Tool | Callable[[Callable[..., Any]], Tool]:
    """Turn a (sync or async) function into a `Tool`.

    The JSON schema comes from the type hints (any pydantic-supported type:
    nested models, Optional, Literal, Enum, lists); descriptions come from the
    Google-style docstring (summary line and `Args:` section).

    Args:
        fn: the function (when used as `@tool` without parentheses).
        name: tool name (defaults to the function name).
        description: overrides the docstring summary.
        risk: `RiskAnnotations` or flag names, e.g. `["destructive", "external_effect"]`.
        timeout_s: wall-clock limit per attempt.
        retry: `RetryConfig` or a number of attempts (retries ConnectionError/TimeoutError).
        metadata: free-form data kept on the tool.

    Raises:
        ToolDefinitionError: a parameter lacks a type hint, is variadic, or a risk flag is unknown.
    """

    def build(func: Callable[..., Any]) -> Tool:
        tool_name = name or getattr(func, "__name__", None)
        if not tool_name or tool_name == "<lambda>":
            raise ToolDefinitionError("pass name=... for a tool built from a lambda or callable object")
        summary, arg_docs = parse_docstring(inspect.getdoc(func))
        model = args_model_from_function(func, tool_name, arg_docs)
        return Tool(
            name=tool_name,
            description=description if description is not None else summary,
            parameters=parameters_schema(model),
            args_model=model,
            body=func,
            kind="python",
            risk=_risk(risk, tool_name),
            timeout_s=timeout_s,
            retry=RetryConfig(max_attempts=retry) if isinstance(retry, int) else retry,
            metadata=metadata,
        )

    if fn is not None:
        return build(fn)
    return build


def _risk(risk: RiskAnnotations | Sequence[str] | None, tool_name: str) -> RiskAnnotations:
    if risk is None or isinstance(risk, RiskAnnotations):
        return risk or RiskAnnotations()
    known = set(RiskAnnotations.model_fields)
    unknown = [flag for flag in risk if flag not in known]
    if unknown:
        raise ToolDefinitionError(
            f"tool {tool_name!r}: unknown risk flag(s) {unknown}; known: {sorted(known)}"
        )
    return RiskAnnotations(**{flag: True for flag in risk})
