"""The suite's own rule: in CI (or wherever ../shared is present) a skip is a failure, except
the skip of a test whose ../shared data is absent (conftest.py)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

from conftest import MISSING_SHARED, ROOT

TESTS = textwrap.dedent(f'''
    import pytest

    def test_skips_for_a_busy_machine():
        pytest.skip("a short run was INVALID on this busy machine")

    def test_skips_for_absent_shared():
        pytest.skip("{MISSING_SHARED} (../shared/data missing)")

    @pytest.mark.skipif(True, reason="no CPU affinity here")
    def test_skipif_mark():
        pass

    def test_passes():
        pass
''')


def test_a_skip_in_ci_is_a_failure_unless_shared_is_absent(tmp_path):
    (tmp_path / "test_some.py").write_text(TESTS)
    (tmp_path / "test_module_skip.py").write_text(
        "import pytest\npytest.skip('whole module', allow_module_level=True)\n")
    env = {**os.environ, "CI": "1", "PYTHONPATH": str(ROOT / "tests")}
    proc = subprocess.run([sys.executable, "-m", "pytest", "-p", "conftest", "-rA",
                           "-p", "no:cacheprovider", "--continue-on-collection-errors",
                           str(tmp_path)], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=300)
    out = proc.stdout
    assert proc.returncode == 1, out[-3000:]
    assert "FAILED test_some.py::test_skips_for_a_busy_machine" in out, out[-3000:]
    # a skipif mark skips in the setup phase: reported as an error, which fails the run too
    assert "ERROR test_some.py::test_skipif_mark" in out
    assert "ERROR test_module_skip.py - skipped where skips are failures" in out
    assert "SKIPPED [1] test_some.py" in out and "../shared/data missing" in out
    assert "PASSED test_some.py::test_passes" in out
    assert "1 failed, 1 passed, 1 skipped, 2 errors" in out
