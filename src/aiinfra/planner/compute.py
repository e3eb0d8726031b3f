"""Compute placement for one workload: cloud, region, zones, instance type, node count,
capacity type (on-demand / spot / mixed) and cost, each with the reason it was chosen.

The search is SkyPilot's: enumerate every shape that satisfies the ask in every cloud and
region the workload may use, cost each, take the cheapest, and keep the runners-up so the
reviewer sees what was passed over and by how much.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable

from aiinfra.catalog import Catalog, InstanceOffer
from aiinfra.cron import Cron, hours_text
from aiinfra.planner import memory, rules, serving
from aiinfra.planner import schedule as batch
from aiinfra.planner.model import Alternative, WorkloadPlan
from aiinfra.spec.autoscaling import bounds as hpa_bounds
from aiinfra.spec.autoscaling import vm_scaling as hpa_scaling
from aiinfra.spec.models import Spec, Workload
from aiinfra.spec.units import GpuAsk, format_bytes, format_params, parse_gpu_ask

GIB = 2**30
AddFinding = Callable[[str, str, str], None]


@dataclass
class Option:
    """One way to run a workload: a shape in a region with node counts and cost."""

    cloud: str
    region: str
    offer: InstanceOffer
    nodes: int
    min_nodes: int
    max_nodes: int
    zones: list[str]
    capacity: str
    on_demand_base: int
    hours_per_month: float
    hourly_usd: float
    on_demand_hourly_usd: float
    replica_qps: float | None = None
    runtime_hours: float = 0.0
    notes: dict[str, str] = field(default_factory=dict)

    @property
    def monthly_usd(self) -> float:
        return self.hourly_usd * self.hours_per_month


@dataclass
class Decision:
    """Whether a workload runs on spot, and why."""

    spot: bool
    reason: str


def spot_decision(spec: Spec, w: Workload) -> Decision:
    if w.reservation and w.capacity_block:
        return Decision(False, f"launches into Capacity Block {w.reservation} (paid in full when it was bought; the nodes run only "
                               "between its start and end dates); costed here at on-demand rates")
    if w.reservation:
        return Decision(False, f"launches into capacity reservation {w.reservation}, so on-demand (a reservation is billed for its "
                               "whole term whether the nodes use it or not)")
    if w.spot is not None:
        return Decision(w.spot, f"spot: {str(w.spot).lower()} set on the workload")
    env = spec.environment
    sched = spec.cost_optimization.scheduling if spec.cost_optimization else None
    if sched is not None and sched.preemptible_vms is not None:
        pre = sched.preemptible_vms
        if (pre == "development_environments" and env == "development") or (pre == "non_production_environments" and env != "production") or pre == "all_environments":
            return Decision(True, f"cost_optimization.scheduling.preemptible_vms is {pre} and the environment is {env}")
    if sched is not None and sched.spot_instances is not None:
        si = sched.spot_instances
        if si == "none":
            return Decision(False, "cost_optimization.scheduling.spot_instances is none")
        if si == "all_workloads":
            return Decision(True, "cost_optimization.scheduling.spot_instances is all_workloads")
        critical = w.type == "inference"
        if critical:
            return Decision(False, "serving is critical: cost_optimization.scheduling.spot_instances covers non_critical_workloads only")
        return Decision(True, f"{w.type.replace('_', ' ')} is non-critical (checkpointed, restartable) and cost_optimization.scheduling.spot_instances is non_critical_workloads")
    if env == "development":
        return Decision(True, "development environments default to spot")
    return Decision(False, f"{env} environments default to on-demand; set spot: true on the workload to change it")


def targets(spec: Spec, w: Workload, catalog: Catalog) -> list[tuple[str, str]]:
    """(cloud, region) pairs this workload may run in."""
    clouds = [w.cloud] if w.cloud else spec.clouds.configured()
    if w.region:
        return [(c, w.region) for c in clouds if w.region in catalog.regions(c)]
    return [(c, spec.clouds.region(c)) for c in clouds]


def _price(o: InstanceOffer, spot: bool) -> tuple[float, bool] | None:
    """Hourly price and whether it is a spot price (spot wanted but not sold -> on-demand);
    None when the shape cannot be had that way (on-demand of a spot-only shape)."""
    if spot and o.spot_usd_hr is not None:
        return o.spot_usd_hr, True
    if o.on_demand_usd_hr is None:
        return None
    return o.on_demand_usd_hr, False


def accelerators_for(catalog: Catalog, gpu_name: str, count: int, memory_gib: int, precision: str) -> tuple[serving.Accelerators, str] | None:
    """``count`` of a catalog part as the serving model reads them (bandwidth 0 when the catalog has
    none: only language models need it), and the math they run at; None for a part the catalog lacks."""
    gpu = catalog.gpus.get(gpu_name)
    if gpu is None:
        return None
    bw = gpu.bandwidth_gb_s(memory_gib) or 0.0
    tflops, math_label = serving.tensor_tflops(precision, gpu.fp16_tensor_tflops, getattr(gpu, "fp8_tensor_tflops", None),
                                               getattr(gpu, "int8_tensor_tops", None))
    return serving.Accelerators(gpu_name, count, float(memory_gib), bw, tflops, rules.SUSTAINED_SHARE.get(gpu_name, 1.0)), math_label


def accelerators(catalog: Catalog, o: InstanceOffer, precision: str) -> tuple[serving.Accelerators, str] | None:
    """One replica of ``o`` (accelerators_for its part and count)."""
    return accelerators_for(catalog, o.gpu, o.gpu_count, o.gpu_memory_gib, precision)


def _rate(x: float) -> str:
    """A rate as a reviewer reads it: 1,676 / 15.2 / 0.5."""
    return f"{x:,.0f}" if x >= 100 else f"{x:.3g}"


def zone_loss_replicas(qps: float, replica_qps: float, zones: int) -> int:
    """The fewest replicas, spread evenly over ``zones``, whose survivors of one lost zone still
    serve ``qps`` (each at its full modelled throughput, which holds the latency target by construction)."""
    n = max(zones, math.ceil(qps / replica_qps))
    while n - math.ceil(n / zones) < qps / replica_qps:
        n += 1
    return n


def availability_zones(availability: float | None, environment: str) -> tuple[int, str]:
    zones = 1
    why = "no availability requirement"
    if availability is not None:
        zones = next(z for threshold, z in rules.AVAILABILITY_ZONES if availability >= threshold)
        why = f"availability {availability:g}% needs {zones} zone{'s' if zones > 1 else ''}"
    if environment == "production" and zones < rules.PRODUCTION_MIN_ZONES:
        zones = rules.PRODUCTION_MIN_ZONES
        why += f"; production runs in at least {rules.PRODUCTION_MIN_ZONES} zones"
    return zones, why


class WorkloadPlanner:
    """Plans one workload. ``add(severity, path, message)`` records findings."""

    def __init__(self, spec: Spec, catalog: Catalog, index: int, w: Workload, add: AddFinding):
        self.spec, self.catalog, self.w, self.add = spec, catalog, w, add
        self.path = f"workload_inventory[{index}]"
        self.decision = spot_decision(spec, w)
        self.notes: dict[str, str] = {}
        # Set while planning: the memory the model needs (memory.py) and, per shape, the LLM
        # throughput arithmetic; the reasons read them back.
        self.serving_need: memory.ServingNeed | None = None
        self.training_need: memory.TrainingNeed | None = None
        self.llm_why: dict[str, str] = {}
        self.latency_why: dict[str, str] = {}
        self.latency_s: dict[str, float] = {}  # a request's modelled whole-response time on a shape (serving.py)

    # ---- shared -------------------------------------------------------------------

    def _runs_and_runtime(self, region: str) -> tuple[float, float]:
        """Runs a month (from the start schedule, batch.start_schedule) and the expected runtime of one."""
        w, perf = self.w, self.spec.performance_requirements
        start = batch.start_schedule(self.spec, w, region)
        if isinstance(start, str):
            self.add("error", f"{self.path}.training_frequency", start)
            start = batch.StartSchedule(None, 0.0, start)
        self.start = start
        if w.training_frequency is None and w.schedule is None:
            self.add("info", f"{self.path}.training_frequency", f"not given; {start.reason.split(': ', 1)[1]}")
        runtime_h = w.estimated_runtime / 3600 if w.estimated_runtime else None
        if runtime_h is None and w.type == "training":
            limit = perf.training.max_training_time if perf and perf.training and perf.training.max_training_time else None
            runtime_h = limit / 3600 if limit else rules.DEFAULT_RUNTIME_HOURS
            source = "performance_requirements.training.max_training_time" if limit else "the default"
            self.add("info", f"{self.path}.estimated_runtime", f"not given; costed at {runtime_h:g} hours from {source}")
        return start.runs_per_month, runtime_h or 0.0

    def _check_overlap(self, runtime_h: float) -> bool:
        """False (with an error) when one run outlasts the time to the next start."""
        gap = Cron.parse(self.start.cron).shortest_gap_hours() if self.start.cron else None
        if gap is not None and runtime_h >= gap:
            self.add("error", f"{self.path}.estimated_runtime", f"a run takes {hours_text(runtime_h)} but runs start every {hours_text(gap)} "
                     f"({self.start.cron!r}): runs would overlap; start them less often or shorten them")
            return False
        return True

    def _model_parameters(self) -> int | None:
        return self.w.model_size.estimated_parameters if self.w.model_size else None

    def _gpu_offers(self, cloud: str, region: str, gpu: str, memory_gib: int | None) -> list[InstanceOffer]:
        return [o for o in self.catalog.offers(cloud, region, gpu) if memory_gib is None or o.gpu_memory_gib >= memory_gib]

    # ---- training (and any workload with a GPU ask) --------------------------------

    def _gpu_ask(self) -> GpuAsk | None:
        w = self.w
        if w.gpu_requirements is not None:
            return GpuAsk(w.gpu_requirements.count, self.catalog.gpu_name(w.gpu_requirements.model) or w.gpu_requirements.model,
                          w.gpu_requirements.memory_gib)
        return None

    def training_options(self, tgts: list[tuple[str, str]]) -> list[Option]:
        ask = self._gpu_ask()
        runs, runtime_h = self._runs_and_runtime(tgts[0][1] if tgts else "")
        if not self._check_overlap(runtime_h):
            return []
        hours = runs * runtime_h
        self.notes["hours"] = f"{runs:.3g} run{'' if runs == 1 else 's'} a month x {runtime_h:.3g} h = {hours:.0f} h a month"
        options: list[Option] = []
        infeasible: list[str] = []
        tneed = memory.training_need(self.w.model_size, self.w.training_method) if self.w.type == "training" else None
        self.training_need = tneed
        for cloud, region in tgts:
            if ask is None:
                found = self._inferred_training_shapes(cloud, region, tneed)
            else:
                found = self._asked_shapes(cloud, region, ask, infeasible)
                if tneed is not None:
                    fits = []
                    for offer, nodes in found:
                        ok, why = tneed.fit(nodes * offer.gpu_count, offer.gpu_memory_gib)
                        if ok:
                            fits.append((offer, nodes))
                        else:
                            per_node = offer.gpu_count
                            need_gpus = math.ceil(tneed.gpus_needed(offer.gpu_memory_gib) / per_node) * per_node
                            infeasible.append(f"{ask} on {offer.instance_type} in {region}: {why}; ask for {need_gpus}x {offer.gpu}"
                                              + (f"-{offer.gpu_memory_gib}GB" if offer.gpu == "A100" else ""))
                    found = fits
            for offer, nodes in found:
                opt = self._fixed_option(cloud, region, offer, nodes, hours)
                if opt is not None:
                    opt.runtime_hours = runtime_h
                    options.append(opt)
        if not options:
            where = ", ".join(f"{c} {r}" for c, r in tgts)
            what = str(ask) if ask else "the model"
            detail = "; ".join(infeasible) if infeasible else f"no shape holds {what} in {where}"
            self.add("error", f"{self.path}.gpu_requirements", detail)
        return options

    def _asked_shapes(self, cloud: str, region: str, ask: GpuAsk, infeasible: list[str]) -> list[tuple[InstanceOffer, int]]:
        cands = self._gpu_offers(cloud, region, ask.model, ask.memory_gib)
        if not cands:
            mem = f" with {ask.memory_gib}GB" if ask.memory_gib else ""
            regions = sorted({o.region for o in self.catalog.offers(cloud=cloud, gpu=ask.model) if ask.memory_gib is None or o.gpu_memory_gib >= ask.memory_gib})
            infeasible.append(f"no {cloud} shape offers {ask.model}{mem} in {region}" + (f" (offered in: {', '.join(regions)})" if regions else ""))
            return []
        largest = max(o.gpu_count for o in cands)
        if ask.count <= largest:
            fits = [o for o in cands if o.gpu_count >= ask.count]
            smallest = min(o.gpu_count for o in fits)
            if smallest != ask.count:
                self.notes.setdefault("rounding", f"no {ask.count}-GPU {ask.model} shape in {region}; the smallest that holds {ask.count} has {smallest}")
            return [(o, 1) for o in fits]
        if ask.count % largest:
            lo, hi = (ask.count // largest) * largest, math.ceil(ask.count / largest) * largest
            infeasible.append(f"{ask} does not fill whole nodes in {cloud} {region}: the largest {ask.model} shape holds {largest} GPUs; ask for {lo or largest}x or {hi}x")
            return []
        nodes = ask.count // largest
        return [(o, nodes) for o in cands if o.gpu_count == largest]

    def _inferred_training_shapes(self, cloud: str, region: str, tneed: memory.TrainingNeed | None) -> list[tuple[InstanceOffer, int]]:
        need_gb = tneed.unsharded_gb if tneed else 0.0
        if tneed:
            self.notes["inferred_gpu"] = (f"no gpu_requirements: {tneed.basis()} = {memory.fmt_gb(tneed.state_gb)} + "
                                          f"{rules.ACTIVATION_OVERHEAD - 1:.0%} activations = {memory.fmt_gb(need_gb)} of GPU memory, "
                                          "sharded over the node's GPUs")
        cands = [o for o in self.catalog.offers(cloud, region) if o.gpu in rules.TRAINING_GPUS]
        single = [(o, 1) for o in cands if o.total_gpu_memory_gib >= need_gb]
        if single or not cands:
            return single
        biggest = max(o.total_gpu_memory_gib for o in cands)
        nodes = math.ceil(need_gb / biggest)
        return [(o, nodes) for o in cands if o.total_gpu_memory_gib == biggest and (o.gpudirect or nodes == 1)]

    def _fixed_option(self, cloud: str, region: str, o: InstanceOffer, nodes: int, hours: float) -> Option | None:
        priced = _price(o, self.decision.spot)
        if priced is None:
            return None
        price, is_spot = priced
        zones = list(o.zones[:1]) if nodes > 1 else list(o.zones)
        return Option(cloud, region, o, nodes, nodes, nodes, zones, "spot" if is_spot else "on_demand", 0 if is_spot else nodes,
                      hours, nodes * price, nodes * o.list_price_usd_hr)

    # ---- inference -------------------------------------------------------------------

    def _availability(self) -> float | None:
        perf = self.spec.performance_requirements
        if self.w.availability_requirement is not None:
            return self.w.availability_requirement
        if perf and perf.inference and perf.inference.availability is not None:
            self.notes["availability"] = "availability from performance_requirements.inference.availability"
            return perf.inference.availability
        return None

    def _target_utilization(self) -> float:
        co = self.spec.cost_optimization
        if co and co.right_sizing and co.right_sizing.target_utilization:
            return co.right_sizing.target_utilization[0] / 100
        return rules.DEFAULT_TARGET_UTILIZATION

    def _latency_target_s(self) -> tuple[float | None, str]:
        """The response time a request must meet (seconds) and the key it comes from."""
        w, perf = self.w, self.spec.performance_requirements
        if w.latency_sla:
            return w.latency_sla / 1000, f"{self.path}.latency_sla"
        if perf and perf.inference and perf.inference.p95_latency:
            return perf.inference.p95_latency / 1000, "performance_requirements.inference.p95_latency"
        return None, ""

    def _measured_on(self, o: InstanceOffer) -> bool | None:
        """Whether ``o`` is the shape replica_qps was measured on (None: no replica_qps)."""
        w = self.w
        if not w.replica_qps:
            return None
        where = w.replica_qps_measured_on
        if where is None and w.gpu_requirements is not None:
            return True  # the candidates are the shapes gpu_requirements selects
        if where is None:
            return False
        if where == o.instance_type:
            return True
        try:
            ask = parse_gpu_ask(where)
        except ValueError:
            return False
        return o.gpu == (self.catalog.gpu_name(ask.model) or ask.model) and o.gpu_count == ask.count and (
            ask.memory_gib is None or o.gpu_memory_gib >= ask.memory_gib)

    def inference_options(self, tgts: list[tuple[str, str]]) -> list[Option]:
        w = self.w
        qps = w.expected_qps or 0.0
        ask = self._gpu_ask()
        params = self._model_parameters() or rules.DEFAULT_SERVING_PARAMETERS
        need = memory.serving_need(w.model_size, w.precision)
        need_gb = need.need_gb if need else 0.0
        self.serving_need = need
        too_small: list[InstanceOffer] = []
        util = self._target_utilization()
        growth = self.spec.growth_forecast.qps_growth if self.spec.growth_forecast and self.spec.growth_forecast.qps_growth else 1.0
        availability = self._availability()
        zones_needed, zones_why = availability_zones(availability, self.spec.environment)
        survive_zone = availability is not None and availability >= rules.ZONE_LOSS_AVAILABILITY and zones_needed > 1
        self.notes["zones"] = zones_why
        target_s, target_key = self._latency_target_s()
        if w.replica_qps and w.replica_qps_measured_on is None and w.gpu_requirements is None:
            self.add("error", f"{self.path}.replica_qps", "say which shape replica_qps was measured on: gpu_requirements (the replica's "
                     "accelerators) or replica_qps_measured_on ('8x H200' or an instance type such as p5en.48xlarge); a measured "
                     "throughput is never applied to other shapes")
            return []
        options: list[Option] = []
        short_of_zones: list[str] = []
        too_slow: dict[str, str] = {}
        not_measured: list[str] = []
        for cloud, region in tgts:
            if ask is not None:
                cands = self._gpu_offers(cloud, region, ask.model, ask.memory_gib)
                exact = [o for o in cands if o.gpu_count == ask.count]
                cands = exact or [o for o in cands if o.gpu_count >= ask.count]
                too_small += [o for o in cands if o.total_gpu_memory_gib < need_gb]
                cands = [o for o in cands if o.total_gpu_memory_gib >= need_gb]  # one replica holds the model (memory.py)
            else:
                # Unasked, only CUDA parts: a Neuron or TPU replica needs its own image (rules.ACCELERATOR_RUNTIME).
                cands = [o for o in self.catalog.offers(cloud, region) if o.gpu and o.total_gpu_memory_gib >= need_gb
                         and o.gpu in self.catalog.gpus and self.catalog.gpus[o.gpu].vendor == "nvidia"]
                fewest: dict[str, int] = {}
                for o in cands:
                    fewest[o.gpu] = min(fewest.get(o.gpu, 99), o.gpu_count)
                cands = [o for o in cands if o.gpu_count == fewest[o.gpu]]
            for o in cands:
                if len(o.zones) < zones_needed:
                    short_of_zones.append(f"{o.instance_type} ({len(o.zones)} zone{'s' if len(o.zones) != 1 else ''} in {region})")
                    continue
                measured = self._measured_on(o)
                if measured is False:
                    not_measured.append(o.instance_type)
                    continue
                if measured:
                    rq = w.replica_qps
                    self._replica_qps(o, params, need, None)  # the modelled response time only (the endpoint's timeouts)
                else:
                    got = self._replica_qps(o, params, need, target_s)
                    if got is None:
                        too_slow.setdefault(o.instance_type, self.latency_why.get(o.instance_type, ""))
                        continue
                    rq = got
                desired = math.ceil(qps / (rq * util))
                min_r = max(desired, zones_needed)
                zone_note = ""
                if survive_zone:
                    held = zone_loss_replicas(qps, rq, zones_needed)
                    if held > min_r:
                        zone_note = (f"; {held} so that losing one of {zones_needed} zones ({math.ceil(held / zones_needed)} replicas) "
                                     f"leaves {held - math.ceil(held / zones_needed)} x {_rate(rq)} qps >= the {qps:g} qps peak")
                        min_r = held
                max_r = max(min_r, math.ceil(qps * growth * rules.BURST_HEADROOM / (rq * util)))
                min_n, hpa_note = min_r, {}
                if w.autoscaling is not None:
                    # The guide's HPA bounds the replicas (SPEC.md v3): min_nodes / max_nodes are its minReplicas /
                    # maxReplicas, and the replicas costed are what it runs at the expected qps, held within them: the
                    # expected qps over its requests_per_second target when it has one (the HPA's desired replicas,
                    # https://kubernetes.io/docs/tasks/run-application/horizontal-pod-autoscale/#algorithm-details),
                    # else the plan's need.
                    min_n, max_r = hpa_bounds(w.autoscaling)
                    rps = hpa_scaling(w.autoscaling)[1]
                    runs = math.ceil(round(qps / rps, 6)) if rps else min_r
                    hpa_note = {"hpa_need": str(min_r), "hpa_runs": str(runs)}
                    min_r = min(max(runs, min_n), max_r)
                od = o.on_demand_usd_hr
                priced = _price(o, self.decision.spot)
                if priced is None:
                    continue
                price, is_spot = priced
                if is_spot:
                    base = min(zones_needed, min_r) if availability is not None else 0
                    if base and od is None:
                        continue  # a spot-only shape cannot hold the on-demand base
                    hourly = base * (od or 0.0) + (min_r - base) * price
                    capacity = "mixed" if base else "spot"
                else:
                    base, hourly, capacity = min_r, min_r * price, "on_demand"
                options.append(Option(cloud, region, o, min_r, min_n, max_r,
                                      list(o.zones[:zones_needed]), capacity, base,
                                      rules.HOURS_PER_MONTH, hourly, min_r * o.list_price_usd_hr, replica_qps=rq,
                                      notes={"desired": f"{qps:g} qps / ({_rate(rq)} qps a replica x {util:.0%} target utilisation) = {desired}"
                                                        + zone_note, **hpa_note}))
        if not options and too_small and need is not None and not too_slow:
            self.add("error", f"{self.path}.gpu_requirements", self._does_not_fit(need, ask, too_small, tgts))
            return options
        if not options:
            what = str(ask) if ask else (f"a model needing {need.text()}" if need else "the model")
            if too_slow:
                shown = "; ".join(f"{t}: {why}" for t, why in list(too_slow.items())[:3])
                self.add("error", target_key, f"{target_s * 1000:,.0f} ms is faster than any shape holding {what} can answer "
                         f"({w.input_tokens_per_request or rules.DEFAULT_INPUT_TOKENS_PER_REQUEST} tokens in / "
                         f"{self._out_tokens()} out): {shown}; raise the target, shorten the output, or serve a smaller or lower-precision model")
            elif not_measured and w.replica_qps:
                self.add("error", f"{self.path}.replica_qps_measured_on" if w.replica_qps_measured_on else f"{self.path}.replica_qps",
                         f"replica_qps was measured on {w.replica_qps_measured_on or ask}, which no candidate shape in "
                         f"{', '.join(f'{c} {r}' for c, r in tgts)} matches (candidates: {', '.join(sorted(set(not_measured))[:6])})")
            elif short_of_zones:
                self.add("error", f"{self.path}.availability_requirement", f"{zones_why}, but only these shapes hold {what} and they are offered in too few zones: {', '.join(short_of_zones[:6])}")
            else:
                self.add("error", f"{self.path}.gpu_requirements" if ask else f"{self.path}.model_size",
                         f"no shape holds {what} in {', '.join(f'{c} {r}' for c, r in tgts)}")
        elif too_slow:
            self.notes["too_slow"] = "; ".join(f"{t} misses the latency target: {why}" for t, why in list(too_slow.items())[:3])
        return options

    def _hpa_bounds(self, best: Option, reasons: dict[str, str]) -> None:
        """The nodes reason when the workload's ``autoscaling`` (the guide's HPA) bounds its replicas: min and max are
        the HPA's, the replicas costed the need held within them; a warning when the need is over maxReplicas (the
        HPA never scales to it: the expected qps is not served) or minReplicas leaves fewer replicas than zones."""
        need, runs = int(best.notes["hpa_need"]), int(best.notes["hpa_runs"])
        lo, hi = best.min_nodes, best.max_nodes
        path = f"{self.path}.autoscaling"
        qps, rq = self.w.expected_qps or 0.0, best.replica_qps or 0.0
        rps = hpa_scaling(self.w.autoscaling)[1]
        held = ("" if best.nodes == runs else ", raised to minReplicas" if best.nodes > runs else ", capped at maxReplicas")
        how = (f"its requests_per_second target of {rps:g} a replica runs {qps:g} / {rps:g} = {runs}" if rps else
               f"it runs the need, {runs}")
        reasons["nodes"] = (f"{best.notes['desired']}; the need is {need} ({self.notes.get('zones')}); autoscaling bounds the replicas "
                            f"to its minReplicas {lo} and maxReplicas {hi} and {how}: {best.nodes} costed{held}")
        if need > hi:
            self.add("warning", path, f"the plan needs {need} replicas at {qps:g} qps, but maxReplicas is {hi}: "
                                      f"the HPA stops at {hi} x {_rate(rq)} qps = {_rate(hi * rq)} qps; raise maxReplicas to {need} or more")
        elif best.nodes < need:
            self.add("warning", path, f"its requests_per_second target of {rps:g} a replica runs {best.nodes} replicas at {qps:g} qps, "
                                      f"fewer than the {need} the plan needs ({self.notes.get('zones')}; {_rate(rq)} qps a replica): "
                                      f"lower the target to {_rate(qps / need)} or less")
        elif best.nodes > need and rps and runs > need:
            self.add("info", path, f"its requests_per_second target of {rps:g} a replica runs {best.nodes} replicas at {qps:g} qps where "
                                   f"{need} carry it ({_rate(rq)} qps a replica): the plan costs the {best.nodes}; a target of "
                                   f"{_rate(qps / need)} would run {need}")
        zones = len(best.zones)
        if lo < zones and self._availability() is not None:
            self.add("warning", path, f"minReplicas {lo} lets the HPA scale in to fewer replicas than the {zones} zones the plan "
                                      f"spreads them over ({self.notes.get('zones')}): at low traffic one zone's loss stops the "
                                      f"endpoint; set minReplicas to {zones} or more")

    def _is_llm(self, params: int) -> bool:
        w = self.w
        if w.model_type is not None:
            return w.model_type == "llm"
        fw = (w.framework or "").lower()
        return any(f in fw for f in rules.LLM_FRAMEWORKS) or params > rules.LLM_MIN_PARAMETERS

    def _out_tokens(self) -> int:
        return self.w.output_tokens_per_request or rules.DEFAULT_OUTPUT_TOKENS_PER_REQUEST

    def _replica_qps(self, o: InstanceOffer, params: int, need: memory.ServingNeed | None, target_s: float | None) -> float | None:
        """Requests/s one replica of ``o`` serves inside the latency target (planner/serving.py), with
        its arithmetic in ``llm_why``; None when the target is out of reach on ``o`` (why in ``latency_why``)."""
        w = self.w
        precision = w.precision or rules.DEFAULT_PRECISION
        acc = accelerators(self.catalog, o, precision)
        if acc is None:
            self.latency_why[o.instance_type] = f"the catalog does not describe {o.gpu}"
            return None
        accs, math_label = acc
        label = f"{precision} weights, {math_label} math"
        if self._is_llm(params) and need is not None and accs.bandwidth_gb_s:
            in_tokens = w.input_tokens_per_request or rules.DEFAULT_INPUT_TOKENS_PER_REQUEST
            cap = serving.llm_capacity(params, need.weights_gb * 1e9 / params, accs, in_tokens, self._out_tokens(), target_s,
                                       precision_label=label)
            if cap is None:
                self.latency_why[o.instance_type] = "the weights leave no room for a KV cache"
                return None
            if not cap.feasible:
                self.latency_why[o.instance_type] = serving.latency_text(cap, self._out_tokens())
                return None
            self.llm_why[o.instance_type] = cap.why
            self.latency_s[o.instance_type] = cap.point.latency_s
            return cap.requests_per_s
        tokens = w.input_tokens_per_request or rules.DEFAULT_ENCODER_TOKENS
        enc = serving.encoder_capacity(params, accs, tokens, target_s, precision_label=label)
        if not enc.feasible:
            self.latency_why[o.instance_type] = f"{enc.batch1_latency_s * 1000:,.1f} ms of compute for one request"
            return None
        self.llm_why[o.instance_type] = enc.why
        self.latency_s[o.instance_type] = enc.latency_s
        return enc.requests_per_s

    def _does_not_fit(self, need: memory.ServingNeed, ask: GpuAsk, too_small: list[InstanceOffer], tgts: list[tuple[str, str]]) -> str:
        """The need, what was asked, and the cheapest shapes (of the asked GPU first) whose one node holds it."""
        o = min(too_small, key=lambda x: (x.total_gpu_memory_gib, x.list_price_usd_hr or 0.0))
        fit = [x for c, r in tgts for x in self.catalog.offers(c, r) if x.gpu and x.total_gpu_memory_gib >= need.need_gb
               and x.list_price_usd_hr is not None]
        fit.sort(key=lambda x: (x.gpu != ask.model, x.list_price_usd_hr))
        head = f"{need.text()} > {o.total_gpu_memory_gib} GB on {ask} ({o.instance_type})"
        if not fit:
            return f"{head}, and no single node of the configured clouds holds it: a smaller model, a lower precision (precision: int4) or a larger cloud catalog"
        shown = ", ".join(f"{x.instance_type} ({x.gpu_label}, {x.total_gpu_memory_gib} GB, {x.cloud} {x.region})" for x in fit[:3])
        return f"{head}: the cheapest that fit are {shown}; ask for {fit[0].gpu_count}x {fit[0].gpu}"

    # ---- data processing (CPU) -----------------------------------------------------

    def data_options(self, tgts: list[tuple[str, str]]) -> list[Option]:
        w, spec = self.w, self.spec
        nodes_range = w.nodes
        if nodes_range is None and spec.data_pipeline:
            fw = (w.framework or "").lower()
            for j, p in enumerate(spec.data_pipeline.preprocessing):
                if p.cluster_size and fw and fw in p.framework.lower():
                    nodes_range = p.cluster_size
                    self.notes["nodes"] = f"{nodes_range[0]}-{nodes_range[1]} nodes from data_pipeline.preprocessing[{j}].cluster_size ({p.framework})"
                    break
        dataset_gb = (w.dataset_size or 0) / 1e9
        if nodes_range is None:
            n = min(rules.DATA_MAX_NODES, max(rules.DATA_MIN_NODES, math.ceil((w.dataset_size or 0) / 2**40)))
            nodes_range = (n, max(n, min(rules.DATA_MAX_NODES, n * 2)))
            self.notes["nodes"] = f"one node per TiB of input ({format_bytes(w.dataset_size or 0)}), {rules.DATA_MIN_NODES} to {rules.DATA_MAX_NODES}: {n}, autoscaling to {nodes_range[1]}"
        elif "nodes" not in self.notes:
            self.notes["nodes"] = f"{nodes_range[0]}-{nodes_range[1]} nodes from the workload's nodes"
        runs, runtime_h = self._runs_and_runtime(tgts[0][1] if tgts else "")
        options: list[Option] = []
        for cloud, region in tgts:
            cpu = [o for o in self.catalog.offers(cloud, region, "") if o.memory_gib / o.vcpus >= rules.DATA_MIN_GIB_PER_VCPU]
            preferred = [o for o in cpu if o.vcpus == rules.DATA_NODE_VCPUS] or cpu
            for o in preferred:
                hours_run = runtime_h
                if not hours_run:
                    hours_run = max(rules.DATA_MIN_RUNTIME_HOURS, dataset_gb / (nodes_range[0] * o.vcpus * rules.DATA_GB_PER_VCPU_HOUR))
                hours = runs * hours_run
                opt = self._fixed_option(cloud, region, o, nodes_range[0], hours)
                if opt is None:
                    continue
                opt.runtime_hours = hours_run
                opt.max_nodes = nodes_range[1]
                opt.zones = list(o.zones[:1])
                opt.notes["hours"] = (f"{runs:.3g} run{'' if runs == 1 else 's'} a month x {hours_run:.2g} h" + ("" if runtime_h else
                                      f" ({format_bytes(w.dataset_size or 0)} at {rules.DATA_GB_PER_VCPU_HOUR:g} GB per vCPU-hour on {nodes_range[0]} x {o.vcpus} vCPUs)"))
                options.append(opt)
        if not options:
            full = sorted({r for c, _ in tgts for r in self.catalog.regions(c) if self.catalog.offers(c, r, "")})
            self.add("error", f"{self.path}.type", f"no memory-optimised CPU shape in {', '.join(f'{c} {r}' for c, r in tgts)} in the bundled "
                     f"catalog (CPU shapes are listed in {', '.join(full)}); `aiinfra catalog refresh --cloud {tgts[0][0] if tgts else 'aws'} --regions {tgts[0][1] if tgts else ''}` lists every shape a region offers")
        return options

    # ---- assemble -------------------------------------------------------------------

    def plan(self) -> WorkloadPlan | None:
        w = self.w
        tgts = targets(self.spec, w, self.catalog)
        if w.type == "inference":
            options = self.inference_options(tgts)
        elif w.type == "training" or w.gpu_requirements is not None:
            options = self.training_options(tgts)
        else:
            options = self.data_options(tgts)
        if not options:
            return None
        options.sort(key=lambda o: (round(o.monthly_usd, 6), o.hourly_usd, o.offer.vcpus, o.offer.instance_type))
        best = options[0]
        return self._workload_plan(best, options)

    def _alternatives(self, best: Option, options: list[Option]) -> list[Alternative]:
        seen = {(best.cloud, best.offer.instance_type)}
        out = []
        # The best of each other cloud first (the cross-cloud "why not"), then same-cloud runners-up.
        others = [o for o in options if o.cloud != best.cloud] + [o for o in options if o.cloud == best.cloud]
        for o in others:
            key = (o.cloud, o.offer.instance_type)
            if key in seen:
                continue
            seen.add(key)
            out.append(Alternative(o.cloud, o.region, o.offer.instance_type, o.nodes, round(o.hourly_usd, 4), round(o.monthly_usd, 2)))
            if len(out) == 3:
                break
        return out

    def _memory_reason(self, o: InstanceOffer, nodes: int) -> str:
        """The memory-fit arithmetic of the chosen shape in one line (memory.py)."""
        need = self.serving_need
        if self.w.type == "inference" and need is not None:
            tp = f" (tensor parallel over the node's {o.gpu_count} GPUs)" if o.gpu_count > 1 else ""
            return f"{need.text()} <= {o.total_gpu_memory_gib} GB on {o.gpu_label} a replica{tp}"
        tneed = self.training_need
        if tneed is not None and o.gpu:
            return tneed.fit(nodes * o.gpu_count, o.gpu_memory_gib)[1]
        return ""

    def _price_notes(self, best: Option, options: list[Option]) -> str:
        """The catalog rows among the chosen and the close runners-up whose listed price failed the
        catalog's sanity check (aiinfra.catalog.check_prices), and the price they were compared at."""
        seen, notes = set(), []
        for opt in [best] + options[:6]:
            o = opt.offer
            key = (o.cloud, o.region, o.instance_type)
            if key in seen or not o.price_flags:
                continue
            seen.add(key)
            notes.append(f"{o.cloud} {o.region} {o.instance_type}: {'; '.join(o.price_flags)}")
            if len(notes) == 3:
                break
        return " | ".join(notes)

    def _spot_alternatives(self, best: Option, options: list[Option]) -> list[str]:
        if best.capacity == "on_demand":
            return []
        b = best.offer
        same = [o.offer for o in options if o.cloud == best.cloud and o.region == best.region and o.offer.instance_type != b.instance_type
                and o.offer.gpu == b.gpu and o.offer.gpu_count == b.gpu_count and o.nodes == best.nodes
                # A multi-node run is homogeneous: one GPU model and memory, one interconnect (a collective
                # runs at the pace of its slowest member, and NCCL needs the same NICs on every node).
                and (best.nodes == 1 or (o.offer.gpudirect == b.gpudirect and o.offer.gpu_memory_gib == b.gpu_memory_gib
                                         and o.offer.efa_interfaces == b.efa_interfaces and o.offer.gpu_nics == b.gpu_nics))
                and set(best.zones) <= set(o.offer.zones)  # never a shape in a zone that does not offer it
                and o.offer.spot_usd_hr is not None
                and o.offer.spot_usd_hr <= (b.spot_usd_hr or b.list_price_usd_hr) * rules.SPOT_ALTERNATIVE_MAX_PRICE_RATIO]
        same.sort(key=lambda o: o.spot_usd_hr)
        return [o.instance_type for o in same[: rules.MAX_SPOT_ALTERNATIVES]]

    def _data_volume(self, o: InstanceOffer, nodes: int) -> tuple[int, str, str]:
        w, growth = self.w, 1.0
        gf = self.spec.growth_forecast
        if gf and gf.dataset_growth:
            growth = gf.dataset_growth
        if w.type == "inference" or not w.dataset_size:
            return 0, "", "serving keeps the model on the root volume" if w.type == "inference" else "no dataset_size"
        sharded = w.type == "data_processing" or (w.dataset_sharding == "sharded" and nodes > 1)
        per_node = w.dataset_size * growth / (nodes if sharded else 1)
        why = f"{format_bytes(per_node)} of data{' per node' if sharded else ''}"
        if w.type == "training" and nodes > 1:
            why += (f" (a shard: dataset_sharding: sharded over {nodes} nodes)" if sharded else
                    " (the whole dataset on every node: dataset_sharding is replicated, the default; set sharded when each node reads its shard)")
        if growth > 1:
            why += f" (with {growth:g}x dataset growth)"
        need = per_node * rules.STAGING_OVERHEAD / GIB
        if w.type == "training" and w.model_size:
            one_bytes, what = memory.checkpoint_bytes(self._model_parameters(), w.training_method)
            one = one_bytes / GIB
            need += one * rules.CHECKPOINTS_KEPT_HOT
            why += f" + {rules.CHECKPOINTS_KEPT_HOT} checkpoints of {one:,.1f} GiB ({what})"
        need_gib = math.ceil(need)
        if o.local_nvme_gib >= need_gib:
            return 0, "", f"{why} + {rules.STAGING_OVERHEAD - 1:.0%} scratch = {need_gib} GiB fits the {o.local_nvme_gib} GiB of local NVMe"
        if o.cloud == "aws":
            vtype = "gp3" if need_gib <= 16384 else "io2"
        else:
            vtype = "hyperdisk-balanced" if o.family.startswith(("a3", "a4")) else "pd-ssd"
        return need_gib, vtype, f"{why} + {rules.STAGING_OVERHEAD - 1:.0%} scratch = {need_gib} GiB; local NVMe holds {o.local_nvme_gib} GiB, so a {vtype} volume of {need_gib} GiB a node"

    def _workload_plan(self, best: Option, options: list[Option]) -> WorkloadPlan:
        w, o = self.w, best.offer
        reasons: dict[str, str] = {}
        clouds_considered = sorted({opt.cloud for opt in options})
        same_ask = [opt for opt in options if opt.cloud == best.cloud and opt.region == best.region]
        price_list = ", ".join(f"{opt.offer.instance_type} ${opt.monthly_usd:,.0f}/mo" for opt in same_ask[:4])
        if w.type == "inference":
            subject = f"{w.gpu_requirements} a replica" if w.gpu_requirements else "the model"
            reasons["instance_type"] = f"lowest cost at {w.expected_qps:g} qps among shapes holding {subject} in {best.region}: {price_list}"
        elif w.type == "training" or w.gpu_requirements:
            subject = str(w.gpu_requirements) if w.gpu_requirements else self.notes.get("inferred_gpu", "the model")
            reasons["instance_type"] = f"cheapest shape holding {subject} in {best.region}: {price_list}"
        else:
            reasons["instance_type"] = f"memory-optimised ({rules.DATA_MIN_GIB_PER_VCPU}+ GiB a vCPU) {o.vcpus}-vCPU nodes for {w.framework or 'ETL'}, cheapest in {best.region}: {price_list}"
        if "inferred_gpu" in self.notes and not w.gpu_requirements and w.type != "inference":
            reasons["gpu"] = self.notes["inferred_gpu"]
        if "rounding" in self.notes:
            reasons["gpu_count"] = self.notes["rounding"]
        if len(clouds_considered) > 1 or w.cloud is None:
            by_cloud = {}
            for opt in options:
                by_cloud.setdefault(opt.cloud, opt)
            reasons["cloud"] = "cheapest of the configured clouds: " + ", ".join(
                f"{c} {opt.offer.instance_type} ${opt.monthly_usd:,.0f}/mo" for c, opt in sorted(by_cloud.items(), key=lambda kv: kv[1].monthly_usd))
        else:
            reasons["cloud"] = f"pinned by cloud: {w.cloud}" if w.cloud else f"the only configured cloud"
        reasons["region"] = f"workload region override" if w.region else f"clouds.{best.cloud}.region"
        multi = best.nodes > 1 and w.type != "inference" and w.type != "data_processing"
        # One run over several nodes (multi-node training, a Spark cluster): its nodes reach each
        # other, and a lost node ends the attempt on all of them. multi_node (interconnect, EFA,
        # compact placement) stays training-only.
        collective = w.type != "inference" and max(best.nodes, best.max_nodes) > 1
        if w.type == "inference":
            reasons["nodes"] = (f"{best.notes['desired']}; min {best.min_nodes} ({self.notes.get('zones')}), "
                                f"max {best.max_nodes} ({rules.BURST_HEADROOM:g}x the forecast peak)")
            if "hpa_need" in best.notes:
                self._hpa_bounds(best, reasons)
            reasons["replica_qps"] = (f"replica_qps set on the workload, measured on {w.replica_qps_measured_on or w.gpu_requirements}"
                                      if w.replica_qps else self.llm_why.get(o.instance_type, ""))
            if "too_slow" in self.notes:
                reasons["replica_qps"] += f" (passed over: {self.notes['too_slow']})"
        elif w.type == "data_processing" and not w.gpu_requirements:
            reasons["nodes"] = self.notes.get("nodes", "")
        else:
            reasons["nodes"] = (f"{w.gpu_requirements or 'the model'} needs {best.nodes} nodes of {o.gpu_count} GPUs" if best.nodes > 1
                                else f"one node holds {w.gpu_requirements or 'the model'}")
        reasons["capacity"] = self.decision.reason
        if self.decision.spot and o.spot_usd_hr is None:
            reasons["capacity"] += f"; {o.instance_type} has no spot price in {best.region}, so on-demand"
        elif best.capacity == "mixed":
            reasons["capacity"] += f"; {best.on_demand_base} on-demand replicas (one a zone) keep the availability target through spot reclaims"
        elif best.capacity == "spot" and o.on_demand_usd_hr is None:
            reasons["capacity"] += f"; {o.instance_type} is sold as spot only in {best.region} (no on-demand list price), so no on-demand fallback"
        elif best.capacity == "spot" and collective:
            # No node is replaced ahead of an interruption here (AWS capacity rebalance is off: a
            # rebalance recommendation would stop a healthy rank mid-run, stacks/aws.py).
            reasons["capacity"] += ("; the spot pool draws on every equivalent shape; the run spans its nodes, so a reclaimed node ends "
                                    "the attempt on all of them: the run restarts from its last checkpoint on the remaining and "
                                    "replacement nodes and spends one retry (none left: the run fails); if spot stays short, raise the on-demand base "
                                    "(spot: false on the workload)")
            gpus = best.nodes * o.gpu_count
            if gpus >= rules.SPOT_COLLECTIVE_WARN_GPUS and best.runtime_hours:
                node_hours = best.nodes * best.runtime_hours
                rate = rules.SPOT_MONTHLY_INTERRUPTION / rules.HOURS_PER_MONTH
                expected = node_hours * rate
                self.add("warning", f"{self.path}.spot", (
                    f"{gpus} GPUs on spot in one collective run: {best.nodes} nodes x {best.runtime_hours:g} h = {node_hours:,.0f} node-hours; "
                    f"at {rules.SPOT_MONTHLY_INTERRUPTION:.0%} of instances reclaimed a month (the top band of AWS's Spot Instance Advisor, "
                    f"where large GPU shapes sit; GCP publishes no rate) a run expects {expected:.2f} interruptions "
                    f"({1 - math.exp(-expected):.0%} that it is hit at least once), and every one stops all {best.nodes} nodes and replays the "
                    f"work since the last checkpoint; the risk grows with nodes x hours: checkpoint often, or run on-demand (spot: false)"))
        elif best.capacity == "spot":
            replace = ("replaces a node before its interruption (capacity rebalance)" if best.cloud == "aws" else
                       "recreates a reclaimed node when capacity returns")
            reasons["capacity"] += (f"; the spot pool draws on every equivalent shape and {replace}; "
                                    "if spot stays short, raise the on-demand base (spot: false on the workload)")
        compact = multi
        if multi:
            from aiinfra.placement import check_placement, placement_limit

            limit, source = placement_limit(best.cloud, o.instance_type)
            if limit == 0:  # the shape cannot use compact placement: the run goes without it, and says so
                compact = False
                self.add("warning", f"{self.path}.gpu_requirements", f"{best.nodes} nodes of {o.instance_type} without compact placement: "
                         f"{source.split(': ', 1)[1]} ({source.split(': ', 1)[0]})")
            else:
                too_many = check_placement(best.cloud, o.instance_type, best.max_nodes)
                if too_many:
                    self.add("error", f"{self.path}.gpu_requirements", too_many)
            reasons["interconnect"] = (f"{best.nodes} nodes: {o.gpudirect.upper()} ({o.efa_interfaces or o.gpu_nics} interfaces a node) and compact placement in one zone"
                                       if o.gpudirect else f"{o.instance_type} has no EFA / GPUDirect; multi-node traffic uses the standard network")
            if not o.gpudirect:
                self.add("warning", f"{self.path}.gpu_requirements", f"{best.nodes} nodes of {o.instance_type} without EFA / GPUDirect: collective operations will be network-bound")
        zones_reason = {
            "inference": self.notes.get("zones", ""),
            "training": "one zone: compact placement for multi-node training" if multi else "every zone offering the shape, so the group finds capacity",
        }
        reasons["zones"] = zones_reason.get(w.type, "one zone: Spark shuffles stay inside it (no cross-zone transfer)")
        reasons["hours"] = best.notes.get("hours") or self.notes.get("hours", "always on (730 h a month)")
        batch_fields: dict = {}
        if w.type != "inference":
            start = self.start
            limits = batch.run_limits(self.spec, w, start, best.runtime_hours, best.capacity != "on_demand")
            if w.type == "data_processing" and not self._check_overlap(best.runtime_hours):
                limits = None
            elif isinstance(limits, str):
                self.add("error", f"{self.path}.max_runtime", limits)
                limits = None
            if limits is not None:
                desc = batch.describe(start.cron, best.runtime_hours, limits.max_runtime_hours, limits.retries)
                reasons["schedule"] = f"{desc}: {start.reason}; {limits.reason}"
                batch_fields = dict(schedule=start.cron, stop_schedule=limits.stop_cron, schedule_description=desc,
                                    runs_per_month=start.runs_per_month, runtime_hours=best.runtime_hours,
                                    max_runtime_hours=limits.max_runtime_hours, retries=limits.retries)
                kept = start.runs_per_month * limits.max_runtime_hours
                reasons["hours"] += f"; the cloud stops the nodes after at most {hours_text(limits.max_runtime_hours)} a run ({kept:.0f} h a month)"
        else:
            batch_fields = dict(port=w.port or rules.DEFAULT_MODEL_PORT, health_check_path=w.health_check_path or rules.DEFAULT_HEALTH_CHECK_PATH,
                                exposure=w.exposure or "public", target_utilization=self._target_utilization())
            reasons["endpoint"] = (f"{batch_fields['exposure']} HTTPS on 443 to port {batch_fields['port']}, health checks on "
                                   f"{batch_fields['health_check_path']}; autoscaling tracks {batch_fields['target_utilization']:.0%} of the "
                                   f"replica throughput ({_rate(best.replica_qps * batch_fields['target_utilization'])} requests/s a replica, "
                                   "on the load balancer's request count, not CPU)")
        reasons["image"] = (f"runs {w.image}" if w.image else
                            "no image: no node starts until one is given (the run schedule starts zero nodes, a serving group "
                            "rests at zero); synth asks for it as the Terraform variable image")
        volume, vtype, vwhy = self._data_volume(o, best.nodes)
        reasons["data_volume"] = vwhy
        mem = self._memory_reason(o, best.nodes)
        if mem:
            reasons["memory"] = mem
        price_notes = self._price_notes(best, options)
        if price_notes:
            reasons["price_check"] = price_notes
        monthly = best.monthly_usd
        od_monthly = best.on_demand_hourly_usd * best.hours_per_month
        cost_1k = None
        if w.type == "inference" and w.expected_qps:
            cost_1k = best.hourly_usd / (w.expected_qps * 3.6)
        return WorkloadPlan(
            name=w.name, type=w.type, cloud=best.cloud, region=best.region, zones=best.zones, instance_type=o.instance_type,
            gpu=o.gpu, gpus_per_node=o.gpu_count, gpu_memory_gib=o.gpu_memory_gib, accelerator_type=o.accelerator_type,
            vcpus_per_node=o.vcpus, memory_gib_per_node=o.memory_gib, nodes=best.nodes, min_nodes=best.min_nodes,
            max_nodes=best.max_nodes, capacity=best.capacity, on_demand_base_nodes=best.on_demand_base,
            on_demand_percent_above_base=0 if best.capacity != "on_demand" else 100,
            spot_fallback="on_demand" if best.capacity != "on_demand" and o.on_demand_usd_hr is not None else None,
            spot_alternatives=self._spot_alternatives(best, options), multi_node=multi, collective=collective,
            interconnect=o.gpudirect if multi else "", efa_interfaces_per_node=o.efa_interfaces if multi else 0,
            gpu_nics_per_node=o.gpu_nics if multi else 0, nic_mtu=o.nic_mtu,
            placement="cluster" if compact else ("spread" if len(best.zones) > 1 and w.type == "inference" else "none"),
            local_nvme_gib_per_node=o.local_nvme_gib, data_volume_gib_per_node=volume, data_volume_type=vtype,
            hours_per_month=round(best.hours_per_month, 2), hourly_usd=round(best.hourly_usd, 4), monthly_usd=round(monthly, 2),
            on_demand_monthly_usd=round(od_monthly, 2), spot_savings_monthly_usd=round(od_monthly - monthly, 2),
            expected_qps=w.expected_qps, replica_qps=round(best.replica_qps, 1) if best.replica_qps else None,
            capacity_qps=round(best.replica_qps * best.nodes, 1) if best.replica_qps else None,
            request_latency_s=round(self.latency_s[o.instance_type], 3) if o.instance_type in self.latency_s else None,
            cost_per_1k_predictions_usd=round(cost_1k, 6) if cost_1k is not None else None,
            image=w.image, reservation=w.reservation, capacity_block=bool(w.capacity_block), **batch_fields,
            accelerator_runtime=rules.ACCELERATOR_RUNTIME.get(self.catalog.gpus[o.gpu].vendor, "") if o.gpu in self.catalog.gpus else "",
            reasons=reasons, alternatives=self._alternatives(best, options),
        )
