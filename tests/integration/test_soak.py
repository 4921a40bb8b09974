"""A minute of the chaos soak (`make soak` runs it for ten): nothing lost, nothing told
twice, nothing left behind, while workers, a daphne and Redis are killed at random."""

import pytest

from tests import soak

pytestmark = pytest.mark.stack


def test_a_minute_of_chaos_loses_nothing_and_leaves_nothing(tmp_path):
    report = soak.run(tmp_path, seconds=60)
    print("\n".join(report.lines()))
    assert report.problems() == []
    assert report.admitted > 100 and report.ended.total() == report.admitted
    assert sum(report.kills.values()) >= 5
