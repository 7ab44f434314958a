"""scripts/install.sh, run against a stub venv whose pip and python only log their arguments: a line per
step, pip's progress shown for the big downloads, and MISCOMP_CPU_ONLY=1 removing the CUDA packages."""

import os
import subprocess
from pathlib import Path

import pytest

SCRIPT = Path(__file__).parents[2] / "scripts" / "install.sh"

STUB = """#!/bin/sh
echo "$(basename "$0") $*" >> "{log}"
if [ "$1" = "list" ]; then
  printf 'numpy==2.2.0\\nnvidia-cudnn-cu13==9.24.0.43\\ntriton==3.8.0\\ntorch==2.14.1\\n'
fi
exit 0
"""


@pytest.mark.parametrize("cpu_only", [False, True])
def test_install_steps(tmp_path, cpu_only):
    venv, log = tmp_path / "venv", tmp_path / "calls.log"
    (venv / "bin").mkdir(parents=True)
    for name in ("pip", "python"):
        (venv / "bin" / name).write_text(STUB.format(log=log))
        (venv / "bin" / name).chmod(0o755)
    env = {**os.environ, "VENV": str(venv), "PYTHON": "false"}
    if cpu_only:
        env["MISCOMP_CPU_ONLY"] = "1"
    out = subprocess.run(["bash", str(SCRIPT)], env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    steps = [ln for ln in out.stdout.splitlines() if ln.startswith("== install [")]
    assert [s.split("]")[0] for s in steps] == [f"== install [{i}/6" for i in range(1, 7)]
    assert "7.5 GB" in out.stdout and "install took" in out.stdout
    calls = log.read_text().splitlines()
    big = [c for c in calls if "torch==2.14.1" in c or "[all,dev]" in c]
    assert len(big) == 2 and all("-q" not in c.split() for c in big)  # pip's progress is shown
    removed = [c for c in calls if c.startswith("pip uninstall")]
    if cpu_only:
        assert removed == ["pip uninstall -y -q nvidia-cudnn-cu13 triton"]
    else:
        assert removed == []
