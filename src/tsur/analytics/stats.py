"""Small statistics the analytics need, without a numerical dependency."""

from __future__ import annotations

import math

__all__ = ["poisson_sf"]


def poisson_sf(count: int, rate: float) -> float:
    """P(X ≥ ``count``) for X ~ Poisson(``rate``): how surprising ``count`` events are.

    Summed in log space from ``count`` upwards (the terms fall once past the
    mode), so tiny probabilities stay accurate.
    """
    if count <= 0:
        return 1.0
    if rate <= 0:
        return 0.0
    if count <= rate:  # the lower tail is the short sum here
        term = math.exp(-rate)
        lower = term
        for j in range(1, count):
            term *= rate / j
            lower += term
        return max(0.0, min(1.0, 1.0 - lower))
    log_term = -rate + count * math.log(rate) - math.lgamma(count + 1)
    total = 0.0
    j = count
    term = math.exp(log_term)
    while term > 0 and (total == 0 or term > total * 1e-16):
        total += term
        j += 1
        term *= rate / j
    return min(1.0, total)
