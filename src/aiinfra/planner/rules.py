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
# The requests an endpoint's rate rule lets one client address send, over this window (AWS WAF
# allows 60, 120, 300 or 600 s, constructs/aws/web_acl.py; Cloud Armor intervals include 60 s,
# constructs/gcp/security_policy.py).
RATE_WINDOW_SECONDS = 60
# One client's default share of the endpoint's planned peak (replica_qps x max_nodes), unless
# security_controls.network_security.rate_limit_per_client says otherwise: at its limit one client
# keeps at most a tenth of the largest group busy, so it can neither drive scale-out to the
# maximum nor bill more than about a tenth of the group's largest size; a caller that legitimately
# sends more from one address (a backend behind one NAT address) is named in the spec with its rate.
# The constructs' own default (WebAcl / SecurityPolicy CLIENT_SHARE) is the same number.
RATE_LIMIT_CLIENT_SHARE = 0.10
# Rate limits neither edge accepts: AWS WAF at least 10 a window (the constructs' clamp); Cloud
# Armor's throttle at most 1,000,000 a window (constructs/gcp/security_policy.py MAX_THROTTLE_COUNT).
MIN_CLIENT_RATE_LIMIT = 10
# How long the load balancer waits for one response (GCP backend service timeout_sec: the whole
# response; AWS ALB idle_timeout: no byte either way, which for a response that is not streamed is
# the whole response too): RESPONSE_TIMEOUT_FACTOR x the plan's modelled request latency (a
# generation four times the planned output length at the planned batch), at least the floor (AWS's
# default idle timeout, 60 s: encoders answer in milliseconds, but a request may wait while
# replicas start) and at most the cap: 15 minutes, past which a generation belongs in a batch job
# (and Google's front ends restart periodically: long connections are cut anyway,
# https://cloud.google.com/load-balancing/docs/https#timeout-bes). The ALB takes 1-4,000 s.
RESPONSE_TIMEOUT_FACTOR = 4
RESPONSE_TIMEOUT_FLOOR_SECONDS = 60
RESPONSE_TIMEOUT_CAP_SECONDS = 900
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

