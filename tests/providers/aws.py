"""What the Bedrock and SageMaker servers share: SigV4 checking, AWS errors, event-stream replies.

Requests to AWS are signed with Signature Version 4; the servers check the signature with the
test credentials (botocore computes the expected one from the signed headers the request names),
so a wrong secret is refused as AWS refuses it: 403 with `x-amzn-ErrorType`. Errors of the
rest-json protocol carry their type in `x-amzn-ErrorType` and a JSON body with the message.
"""

from __future__ import annotations

import hmac
import re
import uuid

from aiohttp import web

from .common import ProviderServer

ACCESS_KEY_ID = "AKIATOKENFLOODTEST01"
SECRET_ACCESS_KEY = "tokenflood/test/secret/key/not-a-real-one/0001"

_AUTH = re.compile(r"AWS4-HMAC-SHA256 Credential=([^/]+)/(\d{8})/([^/]+)/([^/]+)/aws4_request, "
                   r"SignedHeaders=([^,]+), Signature=([0-9a-f]{64})")


def check_sigv4(request: web.Request, body: bytes, service: str,
                secret: str = SECRET_ACCESS_KEY, access_key: str = ACCESS_KEY_ID) -> str | None:
    """None when the signature is valid for these credentials, else the AWS error type."""
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    match = _AUTH.fullmatch(request.headers.get("Authorization", ""))
    if match is None:
        return "MissingAuthenticationTokenException"
    key_id, _, region, signed_service, signed_headers, signature = match.groups()
    if key_id != access_key or signed_service != service:
        return "UnrecognizedClientException"
    names = signed_headers.split(";")
    headers = {name: request.headers.get(name, "") for name in names}
    url = f"http://{request.headers['Host']}{request.raw_path}"
    aws = AWSRequest(method=request.method, url=url, data=body, headers=headers)
    aws.context["timestamp"] = request.headers.get("X-Amz-Date", "")
    signer = SigV4Auth(Credentials(access_key, secret), service, region)
    expected = signer.signature(signer.string_to_sign(aws, signer.canonical_request(aws)), aws)
    return None if hmac.compare_digest(expected, signature) else "InvalidSignatureException"


_AUTH_MESSAGES = {
    "MissingAuthenticationTokenException": "Missing Authentication Token",
    "UnrecognizedClientException": "The security token included in the request is invalid.",
    "InvalidSignatureException": "The request signature we calculated does not match the "
                                 "signature you provided. Check your AWS Secret Access Key and "
                                 "signing method. Consult the service documentation for details.",
}


def access_key_of(request: web.Request) -> str | None:
    """The access key id a signed request names (recorded in the truth, never a secret)."""
    match = _AUTH.fullmatch(request.headers.get("Authorization", ""))
    return match.group(1) if match else None


def aws_error(status: int, error_type: str, message: str) -> web.Response:
    return web.json_response({"message": message}, status=status,
                             headers={"x-amzn-ErrorType": f"{error_type}:http://internal.amazon.com/",
                                      "x-amzn-RequestId": str(uuid.uuid4())})


def auth_error(error_type: str) -> web.Response:
    return aws_error(403, error_type, _AUTH_MESSAGES[error_type])


class AwsServer(ProviderServer):
    """Signature check and error shapes; `service` is the SigV4 service name."""

    service = ""
    errors: dict[int, tuple[str, str]] = {}

    def __init__(self, *, secret: str = SECRET_ACCESS_KEY, **kw):
        super().__init__(**kw)
        self.secret = secret

    def error_response(self, status: int) -> web.Response:
        if status == 403:
            return aws_error(403, "AccessDeniedException",
                             f"User: arn:aws:iam::123456789012:user/tokenflood is not authorized to "
                             f"perform: {self.service}:Invoke* on this resource")
        error_type, message = self.errors.get(status, ("InternalServerException", "error"))
        return aws_error(status, error_type, message)

    async def authorize(self, request: web.Request, body: bytes) -> web.Response | None:
        problem = check_sigv4(request, body, self.service, self.secret)
        return None if problem is None else auth_error(problem)

    async def open_stream(self, request: web.Request, **headers: str) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "application/vnd.amazon.eventstream",
                                               "x-amzn-RequestId": str(uuid.uuid4()), **headers})
        await response.prepare(request)
        return response
