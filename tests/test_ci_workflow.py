"""examples/ci/aiinfra-review.yml, the workflow users copy: valid YAML of GitHub Actions' shape,
every script valid bash that shellcheck accepts, and every aiinfra and terraform command it runs
exists with the options it passes."""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess

import pytest
import yaml

from tests.conftest import ROOT

WORKFLOW = ROOT / "examples" / "ci" / "aiinfra-review.yml"


def workflow() -> dict:
    return yaml.safe_load(WORKFLOW.read_text())


def scripts() -> list[tuple[str, str]]:
    """(step name, script) of every run step, GitHub expressions replaced by a placeholder value."""
    out = []
    for job in workflow()["jobs"].values():
        for step in job["steps"]:
            if "run" in step:
                out.append((step.get("name", step["run"].split()[0]), re.sub(r"\$\{\{[^}]*\}\}", "placeholder", step["run"])))
    return out


def commands(tool: str) -> list[list[str]]:
    """Every invocation of ``tool`` in the scripts, as words (shell variables kept as text)."""
    found = []
    for _, script in scripts():
        for line in script.replace("\\\n", " ").splitlines():
            lexer = shlex.shlex(line, posix=True, punctuation_chars=True)
            lexer.commenters = "#"
            words: list[str] = []
            for token in [*lexer, ";"]:
                if token and set(token) <= set(";&|()<>"):  # an operator ends a command
                    if words and words[0] == tool:
                        found.append(words)
                    words = []
                else:
                    words.append(token)
    return found


def test_the_workflow_is_a_github_actions_workflow_with_pinned_actions():
    doc = workflow()
    assert True in doc or "on" in doc  # YAML 1.1 reads the key `on` as true
    (job,) = doc["jobs"].values()
    assert job["runs-on"] == "ubuntu-latest" and doc["permissions"]["pull-requests"] == "write"
    for step in job["steps"]:
        assert ("uses" in step) != ("run" in step), step
        if "uses" in step:
            assert re.fullmatch(r"[\w-]+/[\w-]+@v\d+", step["uses"]), step["uses"]


def test_every_script_is_valid_bash_and_shellcheck_clean(tmp_path):
    shellcheck = shutil.which("shellcheck") or str(ROOT / ".venv" / "bin" / "shellcheck")
    for name, script in scripts():
        path = tmp_path / "step.sh"
        path.write_text("#!/usr/bin/env bash\nset -euo pipefail\n" + script)
        assert subprocess.run(["bash", "-n", str(path)], capture_output=True).returncode == 0, name
        r = subprocess.run([shellcheck, "-S", "warning", str(path)], capture_output=True, text=True)
        assert r.returncode == 0, f"{name}:\n{r.stdout}"


def test_every_aiinfra_command_and_option_exists():
    from aiinfra.cli import cli

    used = commands("aiinfra")
    assert {words[1] for words in used} == {"validate", "synth", "review"}
    for words in used:
        command = cli.commands[words[1]]
        options = {opt for p in command.params for opt in (*p.opts, *getattr(p, "secondary_opts", []))}
        for word in words[2:]:
            if word.startswith("--"):
                assert word in options, (words, sorted(options))


@pytest.mark.skipif(shutil.which("terraform") is None, reason="terraform is not on PATH")
def test_every_terraform_command_and_option_exists():
    used = commands("terraform")
    assert {w[2] for w in used} == {"init", "plan", "show"}
    for words in used:
        sub = words[2]
        text = subprocess.run(["terraform", sub, "-help"], capture_output=True, text=True).stdout
        for word in words[3:]:
            if word.startswith("-"):
                flag = word.split("=", 1)[0]
                assert re.search(rf"^\s+{re.escape(flag)}\b", text, re.M), (sub, flag)
