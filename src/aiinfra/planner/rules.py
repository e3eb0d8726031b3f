"""The planner's documented constants: every number a placement rests on lives here.

Each is an assumption a reviewer may challenge, so each says where it comes from. A spec
overrides the workload-specific ones (``replica_qps``, ``nodes``, storage tier ``size``).
"""

HOURS_PER_MONTH = 730.0  # 8,760 h / 12, the cloud providers' own billing month.

# Serving throughput and latency (planner/serving.py has the model; tests/data/serving_reference.csv
# the published measurements it is fitted to, every one within 25 %: tests/test_serving_model.py).
# Language models (model_type llm, an LLM serving framework, or over LLM_MIN_PARAMETERS):
# - prefill (a request's input) is compute bound: 2 FLOPs a parameter a token at LLM_PREFILL_MFU of
#   the accelerators' dense tensor throughput at the serving precision (prefill reaches 50-76% model
#   FLOPs utilisation: Pope et al. 2022, "Efficiently Scaling Transformer Inference",
#   https://arxiv.org/abs/2211.05102, table 2); a decode step at large batches likewise;
# - a decode step reads the weights once plus every running sequence's KV cache at
#   DECODE_BANDWIDTH_EFFICIENCY of the memory bandwidth (fitted: 0.75);
# - the batch is capped by the KV cache beside the weights in SERVING_MEMORY_UTILIZATION of the
#   memory (vLLM's default gpu_memory_utilization 0.9), by the engine's scheduler (LLM_MAX_BATCH:
#   vLLM's default max_num_seqs, https://docs.vllm.ai/en/latest/models/engine_args.html) and by
#   the latency target;
# - tensor parallelism over N accelerators runs at 1 / (1 + TENSOR_PARALLEL_OVERHEAD x log2 N) of
#   their sum (a per-layer all-reduce; fitted: 0.15, so 2 GPUs 87 %, 8 GPUs 69 %);
# - KV cache a token when the architecture is not given: grouped-query attention with 8 KV heads of
#   128 (Llama 3 8B: 32 layers x 2 (K, V) x 8 x 128 x 2 bytes = 131,072 bytes; Llama 3 70B: 80
#   layers = 327,680: the models' config.json on Hugging Face), scaled between sizes by
#   (parameters / 8B) ^ KV_SCALING_EXPONENT (0.42 joins the two); at the weights' precision down to
#   8 bits (fp8 / int8 serving keeps an 8-bit KV cache, int4 weights a 16-bit one). Older
#   multi-head models (Llama 2 7B / 13B) hold 4-5x more: their throughput is overstated here.
# Other models (embedding, classification, ranking, vision): 2 FLOPs a parameter a token of input at
# ENCODER_MFU of the tensor throughput (fitted on BERT-Large with TensorRT: A100 63-68 %), batched
# dynamically up to ENCODER_MAX_BATCH inside the latency target; requests carry
# DEFAULT_ENCODER_TOKENS tokens unless input_tokens_per_request says otherwise (a short passage;
# a recommender or vision model has no tokens: it counts as a 256-token text model, conservative for
# embedding-table models).
# Power-capped parts (T4 70 W, L4 72 W: NVIDIA's datasheets) hold a share of their peak under load:
# SUSTAINED_SHARE (BERT-Large on T4 with TensorRT runs at 35 % of the T4's peak against 63-68 % on
# A100: 0.55; the L4, the T4's successor at the same power, is taken alike).
LLM_MIN_PARAMETERS = 1_000_000_000
DEFAULT_SERVING_PARAMETERS = 100_000_000  # a model of no stated size: BERT-base class
LLM_FRAMEWORKS = ("vllm", "tgi", "text-generation-inference", "tensorrt-llm", "trt-llm", "sglang", "lmdeploy", "llama.cpp", "ollama",
                  "triton-llm", "deepspeed-mii")
