"""synth's notes as a human reads them (aiinfra.notes): the same advice per stack told once with the
stacks it concerns, the notes that need an action first, the whole list in the output folder's
notes.txt, named on the last line."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from aiinfra.notes import NOTES_FILE, group, needs_action, render
from tests.conftest import ROOT

NAMES = ["acme-ml-production-aws-foundation", "acme-ml-production-aws-fraud-detection-training",
         "acme-ml-production-aws-recommendation-inference", "acme-ml-production-aws-feature-etl", "acme-ml-production-aws-dashboard"]
T, R, E = NAMES[1], NAMES[2], NAMES[3]
NOTES = [
    f"{NAMES[0]}: Inspector scans EC2 through SSM Agent or from EBS snapshots (agentless); the account's EC2 scan mode is left at its default.",
    f"{T}: no image for fraud-detection-training: no node starts until an image is given (its run schedule exists but starts zero nodes); "
    "pass -var 'image=<registry>/<image>:<tag>' (or set image: on the workload) to run it",
    f"{T}: 4 alarms notify nobody (the alerts topic has no subscription: alarms show in CloudWatch only); set clouds.aws.alert_emails to "
    "subscribe e-mail addresses",
    f"{R}: no image for recommendation-inference: no node starts until an image is given (its serving group stays at zero nodes); "
    "pass -var 'image=<registry>/<image>:<tag>' (or set image: on the workload) to run it",
    f"{R}: 6 alarms notify nobody (the alerts topic has no subscription: alarms show in CloudWatch only); set clouds.aws.alert_emails to "
    "subscribe e-mail addresses",
    f"{E}: 3 alarms notify nobody (the alerts topic has no subscription: alarms show in CloudWatch only); set clouds.aws.alert_emails to "
    "subscribe e-mail addresses",
    f"AIINFRA-AWS-009 {T}/identity/unscoped-reads: suppressed (construct): read-only Describe* support no resource-level permissions",
    f"AIINFRA-AWS-009 {R}/identity/unscoped-reads: suppressed (construct): read-only Describe* support no resource-level permissions",
]


def test_the_same_advice_per_stack_is_one_group_naming_its_stacks():
    groups = group(NOTES + [NOTES[2]], NAMES)  # the very same note twice counts once
    assert [len(g.notes) for g in groups] == [2, 3, 1, 2]
    alarms = groups[1]
    assert alarms.text == NOTES[2] and alarms.stacks == [T, R, E] and alarms.action
    assert groups[3].stacks == [T, R] and not groups[3].action  # a waiver, for the record


def test_notes_needing_an_action_come_first_and_the_last_line_names_the_file():
    lines = render(NOTES, NAMES, "cdktf.out/notes.txt")
    assert lines[0] == f"note: ACTION {NOTES[1]} [likewise 1 more: recommendation-inference]"
    assert lines[1] == f"note: ACTION {NOTES[2]} [likewise 2 more: recommendation-inference, feature-etl]"
    assert lines[2] == f"note: {NOTES[0]}" and lines[3].startswith(f"note: {NOTES[6]} [likewise 1 more: ")
    assert lines[-1] == "note: 8 notes (5 need an action) in 4 groups above; the whole list, one a line: cdktf.out/notes.txt"
    assert not needs_action(NOTES[0]) and needs_action(NOTES[4])


def test_a_group_over_many_stacks_names_a_few_and_counts_the_rest():
    served = [f"acme-ml-production-aws-serve-{i}" for i in range(100)]
    notes = [f"{n}: 4 alarms notify nobody (the alerts topic has no subscription: alarms show in CloudWatch only); set "
             "clouds.aws.alert_emails to subscribe e-mail addresses" for n in served]
    [line, last] = render(notes, ["acme-ml-production-aws-foundation", *served], "cdktf.out/notes.txt")
    assert line.endswith(" [likewise 99 more: serve-1, serve-2, serve-3, serve-4, serve-5, serve-6, serve-7, serve-8 and 91 others]")
    assert line.count("serve-") == 9  # the first, and 8 beside it
    assert last.startswith("note: 100 notes (100 need an action) in 1 groups above; the whole list")


def synth(spec, out):
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    return subprocess.run([sys.executable, "-m", "aiinfra.cli", "synth", str(spec), "--out", str(out), "-q"], capture_output=True, text=True,
                          env=env, cwd=out.parent, timeout=300)


def test_synth_prints_the_notes_grouped_and_writes_every_one_to_the_output_folder(tmp_path):
    out = tmp_path / "cdktf.out"
    r = synth(ROOT / "examples" / "reference.yaml", out)
    assert r.returncode == 0, r.stderr
    every = (out / NOTES_FILE).read_text().splitlines()
    printed = [line for line in r.stderr.splitlines() if line.startswith("note: ")]
    assert len(every) >= 25 and len(printed) < len(every)  # fewer lines than notes: the same advice is told once
    assert printed[-1].endswith(f"the whole list, one a line: {out / NOTES_FILE}") and r.stderr.rstrip().endswith(str(out / NOTES_FILE))
    told = printed[:-1]
    actions = [i for i, line in enumerate(told) if line.startswith("note: ACTION ")]
    assert actions == list(range(len(actions))) and 0 < len(actions) < len(told)  # the actions first
    for note in every:  # each note is printed, or its stack named beside the note that gives the same advice
        stack = note.split(": ", 1)[0].split(" ")[-1].split("/")[0]
        assert any(note in line for line in told) or any(stack.removeprefix("acme-ml-production-") in line and "[likewise" in line
                                                         for line in told), note
    assert not any(n.startswith("nothing changed") for n in every)
    # The notes file is not synth output: the next synth of the same spec still reuses the folder, and keeps the file.
    again = synth(ROOT / "examples" / "reference.yaml", out)
    assert "nothing changed since the last synth" in again.stderr
    assert (out / NOTES_FILE).read_text().splitlines() == every
    assert json.loads((out / ".aiinfra-synth.json").read_text())["notes"] == every
