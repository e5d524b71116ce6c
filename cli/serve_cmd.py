"""CLI: `phalanx serve MODEL_SPEC` (an OpenAI-compatible server over any model backend)."""

from __future__ import annotations

import typer

from phalanx.cli.errors import fail


def serve(
    model_spec: str = typer.Argument(
        ..., help="Model to serve: hf:DIR, openai:BASE_URL#MODEL, vllm:PATH or scripted:FILE_OR_NAME."
    ),
    port: int = typer.Option(8000, "--port", "-p", help="TCP port to listen on."),
    host: str = typer.Option(
        "127.0.0.1", "--host", help="Address to bind; loopback by default (the server has no authentication)."
    ),
    name: str = typer.Option(None, "--name", help="Model name clients pass as `model` (default: the spec)."),
    log_level: str = typer.Option("info", "--log-level", help="uvicorn log level."),
) -> None:
    """Serve MODEL_SPEC with the OpenAI chat-completions API (/v1/chat/completions, /v1/models).

    Point any OpenAI client at http://HOST:PORT/v1, or another phalanx process at
    the spec openai:http://HOST:PORT/v1#NAME.
    """
    from phalanx.models import ModelError, is_loopback, load_model, serve_model

    if not is_loopback(host):
        typer.secho(
            f"warning: binding {host} exposes the model without authentication beyond this machine",
            fg=typer.colors.YELLOW,
            err=True,
        )
    try:
        model = load_model(model_spec)
    except ModelError as exc:
        fail(str(exc))
    served = name or model.name
    shown = f"[{host}]" if ":" in host else host
    typer.echo(
        f"serving {served!r} on http://{shown}:{port}/v1 (spec: openai:http://{shown}:{port}/v1#{served})"
    )
    serve_model(model, host=host, port=port, served_name=served, log_level=log_level)


def register(app: typer.Typer) -> None:
    """Add this module's commands to the root app."""
    app.command("serve")(serve)