LLM_PREFILL_MFU = 0.5
DECODE_BANDWIDTH_EFFICIENCY = 0.75
SERVING_MEMORY_UTILIZATION = 0.9
LLM_MAX_BATCH = 256
TENSOR_PARALLEL_OVERHEAD = 0.15
KV_BYTES_PER_TOKEN_8B = 131_072
KV_SCALING_EXPONENT = 0.42
ENCODER_MFU = 0.6
ENCODER_MAX_BATCH = 128
DEFAULT_ENCODER_TOKENS = 256
SUSTAINED_SHARE = {"T4": 0.55, "L4": 0.55}
# A request's tokens when the workload gives none: a chat-style exchange (an assumption; override
# with input_tokens_per_request / output_tokens_per_request, or replica_qps).
DEFAULT_INPUT_TOKENS_PER_REQUEST = 512
DEFAULT_OUTPUT_TOKENS_PER_REQUEST = 256
# Serving without a latency target keeps the engine's batch; with one (latency_sla, else
# performance_requirements.inference.p95_latency), the whole response (time to first token + output
# tokens x time per output token) must fit it: the batch shrinks until it does, and a target the
# shape misses even at batch 1 is an error.

# Autoscaling: the replica count is sized for this utilisation (the low end of the guide's
# target_utilization "70-85%", which is also its HPA's CPU target), and max replicas absorb
# this multiple of the forecast peak.
DEFAULT_TARGET_UTILIZATION = 0.70
# Serving containers (SPEC.md "What runs on the nodes"): the port and health path when the spec has none.
DEFAULT_MODEL_PORT = 8080
DEFAULT_HEALTH_CHECK_PATH = "/health"
BURST_HEADROOM = 2.0

# Availability -> zones. 99.9% survives one zone's outage only with two zones; 99.95% with three.
AVAILABILITY_ZONES = ((99.95, 3), (99.9, 2), (0.0, 1))
# From this availability up, serving keeps the peak with one zone lost: min replicas are sized so the
# survivors of a zone outage still serve expected_qps (a zone is the unit of failure the clouds'
# SLAs are written for: https://aws.amazon.com/compute/sla/, https://cloud.google.com/compute/sla).
ZONE_LOSS_AVAILABILITY = 99.9
PRODUCTION_MIN_ZONES = 2

# The software stack an accelerator vendor's parts need on the node (catalog/data/gpus.csv vendor):
# CUDA for NVIDIA, the Neuron SDK for AWS Inferentia / Trainium, the TPU runtime (libtpu) for Google TPUs.
ACCELERATOR_RUNTIME = {"nvidia": "cuda", "aws": "neuron", "google": "tpu"}

# Memory a model needs on GPUs. Training with mixed-precision Adam keeps fp16 weights and
# gradients plus fp32 master weights and two moments: 16 bytes a parameter (also what a
# checkpoint holds), and 20% more for activations (ZeRO paper, Rajbhandari et al. 2020).
TRAINING_BYTES_PER_PARAMETER = 16
ACTIVATION_OVERHEAD = 1.2

