"""The adapters: the only code that talks to AWS (boto3), implementing the service's ports.

``s3_store`` (objects), ``runs`` (run and step records), ``accounts`` (account state, orders,
fills, positions, in one transaction per execution), ``quotes`` (latest bar per symbol),
``aws_errors`` (throttling, timeouts and 5xx become ``TransientStoreError``), ``dynamo``
(plain JSON values to and from DynamoDB attribute values).
"""
