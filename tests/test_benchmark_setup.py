"""
The benchmarks' set-up of the SDK follows the SDK's defaults (no I/O).

``make bench`` is not part of ``make test``, so a default the benchmarks read
(figure 2 scales the SDK's default policies by the emulator's time scale) could
change under them unnoticed: figure 2 once stopped running when the default
margin became ``None``.
"""

from __future__ import annotations

import pytest

from benchmarks.bench_batch_rate import sdk_policies
from dhmad_async import RateLimit, RetryPolicy


@pytest.mark.parametrize("time_scale", [1.0, 20.0, 50.0])
def test_figure_2_runs_the_default_policies_scaled_like_the_window(time_scale: float) -> None:
    rate, retry = sdk_policies(time_scale)
    default_rate, default_retry = RateLimit(), RetryPolicy()
    assert rate.requests == default_rate.requests
    assert rate.burst == default_rate.burst
    assert rate.per == pytest.approx(default_rate.per / time_scale)
    assert rate.effective_margin == pytest.approx(default_rate.effective_margin / time_scale)
    assert rate.counted_window == pytest.approx(default_rate.counted_window / time_scale)
    assert retry.wait_max == pytest.approx(default_retry.wait_max / time_scale)
