"""The ``aiinfra`` command line: validate, plan, catalog (no jsii, no network) and synth.

Bad input of any kind: one line per problem on stderr as ``<path>: <message>``, exit 2,
nothing written, no traceback (set AIINFRA_DEBUG=1 to see one for an internal error).
"""

from __future__ import annotations

import atexit
import gc
import os
import sys
import threading
import types
from pathlib import Path

import click

from aiinfra import __version__
from aiinfra.errors import Problem, SpecError

EXIT_BAD_INPUT = 2
# click 8.2 renamed NoArgsIsHelp to NoArgsIsHelpError; a group called bare prints its help.
_NO_ARGS_IS_HELP = getattr(click.exceptions, "NoArgsIsHelpError", getattr(click.exceptions, "NoArgsIsHelp", click.UsageError))


def _fail(problems: list[Problem] | list[str]) -> None:
    for p in problems:
        click.echo(str(p), err=True)
    raise SystemExit(EXIT_BAD_INPUT)


def _write_atomic(path: Path, text: str) -> None:
    """Write a file whole or not at all (tempfile is 20 ms to import: only --out needs it)."""
    from aiinfra._files import write_atomic

    write_atomic(path, text)


def _load_and_plan(spec_path: str):
    from aiinfra.planner import make_plan
    from aiinfra.spec import load_spec

    try:
        loaded = load_spec(spec_path)
    except SpecError as exc:
        _fail(exc.problems)
    plan = make_plan(loaded)
    if plan.errors:
        _fail([str(f) for f in plan.errors])
    return loaded, plan


def _warn(plan, quiet: bool = False) -> None:
    if quiet:
        return
    for f in plan.findings:
        if f.severity == "warning":
            click.echo(f"warning: {f}", err=True)


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="aiinfra")
def cli() -> None:
    """Turn an AI workload requirements spec into a costed GPU plan and CDK for Terraform stacks.

    \b
    aiinfra validate spec.yaml          check the spec (exit 0, or 2 with every problem)
    aiinfra plan spec.yaml              instance types, counts, spot/on-demand, cost, reasons
    aiinfra synth spec.yaml --out cdktf.out   Terraform JSON stacks (cdktf layout)
    aiinfra catalog --cloud aws --gpu H100   the GPU instance catalog with prices
    aiinfra preflight spec.yaml         quotas, zone offerings, reservations, with your credentials
    """


@cli.command()
@click.argument("spec", type=click.Path(dir_okay=False))
@click.option("--strict", is_flag=True, help="Treat warnings (quota headroom, performance targets) as errors.")
def validate(spec: str, strict: bool) -> None:
    """Check SPEC: schema, units, names, clouds, and that every workload can be placed."""
    _, plan = _load_and_plan(spec)
    if strict and plan.warnings:
        _fail([str(f) for f in plan.warnings])
    _warn(plan)
    clouds = ", ".join(plan.clouds())
    click.echo(f"{spec}: valid; {len(plan.workloads)} workloads on {clouds}, {len(plan.warnings)} warnings")


@cli.command()
@click.argument("spec", type=click.Path(dir_okay=False))
@click.option("--format", "fmt", type=click.Choice(["text", "json", "markdown"]), default="text", show_default=True,
              help="text: a table for the terminal; markdown: for a pull request; json: stable, documented in docs/plan-json.md.")
@click.option("--out", type=click.Path(dir_okay=False), help="Write the plan to this file (atomically) instead of stdout.")
@click.option("--strict", is_flag=True, help="Treat warnings as errors.")
def plan(spec: str, fmt: str, out: str | None, strict: bool) -> None:
    """Plan SPEC: per workload the cloud, region, instance type, count, capacity type, cost and why."""
    from aiinfra import render

    _, p = _load_and_plan(spec)
    if strict and p.warnings:
        _fail([str(f) for f in p.warnings])
    text = {"json": render.plan_json, "markdown": render.plan_markdown}.get(fmt, render.plan_text)(p)
    if out:
        _write_atomic(Path(out), text)
        click.echo(f"wrote {out}", err=True)
    else:
        click.echo(text, nl=False)
    if fmt != "text":
        _warn(p)


@cli.command()
@click.argument("spec", type=click.Path(dir_okay=False))
@click.option("--out", default="cdktf.out", show_default=True, type=click.Path(file_okay=False),
              help="Output folder; stacks go to OUT/stacks/<stack>/cdk.tf.json (the cdktf synth layout), replaced whole.")
