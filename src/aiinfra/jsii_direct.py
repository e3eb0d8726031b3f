"""jsii's kernel on this process's own pipes, without the relay process jsii puts in between.

Every CDK call from Python is a jsii message to a node process, answered before the next one. jsii
starts that process as a relay, ``bin/jsii-runtime.js``, which spawns the kernel
(``lib/program.js``) as a second node process and copies every message between the Python
process's pipes and the kernel's file descriptor 3, both ways (jsii-runtime's ``bin/jsii-runtime.ts``;
the kernel reads and writes fd 3 through ``SyncStdio``). A 100-workload synth sends some 14,000
messages a cloud, so a fifth of its AWS half was the relay's hops and its CPU (bench/synth_bench.py).

``kernel_started_directly()`` points jsii (its ``JSII_RUNTIME`` setting, read when the kernel
starts, which the first import of a jsii assembly does) at a launcher that runs the kernel in the
one node process on stdin and stdout: the kernel's program, copied with its file descriptors made
0 and 1, and the relay's other duties kept. What the kernel's code prints goes to stderr as one
JSON line each, as the relay sends it (jsii's ``stderr_sink`` reads those), so nothing but
messages reaches stdout; modules resolve through symlinks as the relay's ``--preserve-symlinks``
made them (``NODE_PRESERVE_SYMLINKS``).

Nothing changes when the installed jsii's program is not laid out as expected (one
``readFD:3,writeFD:3``), when ``JSII_RUNTIME`` is already set, or with ``AIINFRA_JSII_RELAY=1``:
jsii starts its relay as always. The stacks are the same either way (tests/test_jsii_direct.py).
"""

from __future__ import annotations

import atexit
import contextlib
import importlib.resources
import os
import shutil
import tempfile
from collections.abc import Iterator

OPT_OUT = "AIINFRA_JSII_RELAY"
_CHANNEL = "readFD:3,writeFD:3"
_DIRECT = "readFD:0,writeFD:1"

# The launcher: console output of the kernel's code as the relay forwards it (one {"stdout"|"stderr": base64} line on
# stderr), then the kernel. Node writes stdio pipes synchronously on Linux, so the JSON lines are whole.
LAUNCHER = """\
"use strict";
// aiinfra.jsii_direct: jsii's kernel on this process's stdin and stdout, without jsii's relay process.
const forward = (key, write) => function (chunk, encoding, callback) {
  const bytes = Buffer.isBuffer(chunk) ? chunk : Buffer.from(String(chunk), typeof encoding === "string" ? encoding : "utf8");
  return write(JSON.stringify({ [key]: bytes.toString("base64") }) + "\\n", typeof encoding === "function" ? encoding : callback);
};
const toStderr = process.stderr.write.bind(process.stderr);
process.stdout.write = forward("stdout", toStderr);
process.stderr.write = forward("stderr", toStderr);
require("../lib/program.js");
"""


def direct_program(program: str) -> str | None:
    """jsii's kernel program with its API channel on stdin and stdout instead of fd 3, or None when it does not
    name that channel exactly once (another jsii's layout: then the relay stays)."""
    return program.replace(_CHANNEL, _DIRECT) if program.count(_CHANNEL) == 1 else None


def runtime_files() -> dict[str, str] | None:
    """{relative path: text} of the direct runtime for the installed jsii, or None when its kernel program
    does not read and write its channel as this module expects."""
    try:
        embedded = importlib.resources.files("jsii._embedded.jsii")
        program = (embedded / "lib__program.js").read_text(encoding="utf-8")
        worker = (embedded / "lib__runtime-index-worker.js").read_text(encoding="utf-8")
    except (ImportError, OSError, ValueError):
        return None
    direct = direct_program(program)
    if direct is None:
        return None
    # The kernel builds its type index in a worker thread from lib/runtime-index-worker.js, next to the program.
    return {"lib/program.js": direct, "lib/runtime-index-worker.js": worker, "bin/aiinfra-jsii-runtime.js": LAUNCHER}


@contextlib.contextmanager
def kernel_started_directly() -> Iterator[bool]:
    """Within, a jsii kernel that starts runs without the relay (see the module's docstring); yields whether it
    will. The environment is as it was afterwards: only the kernel started inside reads these settings."""
    files = None if os.environ.get(OPT_OUT) == "1" or os.environ.get("JSII_RUNTIME") else runtime_files()
    if files is None:
        yield False
        return
    root = tempfile.mkdtemp(prefix="aiinfra-jsii-")
    atexit.register(shutil.rmtree, root, True)  # registered before jsii's own exit hook, so it runs after the kernel stops
    for rel, text in files.items():
        path = os.path.join(root, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)
    settings = {"JSII_RUNTIME": os.path.join(root, "bin", "aiinfra-jsii-runtime.js"), "NODE_PRESERVE_SYMLINKS": "1"}
    before = {k: os.environ.get(k) for k in settings}
    os.environ.update(settings)
    try:
        yield True
    finally:
        for k, v in before.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
