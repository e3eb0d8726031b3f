"""Generate specs of N workloads in the guide's format (a mix of training, inference and
data processing on both clouds), for benchmarks and scale tests."""

from __future__ import annotations

import sys

TRAINING = ["1x T4", "4x L4", "8x A100", "8x A100-80GB", "8x H100", "16x H100", "1x A100", "4x A100"]
# A model each ask holds under the planner's memory rules (full training: 16 bytes a parameter + 20%,
# sharded over the ask's GPUs): 1x T4 16 GB holds 0.8B, 4x L4 3B, 8x A100-40GB 16B, 16x H100 66B ...
MODELS = ["500M", "3B", "13B", "13B", "13B", "30B", "2B", "7B"]
INFERENCE_QPS = [50, 200, 1000, 5000]
AVAIL = ["99%", "99.9%", "99.95%"]


def generate(n: int, project: str = "bench") -> str:
    # With what synthesis needs beyond a plan: the HTTPS endpoints' certificate and names.
    out = [f"project: {project}", "environment: production", "clouds:",
           "  aws: {region: us-east-1, certificate_arn: 'arn:aws:acm:us-east-1:123456789012:certificate/0a1b2c3d-1111-2222-3333-444455556666'}",
           "  gcp: {region: us-central1, project: bench-project, domains: [serve.bench.example.com]}", "workload_inventory:"]
    for i in range(n):
        kind = i % 3
        if kind == 0:
            out += [f"  - name: train-{i}", "    type: training", "    framework: pytorch", f'    dataset_size: "{100 + i % 7 * 100}GB"',
                    f'    model_size: "{MODELS[i % len(TRAINING)]} parameters"', f'    gpu_requirements: "{TRAINING[i % len(TRAINING)]}"',
                    '    training_frequency: "weekly"', f'    estimated_runtime: "{4 + i % 20} hours"']
            if i % 2:
                out.append("    spot: true")
        elif kind == 1:
            out += [f"  - name: serve-{i}", "    type: inference", "    framework: tensorflow", f'    model_size: "{100 + i % 5 * 200}MB"',
                    f'    expected_qps: "{INFERENCE_QPS[i % len(INFERENCE_QPS)]}"', '    latency_sla: "100ms"',
                    f'    availability_requirement: "{AVAIL[i % len(AVAIL)]}"']
        else:
            out += [f"  - name: etl-{i}", "    type: data_processing", "    framework: spark", f'    dataset_size: "{1 + i % 9}TB"',
                    '    training_frequency: "daily"']
    out += ["cost_optimization:", "  scheduling:", "    spot_instances: non_critical_workloads",
            "  lifecycle_management:", '    model_archival: "90_days_inactive"']
    return "\n".join(out) + "\n"


if __name__ == "__main__":
    sys.stdout.write(generate(int(sys.argv[1]) if len(sys.argv) > 1 else 10))
