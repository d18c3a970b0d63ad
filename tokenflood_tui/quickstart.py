"""The quick-start files `tokenflood init` writes (docs/config.md), verbatim."""

ENDPOINT_YML = """\
provider: hosted_vllm          # litellm provider name
model: HuggingFaceTB/SmolLM-135M-Instruct
base_url: http://127.0.0.1:8000/v1
api_key_env_var: null          # NAME of the env var holding the key, never the key itself
deployment: null               # azure and others
extra_headers: {}
"""

RUN_YML = """\
name: ripple
requests_per_second_rates: [1.0, 2.0]   # one phase per rate, in this order
test_length_in_seconds: 10              # length of each phase
load_types:                             # sampled per request by weight
- {prompt_length: 512, prefix_length: 128, output_length: 64, weight: 1.0}
- {prompt_length: 640, prefix_length: 568, output_length: 12, weight: 1.0}
percentiles: [50, 90, 99]
"""
