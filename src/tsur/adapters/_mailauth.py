"""Whether a letter's sender is verified: the receiving server's SPF, DKIM and DMARC
results (``Authentication-Results``, RFC 8601) read for the ``From`` address.

Only a header whose authserv-id is one the source trusts counts (the
receiving server names itself there, and removes headers claiming its name
from incoming letters); of several, the topmost, which that server added
last. The sender is verified when DMARC passes for the ``From`` domain, or
DKIM or SPF passes for a domain aligned with it (the same domain, or a
parent of it of two labels at least: stricter than DMARC's relaxed
alignment, which would need the public-suffix list); a DMARC ``fail``
decides against it whatever else passed.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Any

__all__ = ["SenderCheck", "check_sender", "parse_authentication_results"]

#: Longest header read (a hostile letter may carry megabytes).
MAX_HEADER = 8192
_COMMENT = re.compile(r"\([^()]*\)")
_PAIR = re.compile(r'([A-Za-z0-9_.-]{1,64})[ \t]*=[ \t]*("[^"\\]{0,1024}"|[^\s;"]{1,1024})')
_ID = re.compile(r"[^\s;]{1,255}")

#: What :func:`check_sender` found: ``verified`` is True, False, or None (no trusted header).
SenderCheck = dict[str, Any]


def parse_authentication_results(value: str) -> tuple[str, list[dict[str, str]]]:
    """The authserv-id and the results (``{"method": …, "result": …, "<ptype.prop>": …}``)
    of one ``Authentication-Results`` header value; ``("", [])`` when unreadable."""
    text = " ".join(value[:MAX_HEADER].split())
    for _ in range(8):  # comments, nested a few levels at most
        stripped = _COMMENT.sub(" ", text)
        if stripped == text:
            break
        text = stripped
    head, _, rest = text.partition(";")
    m = _ID.match(head.strip())
    if m is None:
        return "", []
    results: list[dict[str, str]] = []
    for part in rest.split(";"):
        pairs = _PAIR.findall(part)
        if not pairs:
            continue
        method, result = pairs[0]
        entry = {"method": method.lower(), "result": result.strip('"').lower()}
        for key, val in pairs[1:]:
            entry.setdefault(key.lower(), val.strip('"'))
        results.append(entry)
    return m.group(0).lower(), results


def _domain(value: str | None) -> str:
    if not value:
        return ""
    return value.rpartition("@")[2].strip().strip(".").lower()


def _aligned(domain: str, from_domain: str) -> bool:
    """``domain`` is the ``From`` domain or a parent of it with two labels at least
    (a signature of a subdomain does not vouch for its parent, nor one of a TLD)."""
    if domain.count(".") < 1:
        return False
    return from_domain == domain or from_domain.endswith("." + domain)


def check_sender(
    headers: Iterable[str], from_address: str | None, trusted: Sequence[str]
) -> SenderCheck:
    """Whether ``from_address`` is verified by a trusted ``Authentication-Results``.

    ``headers`` are the letter's ``Authentication-Results`` values, topmost
    first. Without ``trusted`` ids nothing is checked (``verified`` None).
    """
    wanted = {t.lower() for t in trusted}
    if not wanted:
        return {"verified": None}
    from_domain = _domain(from_address)
    for value in headers:
        authserv, results = parse_authentication_results(str(value))
        if authserv not in wanted:
            continue
        found: dict[str, str] = {}
        passed = False
        for r in results:
            method, result = r["method"], r["result"]
            if method in ("dmarc", "dkim", "spf"):
                found.setdefault(method, result)
            if result != "pass" or not from_domain:
                continue
            if method == "dmarc":
                passed |= _domain(r.get("header.from")) in ("", from_domain)
            elif method == "dkim":
                passed |= _aligned(_domain(r.get("header.d") or r.get("header.i")), from_domain)
            elif method == "spf":
                passed |= _aligned(_domain(r.get("smtp.mailfrom")), from_domain)
        if found.get("dmarc") in ("fail", "quarantine", "reject"):
            passed = False  # the domain's own policy says the letter is not its
        return {"verified": passed, "authserv_id": authserv, **found}
    return {"verified": False, "reason": "no Authentication-Results of a trusted server"}
