"""The demos' SNS inbox: an SQS queue subscribed to the alerts topic, so a demo can show what SNS
delivered. Used by scripts/demo.sh (--sns) and scripts/demo-full.sh.

    python -m emberwatch_local.inbox subscribe ENDPOINT   # prints the topic ARN
    python -m emberwatch_local.inbox drain ENDPOINT       # prints how many alert messages arrived
"""

from __future__ import annotations

import sys

import boto3

TOPIC = "bushfire-alerts"
QUEUE = "bushfire-alerts-inbox"


def subscribe(endpoint: str) -> str:
    """Create the alerts topic and the inbox queue subscribed to it (raw delivery); the topic's ARN."""
    sns = boto3.client("sns", endpoint_url=endpoint)
    sqs = boto3.client("sqs", endpoint_url=endpoint)
    topic = sns.create_topic(Name=TOPIC)["TopicArn"]
    queue = sqs.create_queue(QueueName=QUEUE)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn, Attributes={"RawMessageDelivery": "true"})
    return topic


def drain(endpoint: str) -> int:
    """Receive and delete every message waiting in the inbox; how many there were."""
    sqs = boto3.client("sqs", endpoint_url=endpoint)
    url = sqs.get_queue_url(QueueName=QUEUE)["QueueUrl"]
    count = 0
    while True:
        got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1).get("Messages", [])
        if not got:
            return count
        count += len(got)
        entries = [{"Id": m["MessageId"], "ReceiptHandle": m["ReceiptHandle"]} for m in got]
        sqs.delete_message_batch(QueueUrl=url, Entries=entries)


def main(argv: list[str]) -> int:
    if len(argv) != 2 or argv[0] not in ("subscribe", "drain"):
        print("usage: python -m emberwatch_local.inbox subscribe|drain ENDPOINT", file=sys.stderr)
        return 2
    command, endpoint = argv
    print(subscribe(endpoint) if command == "subscribe" else drain(endpoint))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
