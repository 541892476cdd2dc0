"""`multipart/form-data` request bodies: the form's fields as a mapping JSON Schema can validate.

A text part becomes a string. A file part (one with a `filename`) becomes an
`UploadedFile`: a `str` holding the file's bytes one character per byte
(Latin-1, so `maxLength` counts bytes and a schema's `type: string,
format: binary` accepts it) that also carries the file name and content type.
A field sent twice keeps its last value. A body that is not a well-formed form
is the caller's `ApiError(INVALID)`.
"""

from __future__ import annotations

from email.message import Message
from email.parser import BytesParser
from email.policy import HTTP

from sandbox.errors import ApiError, ErrorKind

MULTIPART = "multipart/form-data"


class UploadedFile(str):
    """A file part of a form: its bytes as text (Latin-1), with the name and type the client gave."""

    filename: str
    content_type: str

    def __new__(cls, content: bytes, filename: str, content_type: str) -> UploadedFile:
        uploaded = super().__new__(cls, content.decode("latin-1"))
        uploaded.filename = filename
        uploaded.content_type = content_type
        return uploaded

    @property
    def content(self) -> bytes:
        return self.encode("latin-1")


def parse_multipart(body: bytes, content_type: str) -> dict[str, str]:
    """The fields of a `multipart/form-data` body (`content_type` is the header, with its boundary)."""
    if "boundary=" not in content_type.lower():
        raise ApiError(ErrorKind.INVALID, "A multipart/form-data body needs a boundary in its Content-Type.")
    header = f"Content-Type: {content_type}\r\nMIME-Version: 1.0\r\n\r\n".encode("latin-1", "replace")
    message = BytesParser(policy=HTTP).parsebytes(header + body)
    if not message.is_multipart() or message.defects:
        raise ApiError(ErrorKind.INVALID, "The request body is not a well-formed multipart/form-data body.")
    fields: dict[str, str] = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if not isinstance(name, str) or part.get_content_disposition() != "form-data":
            raise ApiError(ErrorKind.INVALID, "Every part of a multipart/form-data body needs a form-data name.")
        fields[name] = part_value(part, name)
    return fields


def part_value(part: Message, name: str) -> str:
    content = part.get_payload(decode=True)
    data = content if isinstance(content, bytes) else b""
    filename = part.get_filename()
    if filename is not None:
        return UploadedFile(data, filename, part.get_content_type())
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise ApiError(ErrorKind.INVALID, f"The form field {name} is not valid UTF-8.", field=name) from None
