"""Test servers speaking providers' wire protocols (Azure OpenAI, Bedrock, SageMaker), for litellm.

Written from the providers' public API references; see each module's docstring for the protocol
it follows. OpenAI, Anthropic and Gemini are served by the third-party llmock (`llmock.py`);
their reasoning models' streams (and vLLM's, SGLang's, llama.cpp's) by `reasoning.py`.
"""

from .azure import AzureServer
from .bedrock import BedrockServer
from .common import Faults, Truth, count_tokens
from .reasoning import AnthropicThinkingServer, GeminiThinkingServer, OpenAIReasoningServer, Reply
from .sagemaker import SageMakerServer

__all__ = ["AnthropicThinkingServer", "AzureServer", "BedrockServer", "Faults",
           "GeminiThinkingServer", "OpenAIReasoningServer", "Reply", "SageMakerServer", "Truth",
           "count_tokens"]
