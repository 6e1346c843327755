"""`python -m training VERB`: one entry point names every command line; each verb is real."""

import ast
import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

from training.__main__ import VERBS, main

TRAINING = Path(importlib.util.find_spec("training").origin).parent


def module_tree(module):
    """The parsed source of a verb's module, found without importing it (some need GDAL)."""
    origin = importlib.util.find_spec(f"training.{module}").origin
    return ast.parse(Path(origin).read_text(encoding="utf-8"))


@pytest.mark.parametrize("verb", sorted(VERBS))
def test_every_verb_runs_a_main_whose_help_names_the_verb(verb):
    tree = module_tree(VERBS[verb][0])
    functions = {node.name for node in tree.body if isinstance(node, ast.FunctionDef)}
    assert "main" in functions
    progs = [kw.value.value for node in ast.walk(tree) if isinstance(node, ast.Call)
             for kw in node.keywords if kw.arg == "prog"]
    assert progs == [f"python -m training {verb}"]
    assert VERBS[verb][1] in (".venv", ".venv-train")


def test_no_other_module_is_a_command_line():
    scripts = [path.relative_to(TRAINING) for path in TRAINING.rglob("*.py")
               if '__name__ == "__main__"' in path.read_text(encoding="utf-8")]
    assert scripts == [Path("__main__.py")]


def test_help_lists_every_verb_and_an_unknown_verb_fails(capsys):
    done = subprocess.run([sys.executable, "-m", "training", "--help"], capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    listed = [line.split()[0] for line in done.stdout.splitlines()[3:]]
    assert listed == list(VERBS)
    assert main(["no-such-verb"]) == 2 and "unknown verb 'no-such-verb'" in capsys.readouterr().err
    assert main([]) == 2


def test_a_verb_gets_the_remaining_arguments(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["checkpoint", "--help"])
    assert exit_info.value.code == 0
    assert capsys.readouterr().out.startswith("usage: python -m training checkpoint")
