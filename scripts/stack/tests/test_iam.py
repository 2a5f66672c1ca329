"""IAM evaluation and request classification for the local stack's AWS proxy."""

import json
from urllib.parse import urlencode

import pytest

from .. import iam
from ..iam import Call, Unclassified, UnsupportedCondition, classify, evaluate

REGION = "us-east-1"
ACCOUNT = "123456789012"
TABLE = f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/vls"
SENDER = "licensing@vls.example.com"
SIGNATURE = (
    "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20260101/us-east-1/{service}/aws4_request, "
    "SignedHeaders=content-type;host;x-amz-date;x-amz-target, "
    "Signature=5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7"
)


def policy(*statements):
    return {"Version": "2012-10-17", "Statement": list(statements)}


def allow(action, resource, **extra):
    return {"Effect": "Allow", "Action": action, "Resource": resource, **extra}


def deny(action, resource, **extra):
    return {"Effect": "Deny", "Action": action, "Resource": resource, **extra}


def signed(service, **headers):
    return {"Authorization": SIGNATURE.format(service=service), **headers}


def json_call(target, body, service):
    """A JSON-protocol request as the SDK sends it: POST / with X-Amz-Target."""
    headers = signed(
        service, **{"X-Amz-Target": target, "Content-Type": "application/x-amz-json-1.0"}
    )
    return classify("POST", "/", "", headers, json.dumps(body).encode(), REGION, ACCOUNT)


def dynamodb(operation, body):
    return json_call(f"DynamoDB_20120810.{operation}", body, "dynamodb")


# --------------------------------------------------------------------------- evaluation


def test_allow_matches_and_anything_else_is_implicitly_denied():
    policies = [policy(allow("dynamodb:GetItem", TABLE))]
    assert evaluate(policies, "dynamodb:GetItem", TABLE).allowed
    refused = evaluate(policies, "dynamodb:PutItem", TABLE)
    assert not refused.allowed
    assert "no statement allows it" in refused.reason
    assert not evaluate(policies, "dynamodb:GetItem", TABLE + "-other").allowed


def test_explicit_deny_beats_allow_in_any_policy():
    policies = [
        policy(allow("dynamodb:*", "*")),
        policy({"Sid": "NoDeletes", **deny("dynamodb:DeleteItem", TABLE)}),
    ]
    refused = evaluate(policies, "dynamodb:DeleteItem", TABLE)
    assert not refused.allowed
    assert "explicitly denied by statement Sid NoDeletes" in refused.reason
    assert evaluate(policies, "dynamodb:PutItem", TABLE).allowed


def test_decision_names_the_statement_by_sid_or_position():
    named = evaluate(
        [policy({"Sid": "TableReadWrite", **allow("dynamodb:GetItem", TABLE)})],
        "dynamodb:GetItem",
        TABLE,
    )
    assert named.reason.endswith("allowed by statement Sid TableReadWrite")
    unnamed = evaluate(
        [policy(allow("x:Y", "*")), policy(allow("x:Z", "*"), allow("dynamodb:GetItem", "*"))],
        "dynamodb:GetItem",
        TABLE,
    )
    assert unnamed.reason.endswith("allowed by statement 2 of policy 2")


@pytest.mark.parametrize(
    "pattern, action, allowed",
    [
        ("dynamodb:*", "dynamodb:PutItem", True),
        ("dynamodb:*", "sqs:SendMessage", False),
        ("dynamodb:Get*", "dynamodb:GetItem", True),
        ("dynamodb:Get*", "dynamodb:GetRecords", True),
        ("dynamodb:Get*", "dynamodb:BatchGetItem", False),
        ("*", "ses:SendEmail", True),
        ("dynamodb:?etItem", "dynamodb:GetItem", True),
        ("dynamodb:?etItem", "dynamodb:PutItem", False),
    ],
)
def test_action_wildcards(pattern, action, allowed):
    assert evaluate([policy(allow(pattern, "*"))], action, TABLE).allowed is allowed


@pytest.mark.parametrize(
    "resource, allowed",
    [
        (f"{TABLE}/index/by-partner", True),
        (f"{TABLE}/index/by-partner/extra", True),  # * spans slashes, as in IAM
        (TABLE, False),
        (f"{TABLE}-archive/index/by-partner", False),
    ],
)
def test_resource_star_wildcard(resource, allowed):
    policies = [policy(allow("dynamodb:Query", f"{TABLE}/index/*"))]
    assert evaluate(policies, "dynamodb:Query", resource).allowed is allowed


