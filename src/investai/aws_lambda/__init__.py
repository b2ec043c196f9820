"""The AWS shape's Lambda handlers, entry points like ``api`` and ``cli``: :mod:`~investai.aws_lambda.api` (API
Gateway, through Mangum), :mod:`~investai.aws_lambda.processing` (SQS job deliveries) and
:mod:`~investai.aws_lambda.scheduler` (EventBridge schedules). Each builds what it needs on its first invocation
and keeps it for the life of the execution environment (:mod:`~investai.aws_lambda.runtime`)."""
