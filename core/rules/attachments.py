"""Attachment rules: one image per message, JPEG/PNG/GIF/WebP, judged by the bytes (never the
name), at most the configured size, and it must actually decode."""

from __future__ import annotations

import hashlib
import io
import warnings
from dataclasses import dataclass

from PIL import Image, UnidentifiedImageError

from core.errors import FieldError

ALLOWED = "JPEG, PNG, GIF or WebP"
NON_IMAGE_ADVICE = (
    "For PDFs, .eml files or CSVs, paste the relevant excerpt as text in your message; "
    "we can't accept other file types for security reasons."
)
# A 5 MB file can still claim a gigantic canvas; refuse anything larger than this many pixels
# before decoding it (a decompression bomb).
MAX_PIXELS = 40_000_000


@dataclass(frozen=True)
class CheckedImage:
    sha256: str
    filename: str
    content_type: str
    size: int


def sniff_image_type(data: bytes) -> str | None:
    """The image type the leading bytes declare, or None."""
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return "image/gif"
    if len(data) >= 12 and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return None


_PIL_FORMATS = {"image/jpeg": "JPEG", "image/png": "PNG", "image/gif": "GIF", "image/webp": "WEBP"}


def _describe_other(data: bytes, filename: str) -> str:
    head = data[:512].lstrip().lower()
    name = filename.lower()
    if data.startswith(b"%PDF") or name.endswith(".pdf"):
        return "a PDF"
    if head.startswith(b"<svg") or b"<svg" in head or name.endswith(".svg"):
        return "an SVG drawing"
    if head.startswith((b"<!doctype html", b"<html")):
        return "an HTML page"
    if name.endswith(".eml") or head.startswith((b"received:", b"return-path:", b"from:")):
        return "an email file"
    if name.endswith(".csv"):
        return "a CSV file"
    return "not an image we accept"


def check_image(
    filename: str, data: bytes, max_bytes: int
) -> tuple[CheckedImage | None, FieldError | None]:
    """Validate one attachment. Returns the stored shape or a customer-worded error."""
    size = len(data)
    if size == 0:
        return None, FieldError("attachment", f"The file '{filename}' is empty.")
    if size > max_bytes:
        return None, FieldError(
            "attachment",
            f"The image '{filename}' is {size / 1024 / 1024:.1f} MB; images can be at most "
            f"{max_bytes / 1024 / 1024:g} MB. Crop it or save it as JPEG.",
        )
    content_type = sniff_image_type(data)
    if content_type is None:
        what = _describe_other(data, filename)
        return None, FieldError(
            "attachment",
            f"'{filename}' is {what}. Only images ({ALLOWED}) can be attached. {NON_IMAGE_ADVICE}",
        )
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data), formats=[_PIL_FORMATS[content_type]]) as img:
                width, height = img.size
                if width * height > MAX_PIXELS:
                    raise Image.DecompressionBombError("too many pixels")
                img.load()
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        return None, FieldError(
            "attachment",
            f"The image '{filename}' is too large in pixels to open safely. "
            "Send a smaller screenshot.",
        )
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError):
        return None, FieldError(
            "attachment",
            f"The image '{filename}' is damaged or incomplete and can't be opened. "
            "Take the screenshot again and attach that.",
        )
    return (
        CheckedImage(
            sha256=hashlib.sha256(data).hexdigest(),
            filename=_safe_name(filename, content_type),
            content_type=content_type,
            size=size,
        ),
        None,
    )


_EXT = {"image/jpeg": ".jpg", "image/png": ".png", "image/gif": ".gif", "image/webp": ".webp"}


def _safe_name(filename: str, content_type: str) -> str:
    """Keep a readable base name but make the extension tell the truth about the bytes."""
    base = filename.replace("\\", "/").rsplit("/", 1)[-1]
    base = "".join(ch for ch in base if ch.isprintable() and ch not in '<>:"|?*')[:100]
    stem = base.rsplit(".", 1)[0] if "." in base else base
    return (stem or "image") + _EXT[content_type]