def test_resource_question_mark_matches_exactly_one_character():
    policies = [policy(allow("sqs:SendMessage", f"arn:aws:sqs:{REGION}:{ACCOUNT}:wake-?"))]
    assert evaluate(policies, "sqs:SendMessage", f"arn:aws:sqs:{REGION}:{ACCOUNT}:wake-1").allowed
    assert not evaluate(
        policies, "sqs:SendMessage", f"arn:aws:sqs:{REGION}:{ACCOUNT}:wake-12"
    ).allowed
    assert not evaluate(
        policies, "sqs:SendMessage", f"arn:aws:sqs:{REGION}:{ACCOUNT}:wake-"
    ).allowed


def test_action_is_case_insensitive_but_resource_is_not():
    policies = [policy(allow("DynamoDB:getitem", TABLE))]
    assert evaluate(policies, "dynamodb:GetItem", TABLE).allowed
    assert not evaluate(
        policies, "dynamodb:GetItem", TABLE.replace("table/vls", "table/VLS")
    ).allowed


def test_not_action_applies_to_every_other_action():
    policies = [policy({"Effect": "Allow", "NotAction": "dynamodb:Delete*", "Resource": TABLE})]
    assert evaluate(policies, "dynamodb:PutItem", TABLE).allowed
    assert not evaluate(policies, "dynamodb:DeleteItem", TABLE).allowed


def test_not_resource_applies_to_every_other_resource():
    policies = [
        policy(
            allow("dynamodb:*", "*"),
            {"Effect": "Deny", "Action": "dynamodb:*", "NotResource": [TABLE, f"{TABLE}/*"]},
        )
    ]
    assert evaluate(policies, "dynamodb:GetItem", f"{TABLE}/index/by-partner").allowed
    assert not evaluate(
        policies, "dynamodb:GetItem", f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/other"
    ).allowed


SEND_MAIL = {
    "Sid": "SendActivationMail",
    "Effect": "Allow",
    "Action": ["ses:SendEmail"],
    "Resource": [f"arn:aws:ses:{REGION}:{ACCOUNT}:identity/*"],
    "Condition": {"StringEquals": {"ses:FromAddress": SENDER}},
}
IDENTITY = f"arn:aws:ses:{REGION}:{ACCOUNT}:identity/{SENDER}"


def test_string_equals_allows_the_sender_and_refuses_another_address():
    policies = [policy(SEND_MAIL)]
    assert evaluate(policies, "ses:SendEmail", IDENTITY, {"ses:FromAddress": SENDER}).allowed
    assert not evaluate(
        policies, "ses:SendEmail", IDENTITY, {"ses:FromAddress": "other@vls.example.com"}
    ).allowed


def test_condition_keys_are_case_insensitive_and_values_are_not():
    policies = [policy(SEND_MAIL)]
    assert evaluate(policies, "ses:SendEmail", IDENTITY, {"SES:fromaddress": SENDER}).allowed
    assert not evaluate(
        policies, "ses:SendEmail", IDENTITY, {"ses:FromAddress": SENDER.upper()}
    ).allowed


def test_several_values_are_alternatives_and_several_keys_all_apply():
    condition = {
        "StringEquals": {
            "ses:FromAddress": [SENDER, "ops@vls.example.com"],
            "aws:RequestedRegion": REGION,
        }
    }
    policies = [policy(allow("ses:SendEmail", "*", Condition=condition))]
    both = {"ses:FromAddress": "ops@vls.example.com", "aws:RequestedRegion": REGION}
    assert evaluate(policies, "ses:SendEmail", IDENTITY, both).allowed
    assert not evaluate(
        policies, "ses:SendEmail", IDENTITY, {**both, "aws:RequestedRegion": "eu-west-1"}
    ).allowed


def test_missing_key_fails_a_positive_operator_unless_if_exists():
    plain = [policy(SEND_MAIL)]
    if_exists = [
        policy({**SEND_MAIL, "Condition": {"StringEqualsIfExists": {"ses:FromAddress": SENDER}}})
    ]
    assert not evaluate(plain, "ses:SendEmail", IDENTITY).allowed
    assert evaluate(if_exists, "ses:SendEmail", IDENTITY).allowed
    assert not evaluate(if_exists, "ses:SendEmail", IDENTITY, {"ses:FromAddress": "x@y.z"}).allowed