# ---- storage lifecycle, and the network costs the budgets must hold (issue 27) ----------------
# Live data is tiered by access, never moved by age alone into a class a read can fail on or pay
# for: the AWS data bucket moves every object to S3 Intelligent-Tiering on day 0 (lifecycle
# transitions to INTELLIGENT_TIERING take 0 days: https://docs.aws.amazon.com/AmazonS3/latest/API/API_Transition.html)
# without its opt-in Archive Access / Deep Archive Access tiers, so every object stays readable in
# milliseconds: Frequent Access, Infrequent Access after 30 days without a read, Archive Instant
# Access after 90, back to Frequent on the next read, no retrieval charges, no minimum storage
# duration, objects under 128 KB never monitored nor charged for it
# (https://docs.aws.amazon.com/AmazonS3/latest/userguide/intelligent-tiering-overview.html). The GCS
# data bucket has Autoclass with terminal class ARCHIVE: objects start in STANDARD, go colder
# (NEARLINE 30 days, COLDLINE 90, ARCHIVE 365) only while nobody reads them and return to STANDARD on
# a read; Autoclass charges no retrieval, early-deletion or class-transition fees, objects under 128 KiB
# stay STANDARD, and it manages every class itself (no SetStorageClass lifecycle rule beside it)
# (https://cloud.google.com/storage/docs/autoclass). Prefixes that are archives by nature (released
# model versions, old checkpoints kept for audit) are the spec's
# cost_optimization.lifecycle_management.archive_prefixes: on AWS those alone move by age, to
# GLACIER_IR at the cold tier's days and DEEP_ARCHIVE at the archive days; on GCP Autoclass takes them
# to ARCHIVE after a year unread.
# Noncurrent versions (every overwritten or deleted object of the versioned data bucket: replaced
# checkpoints above all) are deleted this many days after they were replaced, unless
# lifecycle_management.noncurrent_version_expiration says otherwise ("never" keeps them); a month of
# rollback. Under S3 Object Lock / GCS retention a locked version outlives it until its lock ends.
NONCURRENT_EXPIRATION_DAYS = 30
# S3 list prices, us-east-1 (https://aws.amazon.com/s3/pricing/): Intelligent-Tiering's Frequent,
# Infrequent and Archive Instant Access tiers a GB-month, its monitoring and automation charge per
# 1,000 objects (128 KB and up) a month.
S3_IT_FREQUENT_GB_MONTH_USD = 0.023
S3_IT_INFREQUENT_GB_MONTH_USD = 0.0125
S3_IT_ARCHIVE_INSTANT_GB_MONTH_USD = 0.004
S3_IT_MONITORING_1000_OBJECTS_USD = 0.0025
# Cloud Storage Autoclass management fee per 1,000 objects (128 KiB and up) a month
# (https://cloud.google.com/storage/pricing, Autoclass).
GCS_AUTOCLASS_1000_OBJECTS_USD = 0.0025
# Objects are counted at this mean size (dataset shards and checkpoint shards are tens to hundreds
# of MiB: an assumption; the fees above are per object, so smaller objects cost more).
MEAN_OBJECT_MIB = 64
# Minimum storage durations (days; an object deleted, overwritten or moved earlier is billed for
# the rest) and retrieval charges a GB read, for the classes an age rule can put an object in:
# S3 (https://aws.amazon.com/s3/pricing/, https://docs.aws.amazon.com/AmazonS3/latest/userguide/storage-class-intro.html):
# STANDARD_IA 30 days, $0.01/GB; GLACIER_IR 90 days, $0.03/GB; DEEP_ARCHIVE 180 days, $0.02/GB
# (standard retrieval) after a restore of up to 12 hours: a GET before it fails with InvalidObjectState.
# Cloud Storage (https://cloud.google.com/storage/docs/storage-classes, https://cloud.google.com/storage/pricing):
# NEARLINE 30 days, $0.01/GB; COLDLINE 90 days, $0.02/GB; ARCHIVE 365 days, $0.05/GB.
MIN_STORAGE_DAYS = {"STANDARD_IA": 30, "GLACIER_IR": 90, "DEEP_ARCHIVE": 180, "NEARLINE": 30, "COLDLINE": 90, "ARCHIVE": 365}
RETRIEVAL_USD_GB = {"STANDARD_IA": 0.01, "GLACIER_IR": 0.03, "DEEP_ARCHIVE": 0.02, "NEARLINE": 0.01, "COLDLINE": 0.02, "ARCHIVE": 0.05}
# A training run replaces its checkpoint this often (an assumption: an hourly save); each replaced
# checkpoint is a noncurrent version, kept noncurrent_version_expiration days.
CHECKPOINT_INTERVAL_HOURS = 1.0