@click.option("--quiet", "-q", is_flag=True, help="No progress output.")
@click.option("--force", is_flag=True, help="Rebuild even when OUT already holds this spec's output (it is reused by default).")
def synth(spec: str, out: str, quiet: bool, force: bool) -> None:
    """Synthesize SPEC's plan into Terraform JSON: a foundation stack per cloud and region, one stack per workload."""
    gc.enable()  # run() turns the collector off for short commands; synth runs for seconds, through jsii
    from contextlib import nullcontext

    from rich.console import Console

    from aiinfra.synth import synth as do_synth

    loaded, p = _load_and_plan(spec)
    _warn(p, quiet)
    console = Console(stderr=True)
    show = console.is_terminal and not quiet
    status = console.status("planning") if show else nullcontext()
    with status as live:
        def progress(message: str) -> None:
            if live is not None:
                live.update(message)

        names, notes = do_synth(loaded.spec, p, Path(out), progress, force=force)
    for name in names:
        click.echo(f"{Path(out) / 'stacks' / name / 'cdk.tf.json'}")
    # The notes grouped (the same advice per stack once, those needing an action first), then where the
    # whole list is: the last line.
    from aiinfra.notes import publish

    for line in publish(notes, names, out):
        click.echo(line, err=True)


@cli.command()
@click.argument("spec", type=click.Path(dir_okay=False))
@click.option("--plans", "plans_dir", required=True, type=click.Path(file_okay=False),
              help="Folder of `terraform show -json` plans, one per stack, named <stack>.json (and the `terraform plan -destroy` "
                   "of each stack the base spec has and this one retires).")
@click.option("--base-spec", type=click.Path(dir_okay=False),
              help="The spec before the change (the pull request's base): money before -> after, and the stacks it leaves behind.")
@click.option("--format", "fmt", type=click.Choice(["markdown", "json"]), default="markdown", show_default=True)
@click.option("--out", type=click.Path(dir_okay=False), help="Write here instead of stdout (written whole, or not at all).")
@click.option("--checkov/--no-checkov", default=True, show_default=True, help="Add checkov's findings on the plans when it is installed.")
@click.option("--synth-out", default="cdktf.out", show_default=True, type=click.Path(file_okay=False),
              help="The synth's output folder: its policy results and the constructs' waivers are reported when it holds this spec's stacks.")
def review(spec: str, plans_dir: str, base_spec: str | None, fmt: str, out: str | None, checkov: bool, synth_out: str) -> None:
    """One pull-request comment from the stacks' plans: what is destroyed or replaced first, then per
    stack what changes, the money before -> after, the node-hours kept against the plan, the policy
    findings and the architecture. A stack the base spec has and this one does not is named first:
    deploy never destroys it. Exit 3 when a stateful resource (bucket, key, disk, volume) is
    destroyed or replaced, so CI can require an approval."""
    import json as _json

    from aiinfra import review as rv

    loaded, p = _load_and_plan(spec)
    based = _load_and_plan(base_spec) if base_spec else None
    try:
        result = rv.review(loaded.spec, p, Path(plans_dir), based[1] if based else None, checkov=checkov, synth_out=Path(synth_out),
                           base_spec=based[0].spec if based else None)
    except rv.ReviewError as exc:
        _fail([str(exc)])
    text = rv.markdown(result) if fmt == "markdown" else _json.dumps(result.to_dict(), indent=2) + "\n"
    if out:
        _write_atomic(Path(out), text)
    else:
        click.echo(text, nl=False)
    sys.exit(result.exit_code)


@cli.group(invoke_without_command=True)
@click.option("--cloud", type=click.Choice(["aws", "gcp"]), help="Only this cloud.")
@click.option("--gpu", help="Only this GPU model (A100, H100, L4, ...); 'none' for CPU shapes.")
@click.option("--region", help="Only this region.")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@click.pass_context
def catalog(ctx: click.Context, cloud: str | None, gpu: str | None, region: str | None, fmt: str) -> None:
    """List the GPU instance catalog with on-demand and spot prices, cheapest first; rows whose
    price fails the sanity checks are marked (`catalog refresh` rewrites the files from the APIs).

    \b
    aiinfra catalog --cloud gcp --gpu A100
    aiinfra catalog refresh --cloud aws --regions us-east-1,us-west-2 --out my-catalog
    """
    if ctx.invoked_subcommand is not None:
        return
    from aiinfra import render
    from aiinfra.catalog import CatalogError, load_catalog
    from aiinfra.spec import did_you_mean

    try:
        cat = load_catalog()
    except CatalogError as exc:
        _fail([str(exc)])
    gpu_name = None
    if gpu is not None:
        gpu_name = "" if gpu.lower() in ("none", "cpu") else cat.gpu_name(gpu)
        if gpu_name is None:
            _fail([f"--gpu: {did_you_mean(gpu, cat.gpu_names(), 'GPU')}"])
    if region is not None:
        known = sorted({r for c in ([cloud] if cloud else ["aws", "gcp"]) for r in cat.regions(c)})
        if region not in known:
            _fail([f"--region: {did_you_mean(region, known, 'region')}"])
    offers = cat.offers(cloud=cloud, region=region, gpu=gpu_name)
    offers.sort(key=lambda o: (o.gpu, o.gpu_count, o.list_price_usd_hr, o.cloud, o.region))
    click.echo(render.catalog_json(offers) if fmt == "json" else render.catalog_text(offers), nl=False)
    if fmt == "text":
        for f in cat.files[2:]:
            click.echo(f"{f.path.name}: generated {f.generated}; " + "; ".join(f.sources), err=True)


