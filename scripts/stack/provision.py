"""Creates, in the emulator, what the translated template would create in AWS, and says which
local resource stands for each of the template's (its Ref and its attributes).

Table, queues, secrets and the SES configuration set are made from their own properties in
the template, under names of this stack. Resources the emulator has no part in stand in as
identifiers: the user pool is the tests' own issuer, the API is the local gateway, a
function, role or log group is its name and ARN.
"""
from __future__ import annotations

import json
import secrets
import string

import boto3

from ..bootstrap import create_table
from .template import Local, Template, TemplateError

# Types that only need an identifier here: (Ref, attributes) from (stack, logical id, local).
_IDENTIFIERS = {
    "AWS::Lambda::Function": lambda n, l: (
        n,
        {"Arn": f"arn:aws:lambda:{l.region}:{l.account}:function:{n}"},
    ),
    "AWS::IAM::Role": lambda n, l: (n, {"Arn": f"arn:aws:iam::{l.account}:role/{n}"}),
    "AWS::Logs::LogGroup": lambda n, l: (
        n,
        {"Arn": f"arn:aws:logs:{l.region}:{l.account}:log-group:{n}:*"},
    ),
    "AWS::SNS::Topic": lambda n, l: (
        f"arn:aws:sns:{l.region}:{l.account}:{n}",
        {"TopicName": n},
    ),
    "AWS::Cognito::UserPoolClient": lambda n, l: (n.lower(), {}),
    "AWS::Cognito::UserPoolDomain": lambda n, l: (n.lower(), {}),
    "AWS::ApiGatewayV2::Integration": lambda n, l: (n, {}),
    "AWS::ApiGatewayV2::Authorizer": lambda n, l: (n, {}),
}


def client(service: str, local: Local):
    return boto3.client(
        service,
        region_name=local.region,
        endpoint_url=local.emulator,
        aws_access_key_id="local",
        aws_secret_access_key="local",
    )


def provision(cfn: dict, parameters: dict, local: Local) -> Template:
    """Stands in for every resource; creates the emulator's. Answers the template to read."""
    # Conditions may read parameters only, so a first reading can tell which resources exist.
    t = Template(cfn, parameters, local)
    for logical, r in cfn["Resources"].items():
        if not t.exists(logical):
            continue
        name = f"{local.stack_name}-{logical}"
        kind = r["Type"]
        if kind in _IDENTIFIERS:
            local.physical[logical], local.attributes[logical] = _IDENTIFIERS[kind](name, local)
        elif kind == "AWS::Cognito::UserPool":
            pool = f"{local.region}_{logical}"
            local.physical[logical] = pool
            local.attributes[logical] = {"ProviderName": f"cognito-idp.{local.region}.amazonaws.com/{pool}"}
            # Its issuer is the tests' own, which issues tokens shaped like the pool's.
            local.rewrites[f"https://cognito-idp.{local.region}.amazonaws.com/{pool}"] = local.issuer_url
        elif kind == "AWS::ApiGatewayV2::Api":
            local.physical[logical] = "localapi"
            endpoint = f"https://localapi.execute-api.{local.region}.amazonaws.com"
            local.attributes[logical] = {"ApiEndpoint": endpoint}
            local.rewrites[endpoint] = local.gateway_url
    # Then the emulator's resources, whose properties may refer to the ones above.
    for logical, r in cfn["Resources"].items():
        if t.exists(logical) and r["Type"] in _CREATE:
            _CREATE[r["Type"]](t, logical, f"{local.stack_name}-{logical}")
    return t


def _table(t: Template, logical: str, name: str):
    """The table from its properties in the template, as the local stack makes its own
    (scripts/bootstrap.py: keys, indexes, stream, TTL, point-in-time recovery)."""
    ddb = client("dynamodb", t.local)
    create_table(ddb, name, t.resolve(t.resources[logical]["Properties"]))
    desc = ddb.describe_table(TableName=name)["Table"]
    t.local.physical[logical] = name
    t.local.attributes[logical] = {"Arn": desc["TableArn"], "StreamArn": desc.get("LatestStreamArn")}


def _queue(t: Template, logical: str, name: str):
    p = t.resources[logical].get("Properties", {})
    sqs = client("sqs", t.local)
    attributes = {
        k: str(t.resolve(p[k]))
        for k in ("VisibilityTimeout", "MessageRetentionPeriod", "DelaySeconds")
        if k in p
    }
    url = sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
    arn = f"arn:aws:sqs:{t.local.region}:{t.local.account}:{name}"
    t.local.physical[logical] = url
    t.local.attributes[logical] = {"Arn": arn, "QueueName": name, "QueueUrl": url}
    if "RedrivePolicy" in p:
        # The dead-letter queue may come later in the template: created first, on demand.
        target = p["RedrivePolicy"]["deadLetterTargetArn"]
        if isinstance(target, dict) and "Fn::GetAtt" in target:
            dlq = target["Fn::GetAtt"][0]
            if dlq not in t.local.attributes:
                _queue(t, dlq, f"{t.local.stack_name}-{dlq}")
        policy = t.resolve(p["RedrivePolicy"])
        sqs.set_queue_attributes(QueueUrl=url, Attributes={"RedrivePolicy": json.dumps(policy)})


def _generated(spec: dict) -> str:
    alphabet = string.ascii_letters + string.digits
    if not spec.get("ExcludePunctuation"):
        alphabet += "!#$%&()*+,-.:;<=>?@[]^_{|}~"
    alphabet = "".join(c for c in alphabet if c not in spec.get("ExcludeCharacters", ""))
    value = "".join(secrets.choice(alphabet) for _ in range(int(spec.get("PasswordLength", 32))))
    if "SecretStringTemplate" in spec:
        doc = json.loads(spec["SecretStringTemplate"])
        doc[spec["GenerateStringKey"]] = value
        return json.dumps(doc)
    return value


def _secret(t: Template, logical: str, name: str):
    p = t.resolve(t.resources[logical]["Properties"])
    sm = client("secretsmanager", t.local)
    if "SecretString" in p:
        value = p["SecretString"]
    elif "GenerateSecretString" in p:
        value = _generated(p["GenerateSecretString"])
    else:
        raise TemplateError(f"{logical}: a secret with neither SecretString nor a generator")
    try:
        arn = sm.create_secret(Name=name, SecretString=value)["ARN"]
    except sm.exceptions.ResourceExistsException:
        arn = sm.put_secret_value(SecretId=name, SecretString=value)["ARN"]
    t.local.physical[logical] = arn
    t.local.attributes[logical] = {"Id": arn}


def _configuration_set(t: Template, logical: str, name: str):
    name = name.lower()
    ses = client("sesv2", t.local)
    try:
        ses.create_configuration_set(ConfigurationSetName=name)
    except ses.exceptions.AlreadyExistsException:
        pass
    t.local.physical[logical] = name
    t.local.attributes[logical] = {}


_CREATE = {
    "AWS::DynamoDB::Table": _table,
    "AWS::SQS::Queue": _queue,
    "AWS::SecretsManager::Secret": _secret,
    "AWS::SES::ConfigurationSet": _configuration_set,
}


def sender_identity(local: Local, address: str):
    """The sender SES sends from: verified beforehand by the operator (README), here at once."""
    ses = client("sesv2", local)
    try:
        ses.create_email_identity(EmailIdentity=address)
    except ses.exceptions.AlreadyExistsException:
        pass


def fresh_name() -> str:
    return "tpl" + secrets.token_hex(3)
