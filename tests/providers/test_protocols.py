"""The AWS test servers against AWS's own SDK: boto3 signs, sends and parses as it does with AWS.

If boto3 reads the streams, usage and errors, the servers are faithful to the protocol and not
only to what litellm happens to accept.
"""

from __future__ import annotations

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from providers import BedrockServer, Faults, SageMakerServer
from providers.aws import ACCESS_KEY_ID, SECRET_ACCESS_KEY


def client(service: str, url: str, secret: str = SECRET_ACCESS_KEY):
    return boto3.client(service, endpoint_url=url, region_name="us-east-1",
                        aws_access_key_id=ACCESS_KEY_ID, aws_secret_access_key=secret,
                        config=Config(retries={"total_max_attempts": 1}))


def test_bedrock_converse_stream_parses_with_boto3():
    with BedrockServer(ttft_ms=1, itl_ms=1) as server:
        out = client("bedrock-runtime", server.base_url).converse_stream(
            modelId=server.model_id, messages=[{"role": "user", "content": [{"text": "one two three"}]}],
            inferenceConfig={"maxTokens": 5})
        events = list(out["stream"])
    kinds = [next(iter(e)) for e in events]
    assert kinds == ["messageStart"] + ["contentBlockDelta"] * 5 + \
        ["contentBlockStop", "messageStop", "metadata"]
    text = "".join(e["contentBlockDelta"]["delta"]["text"] for e in events if "contentBlockDelta" in e)
    assert text == " the keeper climbed the stairs"
    usage = events[-1]["metadata"]["usage"]
    truth = server.truth[0]
    assert (usage["inputTokens"], usage["outputTokens"]) == (truth.prompt_tokens, 5) == (3 + 7, 5)
    assert events[-2]["messageStop"]["stopReason"] == "max_tokens"


@pytest.mark.parametrize("status, code", [(429, "ThrottlingException"),
                                          (500, "InternalServerException"),
                                          (403, "AccessDeniedException")])
def test_bedrock_forced_errors_are_aws_errors(status, code):
    with BedrockServer(faults=Faults(every_request=status)) as server:
        with pytest.raises(ClientError) as err:
            client("bedrock-runtime", server.base_url).converse_stream(modelId=server.model_id,
                                    messages=[{"role": "user", "content": [{"text": "hi"}]}])
    assert err.value.response["Error"]["Code"] == code
    assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == status
    assert [t.status for t in server.truth] == [status]          # sent once, not retried


def test_a_wrong_secret_fails_the_signature_check():
    with BedrockServer() as server:
        with pytest.raises(ClientError) as err:
            client("bedrock-runtime", server.base_url, secret="wrong").converse_stream(
                modelId=server.model_id, messages=[{"role": "user", "content": [{"text": "hi"}]}])
    assert err.value.response["Error"]["Code"] == "InvalidSignatureException"
    assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403


@pytest.mark.parametrize("container", ["tgi", "messages"])
def test_sagemaker_response_stream_parses_with_boto3(container):
    import json

    body = ({"inputs": "one two three", "parameters": {"max_new_tokens": 4, "details": True},
             "stream": True} if container == "tgi" else
            {"messages": [{"role": "user", "content": "one two three"}], "max_tokens": 4,
             "stream": True, "stream_options": {"include_usage": True}})
    with SageMakerServer(container=container, ttft_ms=1, itl_ms=1) as server:
        out = client("sagemaker-runtime", server.root_url).invoke_endpoint_with_response_stream(
            EndpointName=server.endpoint_name, Body=json.dumps(body), ContentType="application/json")
        data = b"".join(e["PayloadPart"]["Bytes"] for e in out["Body"])
    records = [json.loads(line.split(b":", 1)[1]) for line in data.split(b"\n\n") if line.strip()
               and line.strip() != b"data: [DONE]"]
    if container == "tgi":
        assert [r["token"]["text"] for r in records] == [" the", " keeper", " climbed", " the"]
        assert records[-1]["details"] == {"finish_reason": "length", "generated_tokens": 4, "seed": None}
        assert all("usage" not in r for r in records)        # TGI reports no usage
    else:
        assert records[-1]["usage"] == {"prompt_tokens": 4 + 3 + 3, "completion_tokens": 4,
                                        "total_tokens": 14}
    assert server.truth[0].output_tokens == 4