# Memory fit (planner/memory.py). GPU memory is compared in GB (10^9 bytes), as vendors label it
# (an "80GB" A100 / H100); a model's weights likewise.
# Serving: bytes a weight at the serving precision (fp16 / bf16 2, fp8 and int8 1, int4 half a byte:
# the weight formats of NVIDIA TensorRT-LLM's quantization guide and Hugging Face's "model memory
# anatomy"), default 16-bit. A model_size in bytes is the weights themselves.
PRECISION_BYTES = {"fp32": 4.0, "fp16": 2.0, "bf16": 2.0, "fp8": 1.0, "int8": 1.0, "int4": 0.5}
DEFAULT_PRECISION = "fp16"
# KV cache and activations beyond the weights when the model's layers, hidden size and context are
# not given: 20% (a 13B model at 16-bit: 26 GB of weights, ~5 GB of KV cache for a few dozen
# 2k-token sequences: 2 x layers x hidden x 2 bytes a token = 0.8 MB a token for Llama-2-13B,
# https://arxiv.org/abs/2309.06180 (vLLM, PagedAttention), section 2.3).
INFERENCE_KV_HEADROOM = 0.20
# Training: bytes a parameter by method, before activations (ACTIVATION_OVERHEAD):
# - full: mixed-precision Adam, 2 (fp16 weights) + 2 (fp16 gradients) + 12 (fp32 master weights,
#   momentum, variance) = 16 (ZeRO, Rajbhandari et al. 2020, https://arxiv.org/abs/1910.02054, section 3.1);
# - lora: the frozen base at 16-bit (2) + trainable adapters of LORA_TRAINABLE_SHARE of the
#   parameters at 16 bytes each (LoRA, Hu et al. 2021, https://arxiv.org/abs/2106.09685: r=8 adapters
#   on GPT-3 175B train 0.01% of the weights; 1% covers the larger ranks and targets used in practice);
# - qlora: the base in 4-bit NormalFloat (0.5) + double-quantized constants (0.127 bits a parameter
#   = 0.016 bytes) + the adapters (QLoRA, Dettmers et al. 2023, https://arxiv.org/abs/2305.14314,
#   section 3; its 65B model fine-tunes on one 48 GB GPU: 65e9 x 0.676 x 1.2 = 53 GB without paged
#   optimizers, the paper's paged optimizer states absorb the rest).
LORA_TRAINABLE_SHARE = 0.01
TRAINING_METHOD_BYTES = {
    "full": float(TRAINING_BYTES_PER_PARAMETER),
    "lora": 2.0 + LORA_TRAINABLE_SHARE * TRAINING_BYTES_PER_PARAMETER,
    "qlora": 0.5 + 0.016 + LORA_TRAINABLE_SHARE * TRAINING_BYTES_PER_PARAMETER,
}
DEFAULT_TRAINING_METHOD = "full"
# Sharded data parallel (ZeRO stage 3 / PyTorch FSDP FULL_SHARD) splits weights, gradients and
# optimizer state evenly over the run's GPUs (ZeRO section 5.3: memory a GPU = state / N); plain data
# parallel keeps all of it on every GPU. A model that fits only sharded is planned, and says so.
TRAINING_GPUS = ("H100", "H200", "A100", "L40S", "A10G", "L4")

# A checkpoint holds weights and optimizer state (the 16 bytes above); the hot tier keeps three.
CHECKPOINTS_KEPT_HOT = 3
# Datasets are staged onto each training node's hot tier with 20% scratch space.
STAGING_OVERHEAD = 1.2

# Data processing: memory-optimised nodes (>= 8 GiB a vCPU) of 32 vCPUs, the usual Spark
# executor host; one node per TiB of input when no cluster size is given, 2 to 20 nodes; a
# vCPU processes about 10 GB an hour of columnar ETL (Spark on Parquet, order of magnitude).
DATA_NODE_VCPUS = 32
DATA_MIN_GIB_PER_VCPU = 8
DATA_GB_PER_VCPU_HOUR = 10.0
DATA_MIN_NODES, DATA_MAX_NODES = 2, 20
DATA_MIN_RUNTIME_HOURS = 0.25

# Defaults when a training workload leaves them out (said in the plan as inferred).
DEFAULT_RUNS_PER_MONTH = 1.0
DEFAULT_RUNTIME_HOURS = 24.0

