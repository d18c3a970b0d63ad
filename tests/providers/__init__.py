"""Test servers speaking providers' wire protocols (Azure OpenAI, Bedrock, SageMaker), for litellm.

Written from the providers' public API references; see each module's docstring for the protocol
it follows. OpenAI, Anthropic and Gemini are served by the third-party llmock (`llmock.py`).
"""

from .azure import AzureServer
from .bedrock import BedrockServer
from .common import Faults, Truth, count_tokens
from .sagemaker import SageMakerServer

__all__ = ["AzureServer", "BedrockServer", "Faults", "SageMakerServer", "Truth", "count_tokens"]