def test_negated_operator_holds_when_the_key_is_missing():
    policies = [
        policy(
            allow("ses:SendEmail", "*"),
            deny("ses:SendEmail", "*", Condition={"StringNotEquals": {"ses:FromAddress": SENDER}}),
        )
    ]
    assert not evaluate(policies, "ses:SendEmail", IDENTITY).allowed
    assert not evaluate(policies, "ses:SendEmail", IDENTITY, {"ses:FromAddress": "x@y.z"}).allowed
    assert evaluate(policies, "ses:SendEmail", IDENTITY, {"ses:FromAddress": SENDER}).allowed


def test_negated_operator_refuses_every_listed_value():
    condition = {"StringNotLike": {"ses:FromAddress": ["*@spam.example", "root@*"]}}
    policies = [policy(allow("ses:SendEmail", "*", Condition=condition))]
    assert evaluate(policies, "ses:SendEmail", IDENTITY, {"ses:FromAddress": SENDER}).allowed
    assert not evaluate(
        policies, "ses:SendEmail", IDENTITY, {"ses:FromAddress": "root@vls.example.com"}
    ).allowed


@pytest.mark.parametrize(
    "operator, expected, got, holds",
    [
        ("StringLike", "*@vls.example.com", SENDER, True),
        ("StringLike", "*@vls.example.com", "a@other.example", False),
        ("StringEqualsIgnoreCase", SENDER.upper(), SENDER, True),
        ("StringEqualsIgnoreCase", SENDER, "x@y.z", False),
        ("ArnLike", "arn:aws:sqs:*:*:wake*", f"arn:aws:sqs:{REGION}:{ACCOUNT}:wakeups", True),
        ("ArnLike", "arn:aws:sqs:*:*:wake*", f"arn:aws:sns:{REGION}:{ACCOUNT}:wakeups", False),
        (
            "ArnEquals",
            f"arn:aws:sqs:{REGION}:{ACCOUNT}:q",
            f"arn:aws:sqs:{REGION}:{ACCOUNT}:q",
            True,
        ),
        (
            "ArnEquals",
            f"arn:aws:sqs:{REGION}:{ACCOUNT}:q",
            f"arn:aws:sqs:{REGION}:{ACCOUNT}:r",
            False,
        ),
        ("ArnNotLike", "arn:aws:sqs:*:*:wake*", f"arn:aws:sqs:{REGION}:{ACCOUNT}:other", True),
        (
            "ArnNotEquals",
            f"arn:aws:sqs:{REGION}:{ACCOUNT}:q",
            f"arn:aws:sqs:{REGION}:{ACCOUNT}:q",
            False,
        ),
        ("Bool", "true", "true", True),
        ("Bool", True, "true", True),
        ("Bool", "true", "false", False),
        ("Bool", "True", "true", True),
        ("ArnLike", "arn:aws:sqs:*:*:wake*", "arn:aws:sqs", False),
    ],
)
def test_condition_operators(operator, expected, got, holds):
    policies = [policy(allow("sqs:SendMessage", "*", Condition={operator: {"test:Key": expected}}))]
    assert evaluate(policies, "sqs:SendMessage", "*", {"test:Key": got}).allowed is holds


@pytest.mark.parametrize(
    "operator",
    [
        "NumericLessThan",
        "DateGreaterThan",
        "IpAddress",
        "Null",
        "ForAnyValue:StringEquals",
        "ForAllValues:StringLike",
    ],
)
def test_unsupported_operator_raises_rather_than_deciding(operator):
    policies = [policy(allow("ses:SendEmail", "*", Condition={operator: {"aws:SomeKey": "1"}}))]
    with pytest.raises(UnsupportedCondition):
        evaluate(policies, "ses:SendEmail", IDENTITY, {"aws:SomeKey": "1"})


def test_unsupported_operator_raises_even_in_a_statement_the_request_does_not_reach():
    policies = [
        policy(
            allow("dynamodb:GetItem", TABLE),
            allow("sqs:*", "*", Condition={"NumericEquals": {"k": "1"}}),
        )
    ]
    with pytest.raises(UnsupportedCondition):
        evaluate(policies, "dynamodb:GetItem", TABLE)


