"""Provider names and which client serves them.

The provider list is litellm's own (`litellm.provider_list`, litellm 1.110.2), copied so that
validating an endpoint file never imports litellm (seconds and ~200 MB). A test checks the copy
against the installed litellm.
"""

from __future__ import annotations

LITELLM_PROVIDERS = frozenset("""
a2a a2a_agent abliteration ai21 ai21_chat aiand aiml aiohttp_openai amazon_nova anthropic
anthropic_text apertis assemblyai auto_router aws_polly aws_textract azure azure_ai azure_speech
azure_text baseten bedrock bedrock_mantle bespoke bigmodel black_forest_labs bytez cerebras
charity_engine chatgpt chutes clarifai clf_ai_gateway cloudflare codestral cognition cohere
cohere_chat cometapi compactifai coralbricks cortecs cursor custom custom_openai darkbloom
dashscope databricks databricks_agent datarobot deepgram deepinfra deepseek docker_model_runner
dotprompt edenai elevenlabs empiriolabs empower eu_jev fal_ai featherless_ai fireworks_ai
friendliai galadriel gdc gemini gigachat github github_copilot gradient_ai groq helicone heroku
hosted_vllm hostinger_router huggingface humanloop hyperbolic inception inferenceapis infinity
jina_ai kyma lambda_ai langflow langfuse langgraph laya lemonade libertai litellm_agent
litellm_proxy llamafile lm_studio manus maritalk meta meta_llama microsoft_365_copilot milvus
minimax mistral modelscope mongodb moonshot morph nace nadir nano-gpt nebius neosantara
nlp_cloud novita nscale nvidia_nim nvidia_riva oci ollama ollama_chat oobabooga openai
openai_like opencode_go openinfer openrouter opensearch ovhcloud parallel_ai parasail perplexity
petals pg_vector pinstripes poe predibase prism publicai qwen_ai_platform qwencloud ragflow
recraft reducto refuseless reka replicate runwayml s3_vectors sagemaker sagemaker_chat
sagemaker_nova sail sambanova sap scaledown scaleway scx-ai snowflake soniox stability
strands_decider streamlake synthetic tencent tensormesh text-completion-codestral
text-completion-inception text-completion-openai together_ai topaz transcribe triton typesafe v0
valkey vercel_ai_gateway vertex_ai vertex_ai_beta vllm volcengine voyage wally wandb watsonx
watsonx_text xai xiaomi_mimo xinference zai zerogpu
""".split())

# litellm.openai_compatible_providers: they speak OpenAI chat completions, so given a base_url the
# built-in client can talk to them directly.
OPENAI_COMPATIBLE = frozenset("""
ai21 ai21_chat aiand aiml anyscale apertis azure_ai baseten cerebras chatgpt chutes clarifai
clf_ai_gateway codestral cognition cometapi coralbricks cortecs darkbloom dashscope deepinfra
deepseek docker_model_runner edenai empower featherless_ai fireworks_ai friendliai galadriel
github github_copilot groq helicone hosted_vllm hostinger_router hyperbolic inception lambda_ai
libertai litellm_proxy llamafile lm_studio meta meta_llama modelscope moonshot morph nano-gpt
nebius novita nscale nvidia_nim opencode_go openinfer parasail perplexity pinstripes poe prism
publicai qwen_ai_platform qwencloud ragflow reka sail sambanova scx-ai streamlake synthetic
tencent tensormesh together_ai v0 vercel_ai_gateway volcengine wally wandb xai xinference zai
zerogpu
""".split()) | {"openai", "openai_like", "custom_openai"}

# Servers people run themselves (vLLM, llama.cpp, SGLang, TGI behind `hosted_vllm`): they accept
# `ignore_eos`, so outputs reach their target length exactly. Hosted APIs reject it.
SELF_HOSTED = frozenset(
    {"hosted_vllm", "llamafile", "lm_studio", "docker_model_runner", "xinference", "openai_like",
     "custom_openai", "oobabooga"}
)

# litellm signs these providers' requests with AWS credentials (SigV4), not an API key.
SAGEMAKER = frozenset({"sagemaker", "sagemaker_chat", "sagemaker_nova"})
AWS_SIGNED = frozenset({"bedrock"}) | SAGEMAKER

OPENAI_DEFAULT_BASE_URL = "https://api.openai.com/v1"
