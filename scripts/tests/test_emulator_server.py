"""The emulator's own changes to moto (scripts/emulator_server.py), in process: a query of a
global index walks only the partition it asks for, and still sees every write that moved an
item into or out of it, a transaction's and its rollback's included."""
import boto3
from botocore.exceptions import ClientError
from moto import mock_aws

import scripts.emulator_server  # noqa: F401  (patches moto on import)


def table(ddb):
    ddb.create_table(
        TableName="t",
        BillingMode="PAY_PER_REQUEST",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"},
                   {"AttributeName": "sk", "KeyType": "RANGE"}],
        AttributeDefinitions=[{"AttributeName": a, "AttributeType": "S"}
                              for a in ("pk", "sk", "g")],
        GlobalSecondaryIndexes=[{
            "IndexName": "gsi",
            "KeySchema": [{"AttributeName": "g", "KeyType": "HASH"},
                          {"AttributeName": "sk", "KeyType": "RANGE"}],
            "Projection": {"ProjectionType": "KEYS_ONLY"},
        }],
    )


def put(ddb, pk, g=None):
    item = {"pk": {"S": pk}, "sk": {"S": "x"}}
    if g:
        item["g"] = {"S": g}
    ddb.put_item(TableName="t", Item=item)


def key(pk):
    return {"pk": {"S": pk}, "sk": {"S": "x"}}


def q(ddb, value):
    found = ddb.query(TableName="t", IndexName="gsi", KeyConditionExpression="g = :v",
                      ExpressionAttributeValues={":v": {"S": value}})["Items"]
    return sorted(i["pk"]["S"] for i in found)


@mock_aws
def test_a_global_index_partition_follows_every_write():
    ddb = boto3.client("dynamodb", region_name="us-east-1")
    table(ddb)
    put(ddb, "a", "x")
    put(ddb, "b", "x")
    put(ddb, "c", "y")
    put(ddb, "n")
    assert q(ddb, "x") == ["a", "b"]
    ddb.update_item(TableName="t", Key=key("b"), UpdateExpression="SET g = :y",
                    ExpressionAttributeValues={":y": {"S": "y"}})
    ddb.update_item(TableName="t", Key=key("a"), UpdateExpression="REMOVE g")
    assert (q(ddb, "x"), q(ddb, "y")) == ([], ["b", "c"])
    put(ddb, "c", "x")  # replaced: out of y, into x
    ddb.delete_item(TableName="t", Key=key("b"))
    assert (q(ddb, "x"), q(ddb, "y")) == (["c"], [])
    ddb.transact_write_items(TransactItems=[
        {"Put": {"TableName": "t", "Item": {**key("e"), "g": {"S": "x"}}}},
        {"Update": {"TableName": "t", "Key": key("c"), "UpdateExpression": "SET g = :z",
                    "ExpressionAttributeValues": {":z": {"S": "z"}}}},
    ])
    assert (q(ddb, "x"), q(ddb, "z")) == (["e"], ["c"])
    try:
        ddb.transact_write_items(TransactItems=[
            {"Update": {"TableName": "t", "Key": key("e"), "UpdateExpression": "SET g = :z",
                        "ExpressionAttributeValues": {":z": {"S": "z"}}}},
            {"Put": {"TableName": "t", "Item": {**key("c"), "g": {"S": "x"}},
                     "ConditionExpression": "attribute_not_exists(pk)"}},
        ])
        raise AssertionError("the condition should have failed")
    except ClientError as e:
        assert e.response["Error"]["Code"] == "TransactionCanceledException"
    assert (q(ddb, "x"), q(ddb, "z")) == (["e"], ["c"]), "rolled back"
