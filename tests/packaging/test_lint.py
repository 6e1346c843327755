"""The code passes ruff with the project's settings (pyproject.toml)."""

import subprocess
import sys


def test_ruff_finds_nothing(repo_root):
    result = subprocess.run([sys.executable, "-m", "ruff", "check", "."], cwd=repo_root,
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout[-3000:]