@catalog.command("refresh")
@click.option("--cloud", required=True, type=click.Choice(["aws", "gcp"]), help="The cloud whose catalog file is rewritten.")
@click.option("--regions", multiple=True, metavar="R,R...",
              help="Regions to fetch, comma-separated (or repeat the option); default: the regions the current catalog covers.")
@click.option("--out", type=click.Path(file_okay=False), default=None,
              help="Folder to write <cloud>.csv to (default: the package's catalog folder). Use it with AIINFRA_CATALOG_DIR=OUT.")
@click.option("--project", help="GCP: the project whose API quota the Compute and Billing reads use (default: the credentials' project).")
@click.option("--max-price-move", type=float, default=None, metavar="SHARE",
              help="Report prices that move more than this share against the current catalog (default 0.25).")
@click.option("--timeout", type=float, default=1800.0, show_default=True, help="Seconds the whole refresh may take.")
@click.option("--restart", is_flag=True, help="Ignore the saved progress of an interrupted refresh and fetch every region again.")
def catalog_refresh(cloud: str, regions: tuple[str, ...], out: str | None, project: str | None, max_price_move: float | None,
                    timeout: float, restart: bool) -> None:
    """Rewrite CLOUD's catalog file from the cloud's own APIs with the caller's credentials.

    AWS: ec2 DescribeInstanceTypes / DescribeInstanceTypeOfferings / DescribeSpotPriceHistory and the
    Pricing API; GCP: Compute machine and accelerator types per zone and the Cloud Billing Catalog.
    Progress goes to stderr; each finished region is saved, so an interrupted refresh resumes where it
    stopped. Shapes that disappeared and prices that moved are reported, never dropped silently.
    """
    from aiinfra.catalog import live
    from aiinfra.preflight import PreflightError

    wanted = [r for arg in regions for r in arg.replace(",", " ").split()]
    try:
        report = live.refresh(cloud, wanted or None, Path(out) if out else None, project=project, timeout_s=timeout,
                              max_price_move=max_price_move, restart=restart, progress=lambda m: click.echo(m, err=True))
    except (PreflightError, live.RefreshError) as exc:
        _fail([str(exc)])
    except OSError as exc:  # an --out (or the package folder) that cannot be written
        _fail([f"catalog refresh: cannot write {exc.filename or out}: {exc.strerror or exc}; choose a writable --out"])
    click.echo(report.text(), nl=False)


@cli.command()
@click.argument("spec", type=click.Path(dir_okay=False))
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True,
              help="text: a table (check, current, need, verdict, fix); json: {summary, exit_code, checks: [...]}.")
@click.option("--timeout", type=float, default=120.0, show_default=True, help="Seconds the whole run may take (every API call is bounded by it).")
def preflight(spec: str, fmt: str, timeout: float) -> None:
    """Ask the clouds, with your own credentials, whether SPEC's plan can launch: shapes offered in the
    chosen zones, vCPU / GPU / disk / address quotas for the steady and the peak nodes, named
    reservations. Read-only. Exit 0 when all hold, 1 when a check fails (its fix is in the line),
    2 when a check could not be made (credentials, an API or a region that did not answer)."""
    from aiinfra.preflight import PreflightError
    from aiinfra.preflight import run as pf

    loaded, p = _load_and_plan(spec)
    from aiinfra.catalog import load_catalog

    try:
        checks = pf.run(loaded.spec, p, load_catalog(), timeout, progress=lambda m: click.echo(f"preflight: {m}", err=True))
    except PreflightError as exc:
        _fail([str(exc)])
    click.echo(pf.render_json(checks) if fmt == "json" else pf.render_text(checks), nl=False)
    sys.exit(pf.exit_code(checks))