# Batch schedules (planner/schedule.py). Derived start times: off-peak runs start at 01:00 in the
# region's time zone (standard time; the guide's "off_peak_hours"), business-hours runs at 09:00,
# others at 00:00 UTC. The hard stop of a run (max_runtime) defaults to the guide's
# max_training_time, else twice the expected runtime (at least an hour), and always ends an hour
# before the next start so two runs never overlap. Runs restart from their checkpoint 3 times when
# the guide's Training Job Failure rule says restart_with_checkpoint, or on spot.
OFF_PEAK_START_LOCAL_HOUR = 1
BUSINESS_HOURS_START_LOCAL_HOUR = 9
DEFAULT_START_HOUR_UTC = 0
DEFAULT_MAX_RUNTIME_FACTOR = 2.0
MIN_MAX_RUNTIME_HOURS = 1.0
STOP_BEFORE_NEXT_START_HOURS = 1.0
DEFAULT_RETRIES = 3
# Standard-time UTC offsets of the regions' locations (AWS and Google region pages name the city;
# offsets from the IANA time zone database). Schedules are cron in UTC, so summer time moves a
# derived local start by an hour.
REGION_UTC_OFFSET_HOURS = {
    "us-east-1": -5, "us-east-2": -5, "us-west-1": -8, "us-west-2": -8, "ca-central-1": -5, "sa-east-1": -3,
    "eu-west-1": 0, "eu-west-2": 0, "eu-west-3": 1, "eu-central-1": 1, "eu-north-1": 1, "eu-south-1": 1,
    "ap-northeast-1": 9, "ap-northeast-2": 9, "ap-southeast-1": 8, "ap-southeast-2": 10, "ap-south-1": 5.5,
    # issue 26's AWS regions (IANA zone of the region's city): Jakarta Asia/Jakarta, Melbourne Australia/Melbourne,
    # Spain (Aragon) Europe/Madrid, UAE Asia/Dubai
    "ap-southeast-3": 7, "ap-southeast-4": 10, "eu-south-2": 1, "me-central-1": 4,
    "us-central1": -6, "us-east1": -5, "us-east4": -5, "us-east5": -5, "us-south1": -6, "us-west1": -8, "us-west2": -8,
    "us-west3": -7, "us-west4": -8, "northamerica-northeast1": -5, "europe-west1": 1, "europe-west2": 0, "europe-west3": 1,
    "europe-west4": 1, "europe-west9": 1, "europe-north1": 2, "asia-east1": 8, "asia-northeast1": 9, "asia-southeast1": 8,
    "asia-south1": 5.5, "australia-southeast1": 10,
    # Seoul, Delhi, Tel Aviv, Santiago (IANA Asia/Seoul, Asia/Kolkata, Asia/Jerusalem, America/Santiago standard time)
    "asia-northeast3": 9, "asia-south2": 5.5, "me-west1": 2, "southamerica-west1": -4,
}

# Object storage lifecycle (days) when the spec gives none: S3 Standard-IA requires 30 days
# in Standard first; archival follows the guide's "90_days_inactive"; a year to deep archive.
WARM_AFTER_DAYS = 30
COLD_AFTER_DAYS = 90
ARCHIVE_AFTER_DAYS = 365
ABORT_INCOMPLETE_UPLOADS_DAYS = 7
MODEL_VERSIONS_KEPT = 10

# Spot interruptions compound in a collective run (any node lost stops all of them): runs of at
# least SPOT_COLLECTIVE_WARN_GPUS GPUs on spot get a warning with the arithmetic, at
# SPOT_MONTHLY_INTERRUPTION of instances reclaimed a month: the floor of the top band (">20%") of
# AWS's Spot Instance Advisor, "the rate at which Spot has reclaimed capacity during the trailing
# month" (https://aws.amazon.com/ec2/spot/instance-advisor/); GCP publishes no rate.
SPOT_COLLECTIVE_WARN_GPUS = 32
SPOT_MONTHLY_INTERRUPTION = 0.20

# Spot overrides: equivalent shapes whose spot price is at most this multiple of the chosen one's.
SPOT_ALTERNATIVE_MAX_PRICE_RATIO = 2.0
MAX_SPOT_ALTERNATIVES = 4

