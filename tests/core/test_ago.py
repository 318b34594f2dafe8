"""clinvk.ago says what humanize's naturaltime says of a timedelta, word for word."""

from __future__ import annotations

import random
from datetime import timedelta

import humanize
import pytest

from clinvk.ago import ago


def deltas() -> list[timedelta]:
    rng = random.Random(11)
    found = [timedelta(0), timedelta(microseconds=1), timedelta(microseconds=999_999)]
    found += [timedelta(seconds=s) for s in range(0, 2 * 86400 + 3700, 7)]
    found += [timedelta(seconds=s) for s in (59, 60, 89, 90, 91, 149, 150, 151, 3569, 3570,
                                             3599, 3600, 5399, 5400, 5401, 84599, 84600, 86399)]
    found += [timedelta(days=d, seconds=rng.randrange(86400)) for d in range(5000)]
    found += [timedelta(days=d) for d in (364, 365, 366, 395, 396, 715, 716, 729, 730, 912,
                                         913, 365 * 1000, 365 * 1234 + 200)]
    found += [timedelta(seconds=rng.uniform(0, 4e8)) for _ in range(5000)]
    return found + [-d for d in found]


def test_ago_is_humanize_naturaltime_of_a_timedelta() -> None:
    wrong = [(d, ago(d), humanize.naturaltime(d)) for d in deltas()
             if ago(d) != humanize.naturaltime(d)]
    assert wrong == []


@pytest.mark.parametrize(("delta", "words"), [
    (timedelta(0), "now"), (timedelta(seconds=5), "5 seconds ago"),
    (timedelta(minutes=1, seconds=29), "a minute ago"), (timedelta(hours=23, minutes=31), "a day ago"),
    (timedelta(days=45), "a month ago"), (timedelta(days=400), "1 year, 1 month ago"),
    (timedelta(days=-3), "3 days from now"), (timedelta(days=365 * 1500), "1,500 years ago"),
])
def test_ago_reads_as_before(delta: timedelta, words: str) -> None:
    assert ago(delta) == words
