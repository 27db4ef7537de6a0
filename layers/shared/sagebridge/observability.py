"""One Logger, Metrics and Tracer for every function. Service name and namespace come from the
Powertools environment variables set in template.yaml Globals."""

from __future__ import annotations

from aws_lambda_powertools import Logger, Metrics, Tracer

logger = Logger(service="sagebridge")
metrics = Metrics(namespace="SageBridge", service="sagebridge")
tracer = Tracer(service="sagebridge")

__all__ = ["logger", "metrics", "tracer"]
