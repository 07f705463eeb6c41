"""Where a live stream comes from and goes to, and how its address may be shown.

Stream addresses carry secrets: ``rtsp://user:password@camera/...``, an SRT
``passphrase=``, an RTMP stream key in the path. Every address that reaches a
log line, an error or the status line goes through :func:`redact` first, and
:func:`redact_text` cleans any text (an FFmpeg error message repeats the URL).
"""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

#: schemes read through FFmpeg's network protocols
NETWORK_SCHEMES = frozenset(
    {"rtsp", "rtsps", "rtmp", "rtmps", "srt", "udp", "tcp", "rtp", "http", "https"}
)
#: query parameters whose values are secrets (SRT passphrase, tokens, keys)
_SECRET_PARAMS = frozenset(
    {"passphrase", "password", "pass", "pwd", "token", "key", "secret", "auth", "streamid"}
)
_USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.\-]*://)[^/@\s'\"]+@")
_PARAM = re.compile(r"(?i)([?&;](?:" + "|".join(sorted(_SECRET_PARAMS)) + r")=)[^&;\s'\"]*")
_RTMP_KEY = re.compile(r"(?i)\b(rtmps?://[^/\s'\"]+/[^/\s'\"?]+/)[^\s'\"?]+")


def redact_text(text: str) -> str:
    """``text`` with every credential in a URL replaced by ``***``.

    ``user:password@`` becomes ``***@``, secret query values become ``***`` and
    an RTMP stream key (the path after the application) becomes ``***``.
    """
    text = _USERINFO.sub(r"\1***@", str(text))
    text = _PARAM.sub(r"\1***", text)
    return _RTMP_KEY.sub(r"\1***", text)


def redact(url: str | Path) -> str:
    """An address safe to print (see :func:`redact_text`)."""
    return redact_text(str(url))


def scheme(url: str | Path) -> str:
    """The lower-case URL scheme, or '' for a local path."""
    text = str(url)
    if "://" not in text:
        return ""
    return urlsplit(text).scheme.lower()


def is_network(url: str | Path) -> bool:
    return scheme(url) in NETWORK_SCHEMES


def has_secret(url: str | Path) -> bool:
    """Whether ``url`` carries a credential (so that tests can check none leaks)."""
    text = str(url)
    if "://" not in text:
        return False
    parts = urlsplit(text)
    if parts.username or parts.password:
        return True
    return any(k.lower() in _SECRET_PARAMS for k, _ in parse_qsl(parts.query))
