"""aiinfra.jsii_direct: jsii's kernel runs in one node process on the Python process's pipes (no relay process), writes
the same stacks as with jsii's relay, keeps the kernel's console output off the message channel, and steps aside when
the installed jsii is laid out otherwise or when told to."""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from aiinfra import jsii_direct

ROOT = Path(__file__).resolve().parent.parent
SRC = str(ROOT / "src")

# In a fresh interpreter: import the CDK (which starts jsii's kernel), then list this process's node children and theirs.
PROCESSES = r"""
import json, os
import aiinfra.cdk
from aiinfra.cdk import App, TerraformStack
TerraformStack(App(), "probe")  # a message answered: the kernel is up

def children(pid):
    found = []
    for task in os.listdir(f"/proc/{pid}/task"):
        with open(f"/proc/{pid}/task/{task}/children") as f:
            found += [int(c) for c in f.read().split()]
    return found

def cmdline(pid):
    with open(f"/proc/{pid}/cmdline", "rb") as f:
        return [a.decode() for a in f.read().split(b"\0") if a]

tree = [{"cmd": cmdline(c), "children": [cmdline(g) for g in children(c)]} for c in children(os.getpid())]
print(json.dumps({"tree": tree, "env": {k: os.environ.get(k) for k in ("JSII_RUNTIME", "NODE_PRESERVE_SYMLINKS")}}))
"""


def kernel_processes(**env: str) -> dict:
    base = {k: v for k, v in os.environ.items() if k not in ("JSII_RUNTIME", jsii_direct.OPT_OUT, "NODE_PRESERVE_SYMLINKS")}
    r = subprocess.run([sys.executable, "-c", PROCESSES], capture_output=True, text=True, timeout=300,
                       env={**base, "PYTHONPATH": SRC, "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20,21", **env})
    assert r.returncode == 0, r.stderr[-2000:]
    return json.loads(r.stdout.strip().splitlines()[-1])


@pytest.mark.cdk
@pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="needs Linux /proc")
def test_the_kernel_is_one_node_process_without_the_relay_and_the_environment_is_restored():
    direct = kernel_processes()
    (node,) = [p for p in direct["tree"] if "node" in os.path.basename(p["cmd"][0])]
    assert node["cmd"][-1].endswith("bin/aiinfra-jsii-runtime.js") and node["children"] == []
    assert direct["env"] == {"JSII_RUNTIME": None, "NODE_PRESERVE_SYMLINKS": None}  # only the kernel read them
    relayed = kernel_processes(**{jsii_direct.OPT_OUT: "1"})
    (node,) = [p for p in relayed["tree"] if "node" in os.path.basename(p["cmd"][0])]
    assert node["cmd"][-1].endswith("bin/jsii-runtime.js")  # jsii's relay, and the kernel its child
    assert len(node["children"]) == 1 and node["children"][0][-1].endswith("lib/program.js")


@pytest.mark.cdk
def test_the_same_stacks_with_and_without_the_relay(tmp_path):
    """The reference example (both clouds, every kind of stack) synthesized both ways: the same files, byte for byte."""
    base = {k: v for k, v in os.environ.items() if k not in ("JSII_RUNTIME", jsii_direct.OPT_OUT)}
    outs = {}
    for label, extra in (("direct", {}), ("relay", {jsii_direct.OPT_OUT: "1"})):
        outs[label] = tmp_path / label
        r = subprocess.run([sys.executable, "-m", "aiinfra.cli", "synth", str(ROOT / "examples" / "reference.yaml"), "--out",
                            str(outs[label]), "-q"], capture_output=True, text=True, timeout=600, cwd=tmp_path,
                           env={**base, "PYTHONPATH": SRC, **extra})
        assert r.returncode == 0, r.stderr[-2000:]
    files = {label: {p.relative_to(out): p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()} for label, out in outs.items()}
    assert len(files["direct"]) > 10 and files["direct"] == files["relay"]


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not on PATH")
def test_what_the_kernels_code_prints_reaches_stderr_as_the_relay_sends_it_never_stdout(tmp_path):
    """The launcher, with a stand-in for the kernel that prints on both streams and writes one message on fd 1."""
    (tmp_path / "bin").mkdir()
    (tmp_path / "lib").mkdir()
    (tmp_path / "bin" / "aiinfra-jsii-runtime.js").write_text(jsii_direct.LAUNCHER)
    (tmp_path / "lib" / "program.js").write_text(
        'console.log("hello from the kernel");\nconsole.error("a warning");\nprocess.stdout.write("no newline");\n'
        'require("fs").writeSync(1, JSON.stringify({hello: "jsii-runtime@0"}) + "\\n");\n')
    r = subprocess.run(["node", str(tmp_path / "bin" / "aiinfra-jsii-runtime.js")], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines() == ['{"hello":"jsii-runtime@0"}']  # the channel carries messages only
    lines = [json.loads(line) for line in r.stderr.splitlines()]
    decoded = [(k, base64.b64decode(v).decode()) for line in lines for k, v in line.items()]
    assert decoded == [("stdout", "hello from the kernel\n"), ("stderr", "a warning\n"), ("stdout", "no newline")]


def test_another_layout_of_the_kernel_program_keeps_the_relay():
    assert jsii_direct.direct_program("x=new SyncStdio({errorFD:2,readFD:3,writeFD:3});") == \
        "x=new SyncStdio({errorFD:2,readFD:0,writeFD:1});"
    assert jsii_direct.direct_program("x=new SyncStdio({readFD:4,writeFD:4});") is None
    assert jsii_direct.direct_program("readFD:3,writeFD:3 readFD:3,writeFD:3") is None
    files = jsii_direct.runtime_files()  # the installed jsii has the expected layout (else the benefit is gone silently)
    assert files is not None and "readFD:0,writeFD:1" in files["lib/program.js"] and files["lib/runtime-index-worker.js"]


def test_told_to_or_given_a_runtime_it_changes_nothing(monkeypatch):
    monkeypatch.setenv(jsii_direct.OPT_OUT, "1")
    monkeypatch.delenv("JSII_RUNTIME", raising=False)
    with jsii_direct.kernel_started_directly() as direct:
        assert direct is False and "JSII_RUNTIME" not in os.environ
    monkeypatch.delenv(jsii_direct.OPT_OUT)
    monkeypatch.setenv("JSII_RUNTIME", "/opt/own-runtime.js")
    with jsii_direct.kernel_started_directly() as direct:
        assert direct is False and os.environ["JSII_RUNTIME"] == "/opt/own-runtime.js"
    monkeypatch.delenv("JSII_RUNTIME")
    monkeypatch.setenv("NODE_PRESERVE_SYMLINKS", "0")
    with jsii_direct.kernel_started_directly() as direct:
        launcher = Path(os.environ["JSII_RUNTIME"])
        assert direct is True and launcher.read_text() == jsii_direct.LAUNCHER and os.environ["NODE_PRESERVE_SYMLINKS"] == "1"
        assert "readFD:0,writeFD:1" in (launcher.parent.parent / "lib" / "program.js").read_text()
    assert "JSII_RUNTIME" not in os.environ and os.environ["NODE_PRESERVE_SYMLINKS"] == "0"
