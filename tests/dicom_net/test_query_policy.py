"""Who may pull priors from which PACS: the PACS configured on this computer, and the sides
of a consultation IT's ``dicom_query_sides`` lets query it."""

from __future__ import annotations

import pytest

from app.config import SPECS
from app.dicom_net.nodes import may_pull_priors


@pytest.mark.parametrize(
    ("settings", "requester", "target"),
    [
        ({}, False, False),  # no PACS here: nothing to query
        ({"dicom_pacs": "COUNTY@10.0.0.5:104"}, True, True),  # default: both sides
        ({"dicomweb_url": "https://pacs.example/dicom-web"}, True, True),
        ({"dicom_pacs": "COUNTY@10.0.0.5:104", "dicom_query_sides": "target"}, False, True),
        ({"dicom_pacs": "COUNTY@10.0.0.5:104", "dicom_query_sides": "requester"}, True, False),
        ({"dicom_pacs": "COUNTY@10.0.0.5:104", "dicom_query_sides": "none"}, False, False),
    ],
)
def test_pull_priors_follows_the_pacs_and_the_policy(
    settings: dict, requester: bool, target: bool
) -> None:
    assert may_pull_priors(settings, "requester") is requester
    assert may_pull_priors(settings, "target") is target
    assert may_pull_priors(settings, "coordinator") is False


def test_a_wrong_policy_value_is_named() -> None:
    problem = SPECS["dicom_query_sides"].validate("specialists")
    assert problem and "target" in problem