def test_statement_with_both_action_and_not_action_is_refused():
    policies = [
        policy(
            {"Effect": "Allow", "Action": "sqs:*", "NotAction": "sqs:DeleteQueue", "Resource": "*"}
        )
    ]
    with pytest.raises(iam.UnsupportedPolicy):
        evaluate(policies, "sqs:SendMessage", "*")


def test_policy_variables_are_refused():
    policies = [policy(allow("s3:GetObject", "arn:aws:s3:::bucket/${aws:username}/*"))]
    with pytest.raises(iam.UnsupportedPolicy):
        evaluate(policies, "s3:GetObject", "arn:aws:s3:::bucket/${aws:username}/x")


# --------------------------------------------------------------------------- role policies

BASIC = "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"
INLINE = policy({"Sid": "TableReadWrite", **allow(["dynamodb:GetItem"], [TABLE])})


def test_role_policies_gathers_inline_and_managed_documents():
    documents = iam.role_policies(
        {
            "Policies": [{"PolicyName": "fn-policy", "PolicyDocument": INLINE}],
            "ManagedPolicyArns": [BASIC],
        }
    )
    assert documents == [INLINE, iam.MANAGED_POLICIES[BASIC]]
    assert evaluate(documents, "logs:PutLogEvents", "arn:aws:logs:us-east-1:1:log-group:x").allowed
    assert evaluate(documents, "dynamodb:GetItem", TABLE).allowed
    assert not evaluate(documents, "dynamodb:PutItem", TABLE).allowed


def test_role_policies_refuses_an_unknown_managed_policy():
    with pytest.raises(iam.UnknownManagedPolicy):
        iam.role_policies(
            {"ManagedPolicyArns": [BASIC, "arn:aws:iam::aws:policy/AdministratorAccess"]}
        )


def test_role_with_a_permissions_boundary_is_refused():
    with pytest.raises(iam.UnsupportedPolicy):
        iam.role_policies(
            {
                "ManagedPolicyArns": [BASIC],
                "PermissionsBoundary": "arn:aws:iam::123456789012:policy/b",
            }
        )


def test_managed_stream_and_queue_policies_grant_what_event_sources_need():
    streams = [
        iam.MANAGED_POLICIES["arn:aws:iam::aws:policy/service-role/AWSLambdaDynamoDBExecutionRole"]
    ]
    queues = [
        iam.MANAGED_POLICIES["arn:aws:iam::aws:policy/service-role/AWSLambdaSQSQueueExecutionRole"]
    ]
    assert evaluate(
        streams, "dynamodb:GetRecords", f"{TABLE}/stream/2026-01-01T00:00:00.000"
    ).allowed
    assert not evaluate(streams, "dynamodb:GetItem", TABLE).allowed
    assert evaluate(queues, "sqs:ReceiveMessage", f"arn:aws:sqs:{REGION}:{ACCOUNT}:q").allowed
    assert not evaluate(queues, "sqs:SendMessage", f"arn:aws:sqs:{REGION}:{ACCOUNT}:q").allowed


# --------------------------------------------------------------------------- DynamoDB

KEY = {"pk": {"S": "PARTNER#p1"}, "sk": {"S": "ACCOUNT#a1"}}
TRANSACTION = {
    "TransactItems": [
        {
            "Put": {
                "TableName": "vls",
                "Item": {**KEY, "name": {"S": "Acme"}},
                "ConditionExpression": "attribute_not_exists(pk)",
            }
        },
        {
            "Update": {
                "TableName": "vls",
                "Key": KEY,
                "UpdateExpression": "SET #n = :n",
                "ExpressionAttributeNames": {"#n": "name"},
                "ExpressionAttributeValues": {":n": {"S": "Acme"}},
            }
        },
        {"Delete": {"TableName": "vls-archive", "Key": KEY}},
        {
            "ConditionCheck": {
                "TableName": TABLE,
                "Key": KEY,
                "ConditionExpression": "attribute_exists(pk)",
            }
        },
    ]
}


