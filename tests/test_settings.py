from dataclasses import fields

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