# Network (planner/network.py). List prices, us-east-1 / North America, first tier; the
# clouds' free tiers (AWS 100 GB of egress a month, Cloud Logging 50 GiB a project) are left out:
# other workloads of the account use them.
# NAT gateway: $0.045 an hour and $0.045 a GB processed, either direction
# (https://aws.amazon.com/vpc/pricing/). The stacks' S3 gateway endpoint keeps S3 (and ECR's image
# layers, which ECR serves from S3) off the NAT.
AWS_NAT_HOUR_USD = 0.045
AWS_NAT_GB_USD = 0.045
# Application Load Balancer: $0.0225 an hour and $0.008 an LCU-hour; an LCU is 25 new connections a
# second, 3,000 active connections a minute, 1 GB processed an hour (instance targets) or 1,000 rule
# evaluations a second, whichever is highest (https://aws.amazon.com/elasticloadbalancing/pricing/).
ALB_HOUR_USD = 0.0225
ALB_LCU_HOUR_USD = 0.008
ALB_LCU_NEW_CONNECTIONS_PER_S = 25
ALB_LCU_GB_PER_HOUR = 1.0
# Data transfer out of EC2 to the internet, first 10 TB a month
# (https://aws.amazon.com/ec2/pricing/on-demand/, Data Transfer).
AWS_INTERNET_EGRESS_GB_USD = 0.09
# VPC flow logs to CloudWatch Logs are vended logs: $0.50 a GB ingested (first 10 TB), $0.03 a
# GB-month stored (https://aws.amazon.com/cloudwatch/pricing/); storage is billed compressed and
# counted uncompressed here (an upper bound), for the log group's retention (ClusterNetwork: 365 days).
CLOUDWATCH_VENDED_LOG_GB_USD = 0.50
CLOUDWATCH_LOG_STORAGE_GB_MONTH_USD = 0.03
AWS_FLOW_LOG_RETENTION_DAYS = 365
# Cloud NAT: $0.0014 a VM-hour for each VM using the gateway up to 32 VMs, $0.044 an hour from 33;
# $0.045 a GiB processed, both directions; $0.005 an hour for each external address the gateway uses
# (the stacks' AUTO_ONLY allocation: one to start) (https://cloud.google.com/nat/pricing).
GCP_NAT_VM_HOUR_USD = 0.0014
GCP_NAT_MAX_HOUR_USD = 0.044
GCP_NAT_VM_CAP = 32
GCP_NAT_GIB_USD = 0.045
GCP_NAT_IP_HOUR_USD = 0.005
# Cloud Load Balancing: a forwarding rule $0.025 an hour (the first five), data processed $0.008 a
# GiB inbound and $0.008 outbound (https://cloud.google.com/load-balancing/pricing); the internal
# Application Load Balancer is costed alike (one proxy instance's hour and the same processing).
GCP_LB_RULE_HOUR_USD = 0.025
GCP_LB_GIB_USD = 0.008
# Premium Tier internet data transfer out, first TiB a month
# (https://cloud.google.com/vpc/network-pricing, Internet data transfer).
GCP_INTERNET_EGRESS_GIB_USD = 0.12
# VPC Flow Logs go to Cloud Logging: $0.50 a GiB ingested (https://cloud.google.com/stackdriver/pricing).
CLOUD_LOGGING_GIB_USD = 0.50
# Traffic assumptions (the plan says each where it uses it):
# - a node start pulls its image once: IMAGE_PULL_GB (the order of NGC's framework images); through
#   the NAT unless the image is in ECR (layers via the S3 gateway endpoint) or Artifact Registry
#   (Private Google Access); a batch run starts its nodes once, a serving group its replicas up to
#   the peak once a month;
# - a request: DEFAULT_REQUEST_BYTES in and DEFAULT_RESPONSE_BYTES out (a JSON prediction), unless the
#   workload's response_size says otherwise; a language model's request carries its input tokens at
#   BYTES_PER_TOKEN and its response streams STREAMED_BYTES_PER_TOKEN a token (one server-sent event
#   of the OpenAI-compatible chat-completion chunk a token, as vLLM and TGI stream it, with its id and
#   model name);
# - every request opens a connection (an upper bound for clients that keep connections alive): the
#   ALB's new-connection LCUs, and a flow-log record each;
# - a node keeps NODE_FLOWS flows busy (agents, the cloud's APIs, object storage, DNS), each logged
#   every aggregation interval it carries traffic: AWS 600 s (the flow log's default), GCP 5 s at
#   0.5 sampling (ClusterNetwork's log_config); a record is AWS_FLOW_RECORD_BYTES (the default format's
#   fields as text plus CloudWatch's 26 bytes an event) or GCP_FLOW_RECORD_BYTES (a Cloud Logging
#   entry with INCLUDE_ALL_METADATA). Collective traffic over EFA bypasses the kernel and is not
#   logged; GPUDirect-TCPX/TCPXO flows on the GPU NIC subnets are not counted.
IMAGE_PULL_GB = 10.0
DEFAULT_REQUEST_BYTES = 2048
DEFAULT_RESPONSE_BYTES = 4096
BYTES_PER_TOKEN = 4
STREAMED_BYTES_PER_TOKEN = 250
NODE_FLOWS = 20
AWS_FLOW_INTERVAL_S = 600
GCP_FLOW_INTERVAL_S = 5
GCP_FLOW_SAMPLING = 0.5
AWS_FLOW_RECORD_BYTES = 130
GCP_FLOW_RECORD_BYTES = 1500


