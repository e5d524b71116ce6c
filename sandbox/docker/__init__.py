"""Docker backend: warm pool of hardened containers, one forked process per execution."""

from phalanx.sandbox.docker.backend import DockerSandbox
from phalanx.sandbox.docker.client import connect
from phalanx.sandbox.docker.image import RECIPES, build_image, resolve_image
from phalanx.sandbox.docker.pool import WarmPool

__all__ = ["RECIPES", "DockerSandbox", "WarmPool", "build_image", "connect", "resolve_image"]
