"""A real S3-protocol server on loopback for the storage-URI tests: moto in server mode, as Ray's own storage
tests use it. Only 127.0.0.1 is ever contacted; the credentials are dummies that the tests put in the
environment (conftest), and instance-metadata lookups are off so no credential lookup leaves the machine."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

BUCKET = "bucket"

DUMMY_AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1",
    # No credential lookup off this machine (169.254.169.254), and no real profile of whoever runs the tests.
    "AWS_EC2_METADATA_DISABLED": "true", "AWS_CONFIG_FILE": "/nonexistent/raynn-test-aws-config",
    "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent/raynn-test-aws-credentials",
}
"""Set for the whole test session (conftest), before any Ray session starts, so that Ray's workers inherit it."""

CREDENTIAL_VARS = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE",
                   "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
                   "AWS_CONTAINER_CREDENTIALS_FULL_URI")
"""What a test deletes from the environment to have no credentials at all."""


@dataclass
class S3Server:
    """A running moto server: ``uri("runs")`` is ``s3://bucket/runs?endpoint_override=http://127.0.0.1:PORT``."""

    server: Any
    port: int

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def uri(self, prefix: str, bucket: str = BUCKET) -> str:
        return f"s3://{bucket}/{prefix}?endpoint_override={self.endpoint}"

    def client(self) -> Any:
        import boto3

        return boto3.client("s3", endpoint_url=self.endpoint, region_name="us-east-1")

    def keys(self, prefix: str = "") -> list[str]:
        """Every object key under ``prefix`` in the bucket."""
        pages = self.client().get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=prefix)
        return sorted(item["Key"] for page in pages for item in page.get("Contents", []))


def start() -> S3Server:
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    _, port = server.get_host_and_port()
    s3 = S3Server(server, port)
    s3.client().create_bucket(Bucket=BUCKET)
    return s3
