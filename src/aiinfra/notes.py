"""synth's notes as a human reads them: the same advice given per stack (an image to pass, alarms
that notify nobody, a policy waiver) told once with the stacks it concerns, the notes that need an
action before or at apply first, and the whole list, one note a line, in a file in the output folder."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

NOTES_FILE = "notes.txt"  # in synth's output folder: every note, one a line, as synth made them

# What marks a note that needs someone to do something before or at apply: a value to pass or set,
# a grant or an activation only an administrator can make, a command to run. Everything else is
# what the stacks do or leave out, for the record.
_ACTION = re.compile(
    r"-var '|\bpass (the|its)\b|\bset (clouds\.|image:|[a-z_]+\.[a-z_.]+)|\b(must be activated|activate|grant|lock each|allow that principal)\b"
    r"|\bneeds roles/|apply -replace=|`terraform destroy`|\bterraform import\b|\bit counts nothing\b|\bnotify nobody\b", re.I)
_POLICY = re.compile(r"^(AIINFRA-[A-Z]+-\d+) (\S+?): ")
_STACK = re.compile(r"^([a-z][a-z0-9-]*-(?:aws|gcp)-[a-z0-9-]+): ")  # naming.stack_name: <project>-<environment>-<cloud>-<part>


@dataclass
class NoteGroup:
    """Notes that give the same advice, each about its own stack (or waived resource)."""

    text: str  # the first note, whole
    action: bool
    stacks: list[str] = field(default_factory=list)  # where it applies, in synth's order (short names)
    notes: list[str] = field(default_factory=list)


def _subject(note: str, names: list[str]) -> tuple[str, str]:
    """(the stack the note is about, the note without it)."""
    m = _POLICY.match(note)
    if m:
        stack = next((n for n in names if m[2] == n or m[2].startswith(n + "/")), "")
        return stack, note.replace(stack, "{stack}", 1) if stack else note
    stack = next((n for n in sorted(names, key=len, reverse=True) if note.startswith(n + ": ")), "")
    if not stack:  # a stack this synth no longer makes (the previous synth's): named as stacks are
        m = _STACK.match(note)
        stack = m[1] if m else ""
    return stack, note[len(stack) + 2:] if stack else note


def _short(stack: str, names: list[str]) -> str:
    """A stack's name without the prefix every stack shares (acme-ml-production-aws-x -> aws-x)."""
    if len(names) < 2:
        return stack
    prefix = names[0]
    for n in names[1:]:
        while not n.startswith(prefix):
            prefix = prefix[:-1]
    prefix = prefix[:prefix.rfind("-") + 1] if "-" in prefix else ""
    return stack[len(prefix):] or stack


def _key(text: str, stack: str) -> str:
    """What stays of a note's advice once the stack's own words are out: its workload's name (the stack
    name's last part, and its longer tails), every number and the asides in parentheses."""
    parts = stack.split("-")
    for i in range(1, len(parts)):
        tail = "-".join(parts[i:])
        if len(tail) >= 3:
            text = text.replace(tail, "{workload}")
    return re.sub(r"\d[\d,.]*", "#", re.sub(r" ?\([^()]*\)", "", text))


def needs_action(note: str) -> bool:
    return not note.startswith("AIINFRA-") and bool(_ACTION.search(note))


def group(notes: list[str], names: list[str]) -> list[NoteGroup]:
    """The notes as groups of the same advice, in their first note's order, those needing an action first."""
    groups: dict[str, NoteGroup] = {}
    for note in dict.fromkeys(notes):  # the very same note twice is one
        stack, rest = _subject(note, names)
        key = _key(rest, stack) if stack else note
        g = groups.get(key)
        if g is None:
            g = groups[key] = NoteGroup(note, needs_action(note))
        g.notes.append(note)
        if stack and stack not in g.stacks:
            g.stacks.append(stack)
    return sorted(groups.values(), key=lambda g: not g.action)


# The other stacks named beside a group's note; the rest are counted (every note is in the notes file).
NAMED_AT_MOST = 8


def render(notes: list[str], names: list[str], notes_path: str) -> list[str]:
    """The lines synth prints: each group once, ``note: ACTION ...`` first, the other stacks a group's
    advice applies to after it, and last where the whole list is."""
    out = []
    for g in group(notes, names):
        line = f"note: {'ACTION ' if g.action else ''}{g.text}"
        others = [_short(s, names) for s in g.stacks[1:]]
        if len(others) > NAMED_AT_MOST:  # a line a reviewer reads, not a list of 99 stacks: they are all in the file
            line += f" [likewise {len(others)} more: {', '.join(others[:NAMED_AT_MOST])} and {len(others) - NAMED_AT_MOST} others]"
        elif others:
            line += f" [likewise {len(others)} more: {', '.join(others)}]"
        out.append(line)
    if notes:
        actions = sum(1 for n in dict.fromkeys(notes) if needs_action(n))
        out.append(f"note: {len(notes)} notes ({actions} need an action) in {len(out)} groups above; the whole list, one a line: {notes_path}")
    return out


def publish(notes: list[str], names: list[str], out_dir) -> list[str]:
    """Write the notes of the output as it stands to ``out_dir/NOTES_FILE`` (only when they changed: a
    reused output keeps its file as it was) and return the lines to print (``render``). ``aiinfra
    synth`` and the cdktf / cdktn app (main.py) both publish this way, so their outputs are the same."""
    from pathlib import Path

    from aiinfra._files import write_atomic
    from aiinfra.synth import REUSED_NOTE

    path = Path(out_dir) / NOTES_FILE
    text = "".join(f"{n}\n" for n in notes if not n.startswith(REUSED_NOTE))
    try:
        unchanged = path.read_text() == text
    except OSError:
        unchanged = not text
    if not unchanged:
        write_atomic(path, text)
    return render(notes, names, str(path))
