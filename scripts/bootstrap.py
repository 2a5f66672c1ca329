"""Creates the local table from template.yaml's definition, the SES sender identity and the
queues (the true-up's work, the mailer's wake-ups).

Idempotent: what already exists is left as it is, except a local table whose indexes no longer
match the template, which is recreated. Reads TABLE_NAME, SENDER_EMAIL and the
AWS_* variables the Makefile exports (endpoint http://127.0.0.1:4566, dummy credentials).
"""
import json
import os
import sys
import pathlib

import boto3
import yaml

ROOT = pathlib.Path(__file__).resolve().parent.parent


class CfnLoader(yaml.SafeLoader):
    """Reads CloudFormation short tags (!Ref, !Sub, !GetAtt …) as plain values."""


def _tag(loader, _suffix, node):
    if isinstance(node, yaml.ScalarNode):
        return loader.construct_scalar(node)
    if isinstance(node, yaml.SequenceNode):
        return loader.construct_sequence(node)
    return loader.construct_mapping(node)


CfnLoader.add_multi_constructor("!", _tag)


def resources():
    template = yaml.load((ROOT / "template.yaml").read_text(), Loader=CfnLoader)
    return template["Resources"]


def table_properties():
    return resources()["Table"]["Properties"]


def index_shape(indexes):
    """What must match between a table and the template: names, keys, projections."""
    return sorted(
        (
            g["IndexName"],
            tuple((k["AttributeName"], k["KeyType"]) for k in g["KeySchema"]),
            g["Projection"]["ProjectionType"],
        )
        for g in indexes
    )


def create_table(ddb, name, props):
    try:
        live = ddb.describe_table(TableName=name)["Table"]
        if index_shape(live.get("GlobalSecondaryIndexes", [])) == index_shape(
            props["GlobalSecondaryIndexes"]
        ) and index_shape(live.get("LocalSecondaryIndexes", [])) == index_shape(
            props.get("LocalSecondaryIndexes", [])
        ):
            print(f"table {name}: exists")
            return
        # A local table only: its data is test and demo data.
        ddb.delete_table(TableName=name)
        ddb.get_waiter("table_not_exists").wait(TableName=name)
        print(f"table {name}: its indexes changed in template.yaml; recreating (local data dropped)")
    except ddb.exceptions.ResourceNotFoundException:
        pass
    ddb.create_table(
        TableName=name,
        BillingMode=props["BillingMode"],
        AttributeDefinitions=props["AttributeDefinitions"],
        KeySchema=props["KeySchema"],
        GlobalSecondaryIndexes=props["GlobalSecondaryIndexes"],
        LocalSecondaryIndexes=props["LocalSecondaryIndexes"],
        StreamSpecification={
            "StreamEnabled": True,
            "StreamViewType": props["StreamSpecification"]["StreamViewType"],
        },
    )
    ddb.get_waiter("table_exists").wait(TableName=name)
    ttl = props["TimeToLiveSpecification"]
    ddb.update_time_to_live(
        TableName=name,
        TimeToLiveSpecification={"AttributeName": ttl["AttributeName"], "Enabled": ttl["Enabled"]},
    )
    pitr = props["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"]
    ddb.update_continuous_backups(
        TableName=name,
        PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": pitr},
    )
    print(f"table {name}: created from template.yaml")


def create_sender(ses, sender):
    existing = {i["IdentityName"] for i in ses.list_email_identities().get("EmailIdentities", [])}
    if sender in existing:
        print(f"mail identity {sender}: exists")
        return
    ses.create_email_identity(EmailIdentity=sender)
    print(f"mail identity {sender}: created")


def create_configuration_set(ses, name):
    """The configuration set the mailer sends through (the template's MailConfigurationSet)."""
    existing = ses.list_configuration_sets().get("ConfigurationSets", [])
    if name in existing:
        print(f"configuration set {name}: exists")
        return
    ses.create_configuration_set(ConfigurationSetName=name)
    print(f"configuration set {name}: created")


def create_queue(sqs, name, props, dead_letters=None):
    """A queue as template.yaml sets it up (and its dead-letter queue, if it has one)."""
    attributes = {
        "VisibilityTimeout": str(props["VisibilityTimeout"]),
        "MessageRetentionPeriod": str(props["MessageRetentionPeriod"]),
    }
    if dead_letters:
        dead = sqs.create_queue(
            QueueName=f"{name}-dead-letters",
            Attributes={"MessageRetentionPeriod": str(dead_letters["MessageRetentionPeriod"])},
        )["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=dead, AttributeNames=["QueueArn"])
        redrive = {
            "deadLetterTargetArn": arn["Attributes"]["QueueArn"],
            "maxReceiveCount": props["RedrivePolicy"]["maxReceiveCount"],
        }
        attributes["RedrivePolicy"] = json.dumps(redrive)
    url = sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
    print(f"queue {name}: {url}")


def main():
    name = os.environ.get("TABLE_NAME", "vls")
    sender = os.environ.get("SENDER_EMAIL", "licensing@vls.example.com")
    region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION", "us-east-1")
    ddb = boto3.client("dynamodb", region_name=region)
    create_table(ddb, name, table_properties())
    ses = boto3.client("sesv2", region_name=region)
    create_sender(ses, sender)
    create_configuration_set(ses, os.environ.get("SES_CONFIGURATION_SET", f"{name}-mail"))
    sqs = boto3.client("sqs", region_name=region)
    res = resources()
    create_queue(
        sqs,
        f"{name}-true-up",
        res["TrueUpQueue"]["Properties"],
        res["TrueUpDeadLetters"]["Properties"],
    )
    create_queue(sqs, f"{name}-mail-wakeups", res["MailWakeups"]["Properties"])
    create_queue(sqs, f"{name}-deliveries", res["DeliveryQueue"]["Properties"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
