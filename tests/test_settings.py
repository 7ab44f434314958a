import subprocess
import sys
from dataclasses import fields
from pathlib import Path

import pytest

from miscomp.errors import MiscompError
from miscomp.settings import ENV, ENV_VARS, Settings


def test_every_setting_has_one_documented_variable():
    assert [v.setting for v in ENV_VARS] == [f.name for f in fields(Settings)]
    assert len(set(ENV.values())) == len(ENV_VARS)
    assert all(v.variable.startswith("MISCOMP_") and v.meaning and v.default for v in ENV_VARS)


def test_precedence_and_empty_values(tmp_path):
    env = {"MISCOMP_CACHE": str(tmp_path / "c"), "MISCOMP_DATA_DIR": "  ", "MISCOMP_THREADS": "3"}
    s = Settings.from_env(env)
    assert s.cache_dir == tmp_path / "c"
    assert s.data_dir == tmp_path / "c" / "datasets"  # empty counts as unset: the default under the cache
    assert s.threads == 3
    assert Settings.from_env(env, threads=2).threads == 2  # an explicit argument wins
    assert Settings.from_env({"OMP_NUM_THREADS": "4"}).threads == 4
    with pytest.raises(MiscompError, match="MISCOMP_THREADS"):
        Settings.from_env({"MISCOMP_THREADS": "0"})


def test_gpu_device_nodes_are_the_driver_files(tmp_path, monkeypatch):
    from miscomp import settings

    monkeypatch.setattr(settings.sys, "platform", "linux")
    (tmp_path / "nvidiactl").touch()  # the control file alone is no GPU
    (tmp_path / "null").touch()
    assert settings.gpu_device_nodes(tmp_path) == []
    (tmp_path / "nvidia0").touch()
    (tmp_path / "kfd").touch()
    assert settings.gpu_device_nodes(tmp_path) == [tmp_path / "kfd", tmp_path / "nvidia0"]
    # where it cannot be told, torch is asked
    assert settings.gpu_device_nodes(tmp_path / "missing") == [tmp_path / "missing"]
    monkeypatch.setattr(settings.sys, "platform", "win32")
    assert settings.gpu_device_nodes(tmp_path) == [tmp_path]


def _device_and_torch(nodes: str) -> list[str]:
    """resolve_device('auto') in a fresh interpreter whose GPU device files are ``nodes``: the device
    and whether torch got imported."""
    code = (
        "import sys; from pathlib import Path; import miscomp.settings as s\n"
        f"s.gpu_device_nodes = lambda dev=None: [Path(p) for p in {nodes!r}.split()]\n"
        "print(s.resolve_device('auto'), 'torch' in sys.modules)"
    )
    repo = Path(__file__).resolve().parents[1]
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=repo)
    return proc.stdout.split()


def test_auto_device_imports_torch_only_where_a_gpu_could_be():
    # no GPU driver file: cpu, and torch (~470 MB resident once imported) stays out of the process
    assert _device_and_torch("") == ["cpu", "False"]
    pytest.importorskip("torch")
    device, imported = _device_and_torch("/dev/nvidia0")
    assert imported == "True" and device in {"cpu", "cuda"}  # torch decides, as before
