"""annotation/install_ls.sh reads the Label Studio venv from the name miscomp uses, the old one too."""

import os
import subprocess
from pathlib import Path

import pytest

SCRIPT = Path(__file__).parents[2] / "annotation" / "install_ls.sh"


def _fake_venv(folder: Path) -> Path:
    """A venv that already has label-studio (so the script only says where it found it)."""
    (folder / "bin").mkdir(parents=True)
    for name in ("label-studio", "python"):
        (folder / "bin" / name).write_text("#!/bin/sh\nexit 0\n")
        (folder / "bin" / name).chmod(0o755)
    return folder


@pytest.mark.parametrize(
    ("env", "chosen"),
    [
        ({"MISCOMP_LABELSTUDIO_VENV": "new"}, "new"),
        ({"MISCOMP_LS_VENV": "old"}, "old"),  # the old name still works
        ({"MISCOMP_LABELSTUDIO_VENV": "new", "MISCOMP_LS_VENV": "old"}, "new"),
    ],
)
def test_the_venv_variable(tmp_path, env, chosen):
    for name in ("new", "old"):
        _fake_venv(tmp_path / name)
    clean = {k: v for k, v in os.environ.items() if k not in ("MISCOMP_LABELSTUDIO_VENV", "MISCOMP_LS_VENV")}
    clean |= {k: str(tmp_path / v) for k, v in env.items()}
    clean["PYTHON"] = "false"  # a script that ignored the variables fails at once instead of installing
    out = subprocess.run(["bash", str(SCRIPT)], env=clean, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().endswith(f"installed in {tmp_path / chosen}")
