"""``aiinfra catalog refresh``: rewrite a cloud's catalog file from the cloud's own APIs.

The fetchers (``live_aws.py``, ``live_gcp.py``) turn one region's API answers into catalog rows;
this driver runs them region by region with progress on stderr, saves each finished region under
``<out>/.refresh-<cloud>/`` so an interrupted refresh resumes where it stopped, compares the result
with the catalog it replaces (shapes that disappeared, prices that moved more than a set share:
reported in the output and in the file's header, never dropped silently) and writes the file
whole or not at all, with the source, the time and the API versions in its header.
"""

from __future__ import annotations

import csv
import datetime
import io
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from aiinfra._files import write_atomic
from aiinfra.catalog import COLUMNS, DATA_DIR, SCHEMA_VERSION, _read
from aiinfra.preflight import Deadline

_REGION = {"aws": r"[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-\d", "gcp": r"[a-z]+-[a-z]+\d+"}
DEFAULT_MAX_PRICE_MOVE = 0.25  # a list price rarely moves a quarter between refreshes; spot does, and is reported too


class RefreshError(Exception):
    """A refresh that cannot go on (bad --regions, an unreadable previous catalog): one line."""


@dataclass
class Report:
    cloud: str
    path: Path
    regions: list[str]
    resumed: list[str] = field(default_factory=list)
    rows: int = 0
    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    moved: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)

    def text(self) -> str:
        lines = [f"wrote {self.path}: {self.rows} rows for {self.cloud} in {', '.join(self.regions)}"
                 + (f" ({', '.join(self.resumed)} resumed from an interrupted refresh)" if self.resumed else "")]
        for title, items in (("removed (no longer offered or priced)", self.removed), ("price moved", self.moved),
                             ("added", self.added), ("missing", self.missing)):
            if items:
                lines.append(f"{title}: {len(items)}")
                lines.extend(f"  {i}" for i in items)
        if self.path.parent.resolve() != DATA_DIR.resolve():
            lines.append(f"use it: AIINFRA_CATALOG_DIR={self.path.parent} aiinfra plan SPEC")
        return "\n".join(lines) + "\n"


def _fetcher(cloud: str, project: str | None, deadline: Deadline, progress: Callable[[str], None]):
    from aiinfra.preflight import PreflightError

    try:
        if cloud == "aws":
            from aiinfra.catalog.live_aws import AwsFetcher

            return AwsFetcher(deadline, progress)
        from aiinfra.catalog.live_gcp import GcpFetcher
    except ImportError as exc:
        raise PreflightError(f"catalog refresh: {exc.name or exc} is not installed: pip install 'cdktf-aiinfra[preflight]' "
                             "(make setup does)") from None
    if not project:
        import google.auth
        import google.auth.exceptions

        try:
            _creds, project = google.auth.default()
        except google.auth.exceptions.DefaultCredentialsError:
            project = None
        if not project:
            raise RefreshError("catalog refresh --cloud gcp: no project: pass --project (its Compute API quota pays for the reads)")
    return GcpFetcher(project, deadline, progress)


def _previous(path: Path) -> list[dict[str, str]]:
    if not path.exists():
        return []
    _header, rows = _read(path)
    return rows


def _key(row: dict[str, str]) -> tuple[str, str]:
    return row["instance_type"], row["region"]


def _moves(old: dict[str, str], new: dict[str, str], share: float) -> list[str]:
    out = []
    for col, what in (("on_demand_usd_hr", "on-demand"), ("spot_usd_hr", "spot")):
        a, b = old.get(col, "").strip(), new.get(col, "").strip()
        if a and b and float(a) > 0 and abs(float(b) - float(a)) / float(a) > share:
            out.append(f"{new['instance_type']} {new['region']}: {what} {a} -> {b} USD/h ({(float(b) - float(a)) / float(a):+.0%})")
        elif a and not b:
            out.append(f"{new['instance_type']} {new['region']}: {what} {a} -> none (no longer sold {what} there)")
    return out