def test_transaction_is_authorised_element_by_element():
    calls = dynamodb("TransactWriteItems", TRANSACTION)
    assert [(c.action, c.resource) for c in calls] == [
        ("dynamodb:PutItem", TABLE),
        ("dynamodb:UpdateItem", TABLE),
        ("dynamodb:DeleteItem", f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/vls-archive"),
        ("dynamodb:ConditionCheckItem", TABLE),
    ]
    assert all(c.context == {"dynamodb:EnclosingOperation": "TransactWriteItems"} for c in calls)


def test_transact_get_items_is_get_item_per_element():
    body = {
        "TransactItems": [
            {"Get": {"TableName": "vls", "Key": KEY}},
            {"Get": {"TableName": "other", "Key": KEY}},
        ]
    }
    calls = dynamodb("TransactGetItems", body)
    assert [(c.action, c.resource) for c in calls] == [
        ("dynamodb:GetItem", TABLE),
        ("dynamodb:GetItem", f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/other"),
    ]


def test_transaction_element_of_unknown_kind_is_unclassified():
    with pytest.raises(Unclassified):
        dynamodb(
            "TransactWriteItems", {"TransactItems": [{"Get": {"TableName": "vls", "Key": KEY}}]}
        )


def test_query_on_an_index_is_authorised_on_the_index():
    body = {
        "TableName": "vls",
        "IndexName": "gsi1",
        "KeyConditionExpression": "gsi1pk = :p",
        "ExpressionAttributeValues": {":p": {"S": "PARTNER#p1"}},
    }
    assert dynamodb("Query", body) == [Call("dynamodb:Query", f"{TABLE}/index/gsi1")]
    del body["IndexName"]
    assert dynamodb("Query", body) == [Call("dynamodb:Query", TABLE)]


def test_table_may_be_named_by_its_arn():
    assert dynamodb("GetItem", {"TableName": TABLE, "Key": KEY}) == [
        Call("dynamodb:GetItem", TABLE)
    ]
    assert dynamodb("Scan", {"TableName": TABLE, "IndexName": "gsi1"}) == [
        Call("dynamodb:Scan", f"{TABLE}/index/gsi1")
    ]


def test_batch_get_item_is_authorised_per_table():
    body = {"RequestItems": {"vls": {"Keys": [KEY]}, "vls-archive": {"Keys": [KEY, KEY]}}}
    assert dynamodb("BatchGetItem", body) == [
        Call("dynamodb:BatchGetItem", TABLE),
        Call("dynamodb:BatchGetItem", f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/vls-archive"),
    ]


def test_batch_write_item_is_authorised_per_table():
    body = {"RequestItems": {"vls": [{"PutRequest": {"Item": KEY}}]}}
    assert dynamodb("BatchWriteItem", body) == [Call("dynamodb:BatchWriteItem", TABLE)]


def test_single_item_operation_without_table_is_unclassified():
    with pytest.raises(Unclassified):
        dynamodb("PutItem", {"Item": KEY})


# --------------------------------------------------------------------------- DynamoDB Streams

STREAM = f"{TABLE}/stream/2026-01-01T00:00:00.000"


def streams(operation, body, **kwargs):
    headers = signed("dynamodb", **{"X-Amz-Target": f"DynamoDBStreams_20120810.{operation}"})
    return classify("POST", "/", "", headers, json.dumps(body).encode(), REGION, ACCOUNT, **kwargs)


def test_stream_operations_are_authorised_on_the_stream():
    assert streams("DescribeStream", {"StreamArn": STREAM}) == [
        Call("dynamodb:DescribeStream", STREAM)
    ]
    body = {"StreamArn": STREAM, "ShardId": "shardId-000", "ShardIteratorType": "LATEST"}
    assert streams("GetShardIterator", body) == [Call("dynamodb:GetShardIterator", STREAM)]


def test_get_records_takes_the_stream_from_the_iterator():
    embedded = {"ShardIterator": f"{STREAM}|1|AAAAAAAAAAGQx3vc"}
    assert streams("GetRecords", embedded) == [Call("dynamodb:GetRecords", STREAM)]
    opaque = {"ShardIterator": "AAAAAAAAAAGQx3vc"}
    assert streams("GetRecords", opaque, stream_arn_of_iterator=lambda it: STREAM) == [
        Call("dynamodb:GetRecords", STREAM)
    ]
    with pytest.raises(Unclassified):
        streams("GetRecords", opaque)


def test_list_streams_names_the_tables_streams_or_everything():
    assert streams("ListStreams", {"TableName": "vls"}) == [
        Call("dynamodb:ListStreams", f"{TABLE}/stream/*")
    ]
    assert streams("ListStreams", {}) == [Call("dynamodb:ListStreams", "*")]


# --------------------------------------------------------------------------- SQS

LOCAL_URL = f"http://127.0.0.1:4566/{ACCOUNT}/vls-mail-wakeups"
AWS_URL = "https://sqs.us-east-1.amazonaws.com/210987654321/vls-mail-wakeups"
LOCAL_QUEUE = f"arn:aws:sqs:{REGION}:{ACCOUNT}:vls-mail-wakeups"
AWS_QUEUE = f"arn:aws:sqs:{REGION}:210987654321:vls-mail-wakeups"


@pytest.mark.parametrize("url, queue", [(LOCAL_URL, LOCAL_QUEUE), (AWS_URL, AWS_QUEUE)])
def test_sqs_json_protocol(url, queue):
    body = {"QueueUrl": url, "MessageBody": "{}", "DelaySeconds": 900}
    assert json_call("AmazonSQS.SendMessage", body, "sqs") == [Call("sqs:SendMessage", queue)]


@pytest.mark.parametrize("url, queue", [(LOCAL_URL, LOCAL_QUEUE), (AWS_URL, AWS_QUEUE)])
def test_sqs_query_protocol_in_body_or_query_string(url, queue):
    form = urlencode(
        {"Action": "SendMessage", "Version": "2012-11-05", "QueueUrl": url, "MessageBody": "hi"}
    )
    headers = signed("sqs", **{"content-type": "application/x-www-form-urlencoded"})
    assert classify("POST", "/", "", headers, form.encode(), REGION, ACCOUNT) == [
        Call("sqs:SendMessage", queue)
    ]
    assert classify("GET", "/", form, signed("sqs"), b"", REGION, ACCOUNT) == [
        Call("sqs:SendMessage", queue)
    ]


def test_sqs_query_protocol_may_address_the_queue_by_path():
    calls = classify(
        "POST",
        f"/{ACCOUNT}/vls-mail-wakeups",
        "",
        signed("sqs"),
        b"Action=ReceiveMessage",
        REGION,
        ACCOUNT,
    )
    assert calls == [Call("sqs:ReceiveMessage", LOCAL_QUEUE)]


@pytest.mark.parametrize(
    "operation, action",
    [
        ("SendMessageBatch", "sqs:SendMessage"),
        ("DeleteMessageBatch", "sqs:DeleteMessage"),
        ("ChangeMessageVisibilityBatch", "sqs:ChangeMessageVisibility"),
        ("GetQueueAttributes", "sqs:GetQueueAttributes"),
    ],
)
def test_sqs_operations_map_to_their_actions(operation, action):
    assert json_call(f"AmazonSQS.{operation}", {"QueueUrl": LOCAL_URL}, "sqs") == [
        Call(action, LOCAL_QUEUE)
    ]


def test_get_queue_url_is_authorised_on_the_named_queue():
    assert json_call("AmazonSQS.GetQueueUrl", {"QueueName": "vls-mail-wakeups"}, "sqs") == [
        Call("sqs:GetQueueUrl", LOCAL_QUEUE)
    ]
    owned = {"QueueName": "vls-mail-wakeups", "QueueOwnerAWSAccountId": "210987654321"}
    assert json_call("AmazonSQS.GetQueueUrl", owned, "sqs") == [Call("sqs:GetQueueUrl", AWS_QUEUE)]


def test_sqs_without_a_queue_is_unclassified():
    with pytest.raises(Unclassified):
        json_call("AmazonSQS.SendMessage", {"MessageBody": "{}"}, "sqs")
    with pytest.raises(Unclassified):
        json_call("AmazonSQS.PurgeQueue", {"QueueUrl": LOCAL_URL}, "sqs")


# --------------------------------------------------------------------------- SES v2

MAIL = {
    "FromEmailAddress": f"Licensing <{SENDER}>",
    "Destination": {"ToAddresses": ["x@y.z"]},
    "Content": {
        "Simple": {
            "Subject": {"Data": "Activate your licence", "Charset": "UTF-8"},
            "Body": {"Text": {"Data": "https://vls.example.com/activate/abc", "Charset": "UTF-8"}},
        }
    },
    "ConfigurationSetName": "vls-mail",
}


def ses(method, path, body=None):
    data = json.dumps(body).encode() if body is not None else b""
    return classify(
        method,
        path,
        "",
        signed("ses", **{"Content-Type": "application/json"}),
        data,
        REGION,
        ACCOUNT,
    )


def test_send_email_is_authorised_on_identity_and_configuration_set():
    context = {"ses:FromAddress": SENDER}
    assert ses("POST", "/v2/email/outbound-emails", MAIL) == [
        Call("ses:SendEmail", IDENTITY, context),
        Call(
            "ses:SendEmail", f"arn:aws:ses:{REGION}:{ACCOUNT}:configuration-set/vls-mail", context
        ),
    ]


def test_send_email_without_configuration_set_and_quoted_display_name():
    mail = {**MAIL, "FromEmailAddress": f'"VLS, Licensing" <{SENDER}>'}
    del mail["ConfigurationSetName"]
    assert ses("POST", "/v2/email/outbound-emails", mail) == [
        Call("ses:SendEmail", IDENTITY, {"ses:FromAddress": SENDER})
    ]


def test_send_email_under_the_template_policy():
    policies = [
        policy(
            {
                **SEND_MAIL,
                "Resource": SEND_MAIL["Resource"]
                + [f"arn:aws:ses:{REGION}:{ACCOUNT}:configuration-set/vls-mail"],
            }
        )
    ]
    assert iam.authorize(policies, ses("POST", "/v2/email/outbound-emails", MAIL)).allowed
    other_sender = {**MAIL, "FromEmailAddress": "Ops <ops@vls.example.com>"}
    assert not iam.authorize(
        policies, ses("POST", "/v2/email/outbound-emails", other_sender)
    ).allowed
    other_set = {**MAIL, "ConfigurationSetName": "other"}
    refused = iam.authorize(policies, ses("POST", "/v2/email/outbound-emails", other_set))
    assert not refused.allowed and "configuration-set/other" in refused.reason


def test_ses_account_and_identity_operations():
    assert ses("GET", "/v2/email/account") == [Call("ses:GetAccount", "*")]
    assert ses("GET", "/v2/email/identities/licensing%40vls.example.com") == [
        Call("ses:GetEmailIdentity", IDENTITY)
    ]
    assert ses("POST", "/v2/email/identities", {"EmailIdentity": SENDER}) == [
        Call("ses:CreateEmailIdentity", IDENTITY)
    ]
    with pytest.raises(Unclassified):
        ses("DELETE", "/v2/email/identities/licensing%40vls.example.com")


# ------------------------------------------------------------- Secrets Manager, Logs, X-Ray

SECRET = f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:vls-cursor-key-AbCdEf"


def secrets(body, **kwargs):
    headers = signed("secretsmanager", **{"X-Amz-Target": "secretsmanager.GetSecretValue"})
    return classify("POST", "/", "", headers, json.dumps(body).encode(), REGION, ACCOUNT, **kwargs)


def test_get_secret_value_by_arn_and_by_name():
    assert secrets({"SecretId": SECRET}) == [Call("secretsmanager:GetSecretValue", SECRET)]
    names = {"vls-cursor-key": SECRET}
    assert secrets({"SecretId": "vls-cursor-key"}, secret_arn=names.get) == [
        Call("secretsmanager:GetSecretValue", SECRET)
    ]
    with pytest.raises(Unclassified):
        secrets({"SecretId": "vls-cursor-key"})
    with pytest.raises(Unclassified):
        secrets({"SecretId": "unknown"}, secret_arn=names.get)


COOKIE_SECRET = f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:vls-cookie-key-GhIjKl"


def batch(body, **kwargs):
    headers = signed("secretsmanager", **{"X-Amz-Target": "secretsmanager.BatchGetSecretValue"})
    return classify("POST", "/", "", headers, json.dumps(body).encode(), REGION, ACCOUNT, **kwargs)


def test_batch_get_secret_value_is_the_batch_on_star_and_a_read_of_each_secret():
    names = {"vls-cursor-key": SECRET}
    assert batch({"SecretIdList": [COOKIE_SECRET, "vls-cursor-key"]}, secret_arn=names.get) == [
        Call("secretsmanager:BatchGetSecretValue", "*"),
        Call("secretsmanager:GetSecretValue", COOKIE_SECRET),
        Call("secretsmanager:GetSecretValue", SECRET),
    ]
    assert batch({"SecretIdList": [SECRET]}) == [
        Call("secretsmanager:BatchGetSecretValue", "*"),
        Call("secretsmanager:GetSecretValue", SECRET),
    ]


@pytest.mark.parametrize(
    "body",
    [
        {"Filters": [{"Key": "name", "Values": ["vls-"]}]},
        {"Filters": [{"Key": "name", "Values": ["vls-"]}], "SecretIdList": [SECRET]},
        {},
        {"SecretIdList": []},
        {"SecretIdList": SECRET},
        {"SecretIdList": [SECRET, 7]},
        {"SecretIdList": [SECRET, "vls-unknown"]},
    ],
)
def test_batch_get_secret_value_without_a_list_of_known_secrets_is_unclassified(body):
    with pytest.raises(Unclassified):
        batch(body, secret_arn={"vls-cursor-key": SECRET}.get)


def test_batch_get_secret_value_needs_the_batch_and_every_secret_granted():
    calls = batch({"SecretIdList": [COOKIE_SECRET, SECRET]})
    both = allow("secretsmanager:GetSecretValue", [COOKIE_SECRET, SECRET])
    batch_action = allow("secretsmanager:BatchGetSecretValue", "*")
    assert iam.authorize([policy(batch_action, both)], calls).allowed
    one = allow("secretsmanager:GetSecretValue", COOKIE_SECRET)
    refused = iam.authorize([policy(batch_action, one)], calls)
    assert not refused.allowed
    assert SECRET in refused.reason
    without_batch = iam.authorize([policy(both)], calls)
    assert not without_batch.allowed
    assert "BatchGetSecretValue" in without_batch.reason


def test_logs_and_xray():
    logs = json_call("Logs_20140328.PutLogEvents", {"logGroupName": "/aws/lambda/fn"}, "logs")
    assert logs == [Call("logs:PutLogEvents", "*")]
    trace = classify(
        "POST",
        "/TraceSegments",
        "",
        signed("xray"),
        b'{"TraceSegmentDocuments":[]}',
        REGION,
        ACCOUNT,
    )
    assert trace == [Call("xray:PutTraceSegments", "*")]


# --------------------------------------------------------------------------- recognition


def test_unknown_target_is_unclassified():
    with pytest.raises(Unclassified):
        json_call("Kinesis_20131202.PutRecord", {"StreamName": "s"}, "kinesis")
    with pytest.raises(Unclassified):
        dynamodb("CreateTable", {"TableName": "vls"})


def test_unknown_service_without_target_is_unclassified():
    with pytest.raises(Unclassified):
        classify("PUT", "/bucket/key", "", signed("s3"), b"data", REGION, ACCOUNT)
    with pytest.raises(Unclassified):
        classify("POST", "/", "", {}, b"Action=SendMessage", REGION, ACCOUNT)


def test_request_signed_for_another_service_is_unclassified():
    with pytest.raises(Unclassified):
        json_call("DynamoDB_20120810.GetItem", {"TableName": "vls", "Key": KEY}, "sqs")


def test_header_names_are_case_insensitive():
    headers = {
        "x-amz-target": "DynamoDB_20120810.GetItem",
        "AUTHORIZATION": SIGNATURE.format(service="dynamodb"),
    }
    body = json.dumps({"TableName": "vls", "Key": KEY}).encode()
    assert classify("POST", "/", "", headers, body, REGION, ACCOUNT) == [
        Call("dynamodb:GetItem", TABLE)
    ]


def test_access_key_of_reads_the_sigv4_credential():
    assert (
        iam.access_key_of({"authorization": SIGNATURE.format(service="dynamodb")})
        == "AKIAIOSFODNN7EXAMPLE"
    )
    assert iam.access_key_of({"Authorization": "Bearer abc"}) is None
    assert iam.access_key_of({}) is None


# --------------------------------------------------------------------------- together

WRITER = [
    policy(
        {
            "Sid": "TableWrite",
            "Effect": "Allow",
            "Action": ["dynamodb:PutItem", "dynamodb:UpdateItem"],
            "Resource": [
                "arn:aws:dynamodb:us-east-1:123456789012:table/vls",
                "arn:aws:dynamodb:us-east-1:123456789012:table/vls/index/*",
            ],
        }
    )
]


def test_role_allows_a_put_and_update_transaction_but_not_one_with_a_delete():
    put_update = {"TransactItems": TRANSACTION["TransactItems"][:2]}
    assert iam.authorize(WRITER, dynamodb("TransactWriteItems", put_update)).allowed

    with_delete = {
        "TransactItems": put_update["TransactItems"]
        + [{"Delete": {"TableName": "vls", "Key": KEY}}]
    }
    refused = iam.authorize(WRITER, dynamodb("TransactWriteItems", with_delete))
    assert not refused.allowed
    assert refused.reason == f"dynamodb:DeleteItem on {TABLE}: no statement allows it"