# ---- the Kubernetes platform's control plane (SPEC.md v3 "Platforms"; planner/platform.py) ----------------
# EKS: $0.10 per cluster-hour while the version is in standard support, $0.60 in extended support
# (https://aws.amazon.com/eks/pricing/; https://aws.amazon.com/blogs/containers/amazon-eks-extended-support-for-kubernetes-versions-pricing/:
# "a total of $0.60 per cluster per hour ... standard support is unchanged, $0.10 per cluster per hour").
EKS_STANDARD_USD_HR = 0.10
EKS_EXTENDED_USD_HR = 0.60
# GKE: a cluster management fee of $0.10 per cluster-hour whatever the mode, size or topology; the free tier's
# $74.40 monthly credit per billing account applies to zonal and Autopilot clusters only, never to a regional
# cluster (https://cloud.google.com/kubernetes-engine/pricing, "Cluster management fee and free tier"). The plan
# counts the fee in full: the credit is the billing account's, and another zonal cluster may already use it.
GKE_MANAGEMENT_USD_HR = 0.10
GKE_FREE_TIER_USD_MONTH = 74.40
# GKE control plane: regional (replicated across the region's zones, 99.95% SLA) when a workload on it asks for
# REGIONAL_CONTROL_PLANE_AVAILABILITY or more, or serves traffic; else zonal (99.5% SLA, one zone)
# (https://cloud.google.com/kubernetes-engine/pricing: "99.95% for the control plane of Regional clusters, and 99.5%
# for the control plane of Zonal clusters").
REGIONAL_CONTROL_PLANE_AVAILABILITY = 99.9
# Node pool names: GKE allows 40 ("GKE's 40-character limit for NodePool.name",
# https://github.com/GoogleCloudPlatform/magic-modules/pull/18477); the shorter limit serves both clouds.
NODE_POOL_NAME_MAX = 40
# A cluster's name: GKE's 40 characters (EKS allows 100), so one name fits both clouds.
CLUSTER_NAME_MAX = 40
# The system pool every created cluster gets (planner/platform.py system_pool): an untainted on-demand pool for the
# cluster's own pods, since GPU pools are tainted (nvidia.com/gpu NoSchedule) and batch pools idle at zero.
# - What runs there: on EKS CoreDNS (a Deployment of two replicas by default,
#   https://docs.aws.amazon.com/eks/latest/userguide/managing-coredns.html) and the EBS CSI controller; on GKE kube-dns
#   (replicas set by kube-dns-autoscaler, https://cloud.google.com/kubernetes-engine/docs/concepts/kube-dns),
#   metrics-server, the konnectivity agents, managed Prometheus's operator and rule evaluator.
# - Node size: 2 vCPU and 8 GiB, the smallest non-shared-core machine in which these pods fit after GKE's node
#   reservations (https://cloud.google.com/kubernetes-engine/docs/concepts/plan-node-sizes#memory_and_cpu_reservations:
#   25% of the first 4 GiB, 20% of the next 4 GiB and 100 MiB for eviction, ~6.1 GiB allocatable of 8; 6% of the first
#   core and 1% of the second, 1.93 vCPU allocatable of 2) and what the EKS construct runs by default (m6i.large).
#   Shared-core machines (e2-micro / e2-small / e2-medium, AWS t*) are left out: CPU is time-sliced under them.
#   Google's Cluster Toolkit gives its AI clusters' system pool a 4 vCPU machine and 2 nodes
#   (GoogleCloudPlatform/cluster-toolkit modules/scheduler/gke-cluster variables.tf system_node_pool_machine_type,
#   system_node_pool_node_count total_min_nodes = 2): a larger size than the minimum, for clusters that also run
#   their own controllers (Kueue, JobSet) there; set by hand when yours does.
# - The cheapest catalog shape of SYSTEM_NODE_FAMILIES with at least these is chosen per region (m6i.large,
#   e2-standard-2 where the catalog lists them).
SYSTEM_NODE_MIN_VCPUS = 2
SYSTEM_NODE_MIN_MEMORY_GIB = 8
SYSTEM_NODE_FAMILIES = {"aws": ("m6i",), "gcp": ("e2", "n2")}
# Node counts: two, so a node's loss or upgrade keeps one CoreDNS / kube-dns replica serving (EKS, zonal GKE). A
# regional GKE cluster's node pool creates its nodes in every one of its zones ("GKE replicates each node pool across
# three zones of the control plane's region" by default, https://cloud.google.com/kubernetes-engine/docs/concepts/regional-clusters):
# one node per zone there, three in all, so a zone's loss leaves the system pods two nodes, as the control plane.
SYSTEM_NODES = 2
SYSTEM_NODES_PER_ZONE_REGIONAL = 1
GKE_REGIONAL_NODE_ZONES = 3
