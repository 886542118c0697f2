"""`tanpuhui methodology show` states the quality tier of a version's reductions and its
uncertainty deduction (issue 9 item 9)."""

from __future__ import annotations

import json

import pytest

from tests.e2e.conftest import Run


@pytest.mark.parametrize("engine_name", ["sqlite"])  # what is shown does not depend on it
def test_methodology_show_states_the_quality_of_its_reductions(tanpuhui: Run) -> None:
    grid = tanpuhui("methodology", "show", "household_electricity.saved@3", check=True).stdout
    ebike = tanpuhui("methodology", "show", "ebike_share.beijing@2", check=True).stdout
    shown = json.loads(
        tanpuhui("methodology", "show", "metro.shenzhen@1", "--json", check=True).stdout
    )

    # a province's own value is read in the text; a regional one rests on grid membership
    assert "quality: text to derived (by the factors a reduction uses); " in grid
    assert "uncertainty deduction: none" in grid
    assert "quality: operator-set; uncertainty deduction: none" in ebike  # charging placeholder
    assert shown["quality"] == {"best": "text", "worst": "text"}
    assert shown["uncertainty_deduction"] == {}