# ---- monitoring (the plan shows it; it is not in the totals the budgets are set at) ----------
# CloudWatch list prices, us-east-1, first tier: a custom metric $0.30 a month, a standard
# alarm $0.10 a metric a month, a dashboard $3.00 a month (the free tier, 10 metrics, 10 alarm
# metrics and 3 dashboards an account, is left out: other stacks may use it).
# https://aws.amazon.com/cloudwatch/pricing/
CLOUDWATCH_METRIC_MONTH_USD = 0.30
CLOUDWATCH_ALARM_METRIC_MONTH_USD = 0.10
CLOUDWATCH_DASHBOARD_MONTH_USD = 3.00
# Cloud Monitoring bills ingested samples: $0.2580 a MiB past the first 150 MiB a billing account
# gets each month; a scalar point counts 8 bytes. https://cloud.google.com/stackdriver/pricing
CLOUD_MONITORING_MIB_USD = 0.2580
CLOUD_MONITORING_FREE_MIB = 150
CLOUD_MONITORING_POINT_BYTES = 8
# Series an Ops Agent node sends per collected metric (per GPU for GPU metrics: utilization and
# memory used / free; a node's few disks and interfaces for the host ones): an estimate.
OPS_AGENT_SERIES = {"agent.googleapis.com/gpu/utilization": "gpu", "agent.googleapis.com/gpu/memory/bytes_used": "gpu2",
                    "agent.googleapis.com/memory/percent_used": 1, "agent.googleapis.com/disk/percent_used": 3,
                    "agent.googleapis.com/disk/read_bytes_count": 3, "agent.googleapis.com/disk/write_bytes_count": 3,
                    "agent.googleapis.com/disk/io_time": 3, "agent.googleapis.com/interface/traffic": 4}
AGENT_SAMPLES_PER_HOUR = 60  # the agents' 60 s collection interval

# ---- security controls (issue 15): list prices a month, all regions alike ---------------------
SECONDS_PER_MONTH = HOURS_PER_MONTH * 3600
# AWS WAF: $5.00 a web ACL and $1.00 a rule (a managed rule group counts as one rule) a month,
# $0.60 a million requests inspected. https://aws.amazon.com/waf/pricing/
WAF_WEB_ACL_MONTH_USD = 5.00
WAF_RULE_MONTH_USD = 1.00
WAF_MILLION_REQUESTS_USD = 0.60
# Cloud Armor Standard: $5.00 a policy and $1.00 a rule a month, $0.75 a million requests.
# https://cloud.google.com/armor/pricing
ARMOR_POLICY_MONTH_USD = 5.00
ARMOR_RULE_MONTH_USD = 1.00
ARMOR_MILLION_REQUESTS_USD = 0.75
# AWS KMS: $1.00 a customer-managed key a month, every key in FIPS 140-3 validated HSMs; a key in
# a CloudHSM custom key store costs the same in KMS, the cluster's HSMs are billed by CloudHSM
# by the hour. https://aws.amazon.com/kms/pricing/ , https://aws.amazon.com/cloudhsm/pricing/
AWS_KMS_KEY_MONTH_USD = 1.00
# Cloud KMS: an active symmetric key version $0.06 (SOFTWARE) or $1.00 (HSM) a month; each
# rotation adds a version, billed until it is destroyed. https://cloud.google.com/kms/pricing
GCP_KMS_SOFTWARE_VERSION_MONTH_USD = 0.06
GCP_KMS_HSM_VERSION_MONTH_USD = 1.00
# The requests an endpoint's rate rule lets one client send, over this window (AWS WAF allows
# 60, 120, 300 or 600 s; Cloud Armor intervals include 60 s): the whole planned peak.
RATE_WINDOW_SECONDS = 60
# Bodies above this are refused at the edge (by their declared Content-Length): 10 MiB.
MAX_REQUEST_BODY_BYTES = 10 * 1024 * 1024
# GuardDuty: runtime monitoring of EC2 $1.50 a vCPU a month (first 500 vCPUs; pro-rated by the
# hour), the foundational sources (CloudTrail management events, VPC flow and DNS logs) and S3
# data events priced by volume (not estimated here). https://aws.amazon.com/guardduty/pricing/
GUARDDUTY_RUNTIME_VCPU_MONTH_USD = 1.50
# Inspector: EC2 scanning $1.258 an instance a month (pro-rated), ECR $0.09 an image pushed.
# https://aws.amazon.com/inspector/pricing/
INSPECTOR_EC2_INSTANCE_MONTH_USD = 1.258
# VM Manager (OS Config inventory and vulnerability reports): $0.003 a VM an hour beyond a billing
# account's first 100 VMs (counted here from the first). https://cloud.google.com/compute/vm-manager/pricing
VM_MANAGER_VM_HOUR_USD = 0.003