def refresh(cloud: str, regions: list[str] | None, out_dir: Path | None, *, project: str | None = None, timeout_s: float = 1800.0,
            max_price_move: float | None = None, restart: bool = False, progress: Callable[[str], None] = lambda _m: None,
            fetcher=None, now: datetime.datetime | None = None) -> Report:
    """Fetch ``regions`` (default: those the current catalog covers) and write ``<out_dir>/<cloud>.csv``."""
    share = DEFAULT_MAX_PRICE_MOVE if max_price_move is None else max_price_move
    if not 0 < share < 10:
        raise RefreshError(f"--max-price-move: a share such as 0.25, got {share:g}")
    out_dir = out_dir or DATA_DIR
    path = out_dir / f"{cloud}.csv"
    base = path if path.exists() else DATA_DIR / f"{cloud}.csv"
    try:
        previous = _previous(base)
    except Exception as exc:  # CatalogError, csv errors
        raise RefreshError(f"catalog refresh: cannot read the current catalog {base}: {exc}") from None
    known = sorted({r["region"] for r in previous})
    regions = list(dict.fromkeys(regions or known))
    pattern = _REGION[cloud]
    bad = [r for r in regions if not re.fullmatch(pattern, r)]
    if bad:
        raise RefreshError(f"--regions: {', '.join(bad)} {'is not an' if len(bad) == 1 else 'are not'} {cloud.upper()} region name{'' if len(bad) == 1 else 's'} "
                           f"(e.g. {'us-east-1' if cloud == 'aws' else 'us-central1'})")
    if not regions:
        raise RefreshError(f"catalog refresh --cloud {cloud}: name the regions (--regions us-east-1 ...): {base} lists none")
    deadline = Deadline(timeout_s)
    fetcher = fetcher or _fetcher(cloud, project, deadline, progress)
    state = out_dir / f".refresh-{cloud}"
    run_file = state / "run.json"
    saved_run = {} if restart or not run_file.exists() else json.loads(run_file.read_text() or "{}")
    if saved_run.get("regions") == regions:
        run = saved_run  # resume the interrupted refresh of the same regions
    else:
        if state.exists():
            for f in state.glob("*.json"):
                f.unlink()
        state.mkdir(parents=True, exist_ok=True)
        run = {"cloud": cloud, "regions": regions, "api_versions": fetcher.api_versions,
               "started": (now or datetime.datetime.now(datetime.timezone.utc)).isoformat(timespec="seconds")}
        write_atomic(run_file, json.dumps(run))
    report = Report(cloud, path, regions)
    rows: list[dict[str, str]] = []
    for i, region in enumerate(regions, start=1):
        done = state / f"{region}.json"
        if done.exists():
            saved = json.loads(done.read_text())
            report.resumed.append(region)
            progress(f"[{i}/{len(regions)}] {cloud} {region}: resumed ({len(saved['rows'])} rows saved earlier)")
        else:
            progress(f"[{i}/{len(regions)}] {cloud} {region}: fetching")
            region_rows, missing = fetcher.region_rows(region)
            saved = {"rows": region_rows, "missing": missing}
            write_atomic(done, json.dumps(saved))
            progress(f"[{i}/{len(regions)}] {cloud} {region}: {len(region_rows)} shapes")
        rows.extend(saved["rows"])
        report.missing.extend(saved["missing"])
    fetched = set(regions)
    unread = getattr(fetcher, "unread_shapes", frozenset())
    kept = [r for r in previous if r["region"] not in fetched]  # regions not asked for stay as they were
    kept_unread = [r for r in previous if r["region"] in fetched and r["instance_type"] in unread]  # shapes the refresh cannot read
    kept += kept_unread
    old = {_key(r): r for r in previous if r["region"] in fetched and r["instance_type"] not in unread}
    new = {_key(r): r for r in rows}
    report.removed = [f"{t} {r}: was {old[(t, r)]['on_demand_usd_hr'] or 'spot ' + old[(t, r)]['spot_usd_hr']} USD/h"
                      for t, r in sorted(set(old) - set(new))]
    report.added = [f"{t} {r}" for t, r in sorted(set(new) - set(old))]
    for k in sorted(set(old) & set(new)):
        report.moved.extend(_moves(old[k], new[k], share))
    all_rows = sorted(kept + rows, key=lambda r: (r["instance_type"], r["region"]))
    report.rows = len(all_rows)
    started = run.get("started", "")
    header = [
        "# aiinfra GPU instance catalog",
        f"# cloud: {cloud}",
        f"# schema_version: {SCHEMA_VERSION}",
        f"# generated: {started}",
        f"# prices_as_of: {started[:10]}",
        *(f"# source: {s}" for s in fetcher.sources()),
        f"# source: api versions {', '.join(f'{k} {v}' for k, v in sorted(run.get('api_versions', fetcher.api_versions).items()))}",
        f"# source: aiinfra catalog refresh --cloud {cloud} --regions {' '.join(regions)}, started {started}",
        *(f"# choice: {c}" for c in fetcher.choices()),
        *(f"# note: kept from the previous catalog ({base.name}): region {r}" for r in sorted({r['region'] for r in kept} - fetched)),
        *([f"# note: kept from the previous catalog ({base.name}) in the refreshed regions, not read by this refresh: "
           f"{', '.join(sorted({r['instance_type'] for r in kept_unread}))}"] if kept_unread else []),
        *(f"# removed: {x}" for x in report.removed),
        *(f"# moved: {x} (more than {share:.0%})" for x in report.moved),
        *(f"# missing: {m}" for m in report.missing),
    ]
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=list(COLUMNS), lineterminator="\n")
    w.writeheader()
    for r in all_rows:
        w.writerow({c: r.get(c, "") for c in COLUMNS})
    write_atomic(path, "\n".join(header) + "\n" + buf.getvalue())
    for f in state.glob("*.json"):
        f.unlink()
    state.rmdir()
    return report
