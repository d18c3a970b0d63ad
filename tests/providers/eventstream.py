"""AWS event-stream framing (`application/vnd.amazon.eventstream`), the encoding side.

From the AWS reference ("Event stream encoding", used by Bedrock ConverseStream and SageMaker
InvokeEndpointWithResponseStream): every message is

    total length (uint32) | headers length (uint32) | prelude CRC32 (of the 8 bytes before)
    headers | payload | message CRC32 (of everything before it)

and a header is: name length (uint8), name (UTF-8), value type (uint8; 7 = string), value length
(uint16), value. Integers are big-endian.
"""

from __future__ import annotations

import json
import struct
from binascii import crc32

_STRING = 7


def frame(headers: dict[str, str], payload: bytes) -> bytes:
    """One event-stream message."""
    head = b""
    for name, value in headers.items():
        n, v = name.encode(), value.encode()
        head += struct.pack(">B", len(n)) + n + struct.pack(">BH", _STRING, len(v)) + v
    total = 12 + len(head) + len(payload) + 4
    prelude = struct.pack(">II", total, len(head))
    prelude += struct.pack(">I", crc32(prelude) & 0xFFFFFFFF)
    message = prelude + head + payload
    return message + struct.pack(">I", crc32(message) & 0xFFFFFFFF)


def event(event_type: str, payload: dict | bytes,
          content_type: str = "application/json") -> bytes:
    """An `event` message; a dict payload is sent as JSON."""
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    return frame({":event-type": event_type, ":content-type": content_type,
                  ":message-type": "event"}, body)


def exception(exception_type: str, message: str) -> bytes:
    """An `exception` message (a modelled error sent inside a stream that already started)."""
    return frame({":exception-type": exception_type, ":content-type": "application/json",
                  ":message-type": "exception"}, json.dumps({"message": message}).encode())
