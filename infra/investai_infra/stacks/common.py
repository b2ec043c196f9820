"""Small helpers the stacks share: CloudWatch Logs retention from a number of days, and cdk-nag
acknowledgements that land in the validation report.

Why :func:`acknowledge` writes ``AwsSolutions::<rule>``: with cdk-nag 3 an id without the plugin's namespace
(``AwsSolutions-IAM5``) is recorded as an annotation rule and swallowed by cdk-nag itself, so the finding and
its reason never reach ``validation-report.json``; the namespaced id is matched by the CDK, which lists the
finding under ``suppressedViolations`` with its reason — the audit trail the tests check.
"""

from __future__ import annotations

from aws_cdk import Acknowledgment, Validations
from aws_cdk import aws_logs as logs
from constructs import IConstruct

NAG_NAMESPACE = "AwsSolutions"
_RETENTION = {
    1: logs.RetentionDays.ONE_DAY,
    7: logs.RetentionDays.ONE_WEEK,
    14: logs.RetentionDays.TWO_WEEKS,
    30: logs.RetentionDays.ONE_MONTH,
    60: logs.RetentionDays.TWO_MONTHS,
    90: logs.RetentionDays.THREE_MONTHS,
    180: logs.RetentionDays.SIX_MONTHS,
    365: logs.RetentionDays.ONE_YEAR,
    731: logs.RetentionDays.TWO_YEARS,
}


def log_retention(days: int) -> logs.RetentionDays:
    """CloudWatch Logs' retention for a stage's ``log_retention_days`` (only the periods Logs offers)."""
    try:
        return _RETENTION[days]
    except KeyError:
        raise ValueError(f"CloudWatch Logs has no {days}-day retention; use one of {sorted(_RETENTION)}") from None


def acknowledge(construct: IConstruct, findings: dict[str, str]) -> None:
    """Acknowledge cdk-nag findings on ``construct`` (and its children): ``{"IAM5[Resource::*]": "why", ...}``
    — rule ids without the ``AwsSolutions-`` prefix, each with its reason."""
    Validations.of(construct).acknowledge(
        *(
            Acknowledgment(id=f"{NAG_NAMESPACE}::{NAG_NAMESPACE}-{finding}", reason=reason)
            for finding, reason in findings.items()
        )
    )