@cli.command()
@click.argument("spec", type=click.Path(dir_okay=False))
@click.option("--format", "fmt", type=click.Choice(["mermaid", "dot", "svg"]), default="mermaid", show_default=True,
              help="mermaid: a flowchart GitHub renders in Markdown; dot: Graphviz source; svg: rendered by Graphviz's dot "
                   "(`make setup` installs it).")
@click.option("--out", type=click.Path(dir_okay=False), help="Write the diagram to this file (atomically) instead of stdout.")
def graph(spec: str, fmt: str, out: str | None) -> None:
    """Draw SPEC's architecture: per cloud and region the network, key, tiered bucket, alert route and budget,
    each workload's node group (shape, nodes, spot / on-demand, interconnect) and HTTPS endpoint, and every stack
    synth writes, from the plan alone (no synth)."""
    from aiinfra.graph import DotMissing, graph_text

    loaded, p = _load_and_plan(spec)
    try:
        text = graph_text(loaded.spec, p, fmt)
    except DotMissing as exc:
        _fail([str(exc)])
    if out:
        _write_atomic(Path(out), text)
        click.echo(f"wrote {out}", err=True)
    else:
        click.echo(text, nl=False)


def _skip_pydantic_plugin_discovery() -> None:
    """Tell pydantic this process has no plugins, without it looking.

    On its first validator build pydantic imports importlib.metadata and reads the entry
    points of every installed distribution, looking for plugins (validation hooks such as
    logfire's): 40-90 ms of the 0.5 s that ``aiinfra validate`` may take. The aiinfra
    program validates its own spec with its own models and runs no such hooks, so it
    registers in pydantic's place a loader that finds none. Only run() does this, for the
    process it owns; main() called in someone else's process leaves pydantic as it is.
    """
    name = "pydantic.plugin._loader"
    if name not in sys.modules:
        loader = types.ModuleType(name, "aiinfra CLI: no pydantic plugins (see aiinfra.cli)")
        loader.get_plugins = lambda: ()  # type: ignore[attr-defined]
        sys.modules[name] = loader


def main(argv: list[str] | None = None) -> None:
    """Entry point: click in non-standalone mode so every usage error is one line and exit 2."""
    os.environ.setdefault("JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION", "1")
    os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20,21")
    try:
        rc = cli.main(args=argv, prog_name="aiinfra", standalone_mode=False)
        raise SystemExit(rc if isinstance(rc, int) else 0)
    except _NO_ARGS_IS_HELP as exc:
        click.echo(exc.ctx.get_help() if exc.ctx else "", err=True)
        raise SystemExit(EXIT_BAD_INPUT) from None
    except click.UsageError as exc:
        where = f"{exc.ctx.command_path}: " if exc.ctx else ""
        click.echo(f"{where}{exc.format_message()}", err=True)
        raise SystemExit(EXIT_BAD_INPUT) from None
    except click.Abort:
        click.echo("aborted", err=True)
        raise SystemExit(130) from None
    except click.ClickException as exc:
        click.echo(exc.format_message(), err=True)
        raise SystemExit(exc.exit_code) from None
    except SpecError as exc:
        _fail(exc.problems)
    except BrokenPipeError:
        sys.stderr.close()
        raise SystemExit(0) from None
    except Exception as exc:  # an internal error, not the user's input
        if os.environ.get("AIINFRA_DEBUG"):
            raise
        click.echo(f"aiinfra: internal error: {type(exc).__name__}: {exc} (set AIINFRA_DEBUG=1 for a traceback)", err=True)
        raise SystemExit(1) from None


def run() -> None:
    """The ``aiinfra`` program (console script and ``python -m aiinfra.cli``): main() in a
    process of its own, which it may therefore run and leave as cheaply as possible.

    A command is a few hundred milliseconds of allocation that lives until exit, so the cyclic
    garbage collector is off (it would scan the same imported objects again and again: ~2%;
    synth, which runs for seconds, turns it back on),
    and pydantic looks for no plugins (_skip_pydantic_plugin_discovery).
    At the end, the interpreter's teardown (freeing every module and object one by one: ~5%,
    more than planning takes) is skipped with os._exit once stdout and stderr are flushed,
    unless anything could still need it: a registered atexit handler (jsii's, after synth),
    another thread, or a flush that fails (a closed pipe is then reported as it always was).
    """
    gc.disable()
    _skip_pydantic_plugin_discovery()
    try:
        main()
    except SystemExit as exc:
        code = exc.code
        pending_atexit = getattr(atexit, "_ncallbacks", lambda: 1)()  # CPython's count; elsewhere assume some
        if not isinstance(code, int) or pending_atexit or threading.active_count() > 1:
            raise
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        except BaseException:
            raise exc from None
        os._exit(code)


if __name__ == "__main__":
    run()
