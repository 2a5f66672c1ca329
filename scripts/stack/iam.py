"""IAM as AWS applies it to a function's requests, for the local stack's AWS proxy.

Every AWS request a function makes is classified into the (action, resource, condition
context) triples AWS authorises it as (`classify`), and each triple is checked against the
function's execution role (`role_policies`, `evaluate`, `authorize`). Whatever cannot be
classified or evaluated exactly raises: a request the proxy lets through must be one AWS
would let through, so nothing here guesses.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from email.utils import parseaddr
from functools import lru_cache
from typing import Callable, Iterator, Mapping
from urllib.parse import parse_qsl, unquote, urlsplit

# The local stack runs in the commercial partition only.
PARTITION = "aws"


class UnsupportedPolicy(ValueError):
    """A policy uses an element this evaluation cannot apply exactly."""


class UnsupportedCondition(UnsupportedPolicy):
    """A condition operator this evaluation does not implement."""


class UnknownManagedPolicy(LookupError):
    """A role attaches a managed policy whose content is not known here."""


class Unclassified(ValueError):
    """A request that cannot be mapped to what AWS authorises it as."""


# --------------------------------------------------------------------------- managed policies


def _allow_everywhere(*actions: str) -> dict:
    return {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": list(actions), "Resource": "*"}],
    }


_LOGS = ("logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents")

# The AWS managed policies SAM attaches to function roles, with their documented content.
MANAGED_POLICIES: dict[str, dict] = {
    "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole": _allow_everywhere(*_LOGS),
    "arn:aws:iam::aws:policy/AWSXrayWriteOnlyAccess": _allow_everywhere(
        "xray:PutTraceSegments",
        "xray:PutTelemetryRecords",
        "xray:GetSamplingRules",
        "xray:GetSamplingTargets",
        "xray:GetSamplingStatisticSummaries",
    ),
    "arn:aws:iam::aws:policy/service-role/AWSLambdaDynamoDBExecutionRole": _allow_everywhere(
        "dynamodb:DescribeStream",
        "dynamodb:GetRecords",
        "dynamodb:GetShardIterator",
        "dynamodb:ListStreams",
        *_LOGS,
    ),
    "arn:aws:iam::aws:policy/service-role/AWSLambdaSQSQueueExecutionRole": _allow_everywhere(
        "sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes", *_LOGS
    ),
}


def role_policies(
    role_properties: dict, managed: Mapping[str, dict] = MANAGED_POLICIES
) -> list[dict]:
    """The identity policy documents of an AWS::IAM::Role's resolved Properties."""
    # A boundary narrows what the policies grant; ignoring it would allow too much.
    if "PermissionsBoundary" in role_properties:
        raise UnsupportedPolicy("roles with a PermissionsBoundary are not evaluated")
    inline = [p["PolicyDocument"] for p in role_properties.get("Policies") or []]
    return inline + [
        _managed(arn, managed) for arn in role_properties.get("ManagedPolicyArns") or []
    ]


def _managed(arn: str, managed: Mapping[str, dict]) -> dict:
    try:
        return managed[arn]
    except KeyError:
        raise UnknownManagedPolicy(arn) from None


# --------------------------------------------------------------------------- evaluation


@dataclass(frozen=True)
class Decision:
    """The outcome for one request, with the statement (or its absence) that decided it."""

    allowed: bool
    reason: str


_STATEMENT_KEYS = {"Sid", "Effect", "Action", "NotAction", "Resource", "NotResource", "Condition"}


def evaluate(
    policies: list[dict], action: str, resource: str, context: Mapping[str, str] | None = None
) -> Decision:
    """Decides one request as IAM does for identity policies: explicit deny, allow, else deny."""
    validate(policies)
    ctx = {key.lower(): value for key, value in (context or {}).items()}
    matching = [
        (label, s) for label, s in _statements(policies) if _applies(s, action, resource, ctx)
    ]
    subject = f"{action} on {resource}"
    denials = [label for label, statement in matching if statement["Effect"] == "Deny"]
    if denials:
        return Decision(False, f"{subject}: explicitly denied by {denials[0]}")
    if matching:
        return Decision(True, f"{subject}: allowed by {matching[0][0]}")
    return Decision(False, f"{subject}: no statement allows it")


def authorize(policies: list[dict], calls: list[Call]) -> Decision:
    """Decides a whole request: AWS refuses it when any one of its calls is refused."""
    if not calls:
        return Decision(False, "the request authorises nothing")
    decisions = [evaluate(policies, c.action, c.resource, c.context) for c in calls]
    refused = next((d for d in decisions if not d.allowed), None)
    return refused or Decision(True, "; ".join(d.reason for d in decisions))


def validate(policies: list[dict]) -> None:
    """Raises for any element the evaluation cannot apply, wherever it is in the policies.

    Checking every statement, not only those a request reaches, makes a role the proxy cannot
    judge fail on its first request instead of on some rarely taken path.
    """
    for label, statement in _statements(policies):
        _validate_statement(label, statement)


def _statements(policies: list[dict]) -> Iterator[tuple[str, dict]]:
    for p, document in enumerate(policies, 1):
        if "Statement" not in document:
            raise UnsupportedPolicy(f"policy {p} has no Statement")
        for s, statement in enumerate(_as_list(document["Statement"]), 1):
            sid = statement.get("Sid")
            yield (f"statement Sid {sid}" if sid else f"statement {s} of policy {p}"), statement


def _validate_statement(label: str, statement: dict) -> None:
    unknown = set(statement) - _STATEMENT_KEYS
    if unknown:
        raise UnsupportedPolicy(f"{label}: unsupported element(s) {sorted(unknown)}")
    if statement.get("Effect") not in ("Allow", "Deny"):
        raise UnsupportedPolicy(f"{label}: Effect must be Allow or Deny")
    for positive, negative in (("Action", "NotAction"), ("Resource", "NotResource")):
        if (positive in statement) == (negative in statement):
            raise UnsupportedPolicy(f"{label}: needs exactly one of {positive} and {negative}")
    _reject_variables(label, _as_list(statement.get("Resource", statement.get("NotResource"))))
    for operator, block in (statement.get("Condition") or {}).items():
        _parse_operator(operator)
        if not isinstance(block, dict):
            raise UnsupportedPolicy(f"{label}: condition {operator} is not a map of keys")
        for values in block.values():
            _reject_variables(label, [_condition_value(v) for v in _as_list(values)])


def _reject_variables(label: str, values: list) -> None:
    # Policy variables (${aws:username} …) would otherwise be compared literally.
    if any("${" in str(v) for v in values):
        raise UnsupportedPolicy(f"{label}: policy variables are not supported")


def _applies(statement: dict, action: str, resource: str, context: dict[str, str]) -> bool:
    return (
        _element_matches(statement, "Action", action, ignore_case=True)
        and _element_matches(statement, "Resource", resource, ignore_case=False)
        and _conditions_hold(statement.get("Condition") or {}, context)
    )


def _element_matches(statement: dict, name: str, value: str, ignore_case: bool) -> bool:
    """Action/NotAction, Resource/NotResource: the Not form matches what none of its patterns do."""
    if name in statement:
        return _matches_any(statement[name], value, ignore_case)
    return not _matches_any(statement["Not" + name], value, ignore_case)


def _matches_any(patterns, value: str, ignore_case: bool) -> bool:
    return any(_glob(p, ignore_case).fullmatch(value) for p in _as_list(patterns))


@lru_cache(maxsize=1024)
def _glob(pattern: str, ignore_case: bool = False) -> re.Pattern:
    """IAM wildcards: * is any run of characters (colons and slashes included), ? exactly one."""
    regex = "".join(".*" if ch == "*" else "." if ch == "?" else re.escape(ch) for ch in pattern)
    return re.compile(regex, re.DOTALL | (re.IGNORECASE if ignore_case else 0))


def _as_list(value) -> list:
    return value if isinstance(value, list) else [value]


# --------------------------------------------------------------------------- conditions


def _conditions_hold(condition: dict, context: dict[str, str]) -> bool:
    """Every operator, and every key within an operator, must hold (AND)."""
    return all(
        _key_holds(operator, key, values, context)
        for operator, block in condition.items()
        for key, values in block.items()
    )


def _key_holds(operator: str, key: str, values, context: dict[str, str]) -> bool:
    test, negated, if_exists = _parse_operator(operator)
    got = context.get(key.lower())
    if got is None:
        # IAM: a missing key fails a positive test unless …IfExists, and passes a negated one.
        return negated or if_exists
    matched = any(test(_condition_value(want), got) for want in _as_list(values))
    return not matched if negated else matched


def _parse_operator(operator: str) -> tuple[Callable[[str, str], bool], bool, bool]:
    """(test, negated, if_exists) for a condition operator, or UnsupportedCondition."""
    if ":" in operator:
        # ForAnyValue:/ForAllValues: apply to multi-valued keys, which no call carries here.
        raise UnsupportedCondition(f"set operator {operator} is not supported")
    base = operator.removesuffix("IfExists")
    if_exists = base != operator
    if base in _POSITIVE:
        return _POSITIVE[base], False, if_exists
    if base in _NEGATED:
        return _POSITIVE[_NEGATED[base]], True, if_exists
    raise UnsupportedCondition(f"condition operator {operator} is not supported")


def _condition_value(value) -> str:
    # JSON booleans in a policy compare as IAM's "true"/"false" strings.
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _arn_like(want: str, got: str) -> bool:
    """ArnLike/ArnEquals: each of the six colon-separated parts is matched on its own."""
    wants, gots = want.split(":", 5), got.split(":", 5)
    if len(wants) != 6 or len(gots) != 6:
        return False
    return all(_glob(w).fullmatch(g) for w, g in zip(wants, gots))


_POSITIVE: dict[str, Callable[[str, str], bool]] = {
    "StringEquals": lambda want, got: want == got,
    "StringEqualsIgnoreCase": lambda want, got: want.casefold() == got.casefold(),
    "StringLike": lambda want, got: _glob(want).fullmatch(got) is not None,
    "ArnEquals": _arn_like,
    "ArnLike": _arn_like,
    "Bool": lambda want, got: want.lower() == got.lower(),
}

_NEGATED = {
    "StringNotEquals": "StringEquals",
    "StringNotEqualsIgnoreCase": "StringEqualsIgnoreCase",
    "StringNotLike": "StringLike",
    "ArnNotEquals": "ArnEquals",
    "ArnNotLike": "ArnLike",
}


# --------------------------------------------------------------------------- classification


@dataclass(frozen=True)
class Call:
    """One authorisation AWS performs for a request."""

    action: str  # e.g. "dynamodb:PutItem"
    resource: str  # an ARN, or "*" for actions without resource-level permissions
    context: Mapping[str, str] = field(default_factory=dict)  # condition keys -> value


@dataclass(frozen=True)
class _Request:
    method: str
    path: str
    query: str
    headers: dict[str, str]  # names lower-cased
    body: bytes
    region: str
    account: str
    secret_arn: Callable[[str], str] | None
    stream_arn_of_iterator: Callable[[str], str] | None

    def json(self) -> dict:
        if not self.body:
            return {}
        try:
            document = json.loads(self.body)
        except (ValueError, UnicodeDecodeError):
            raise Unclassified("request body is not JSON") from None
        if not isinstance(document, dict):
            raise Unclassified("request body is not a JSON object")
        return document

    def form(self) -> dict[str, str]:
        """Query-protocol parameters: the query string, then a form-encoded body."""
        params = dict(parse_qsl(self.query, keep_blank_values=True))
        try:
            params.update(parse_qsl(self.body.decode("utf-8"), keep_blank_values=True))
        except UnicodeDecodeError:
            raise Unclassified("request body is not form-encoded text") from None
        return params

    def arn(self, service: str, resource: str, account: str | None = None) -> str:
        return f"arn:{PARTITION}:{service}:{self.region}:{account or self.account}:{resource}"


def classify(
    method: str,
    path: str,
    query: str,
    headers: Mapping[str, str],
    body: bytes,
    region: str,
    account: str,
    secret_arn: Callable[[str], str] | None = None,
    stream_arn_of_iterator: Callable[[str], str] | None = None,
) -> list[Call]:
    """The calls AWS authorises an HTTP request as, or Unclassified.

    `secret_arn` resolves a secret's name to its ARN; `stream_arn_of_iterator` resolves a
    shard iterator that does not embed its stream's ARN.
    """
    request = _Request(
        method.upper(),
        path,
        query or "",
        {name.lower(): value for name, value in headers.items()},
        body or b"",
        region,
        account,
        secret_arn,
        stream_arn_of_iterator,
    )
    calls = _dispatch(request)
    if not calls:
        raise Unclassified("the request names no resource")
    return calls


def access_key_of(headers: Mapping[str, str]) -> str | None:
    """The access key id a SigV4-signed request was signed with."""
    scope = _credential_scope(headers)
    return scope.group("key") if scope else None


_CREDENTIAL = re.compile(
    r"Credential=(?P<key>[^/\s,]+)/(?P<date>\d{8})/(?P<region>[^/\s,]+)"
    r"/(?P<service>[^/\s,]+)/aws4_request"
)


def _credential_scope(headers: Mapping[str, str]) -> re.Match | None:
    authorization = next((v for k, v in headers.items() if k.lower() == "authorization"), "")
    return _CREDENTIAL.search(authorization)


def _dispatch(request: _Request) -> list[Call]:
    """Picks the service by X-Amz-Target, then by path, then by the signature's scope."""
    scope = _credential_scope(request.headers)
    signed_for = scope.group("service") if scope else None
    target = request.headers.get("x-amz-target")
    if target:
        prefix, _, operation = target.rpartition(".")
        if prefix not in _BY_TARGET:
            raise Unclassified(f"unknown X-Amz-Target {target}")
        signing_name, handler = _BY_TARGET[prefix]
        _check_signed_for(signed_for, signing_name)
        return handler(request, operation)
    if request.path.startswith("/v2/email/"):
        _check_signed_for(signed_for, "ses")
        return _sesv2(request)
    if signed_for not in _BY_SCOPE:
        raise Unclassified(f"no known service for {request.method} {request.path}")
    return _BY_SCOPE[signed_for](request)


def _check_signed_for(signed_for: str | None, signing_name: str) -> None:
    # A request signed for another service is not what it seems to be: refuse to judge it.
    if signed_for is not None and signed_for != signing_name:
        raise Unclassified(f"request signed for {signed_for}, addressed to {signing_name}")


def _required(params: Mapping, key: str, kind: type = str):
    """A parameter the classification depends on: present, non-empty and of the expected type."""
    value = params.get(key)
    if not value or not isinstance(value, kind):
        raise Unclassified(f"request has no usable {key}")
    return value


# --------------------------------------------------------------------------- DynamoDB

_SINGLE_TABLE = {"GetItem", "PutItem", "UpdateItem", "DeleteItem", "DescribeTable"}
_INDEXED = {"Query", "Scan"}
_BATCH = {"BatchGetItem", "BatchWriteItem"}
# Transactions are authorised element by element ("Using IAM with DynamoDB transactions").
_TRANSACTION_KINDS = {
    "TransactWriteItems": {
        "Put": "PutItem",
        "Update": "UpdateItem",
        "Delete": "DeleteItem",
        "ConditionCheck": "ConditionCheckItem",
    },
    "TransactGetItems": {"Get": "GetItem"},
}


def _dynamodb(request: _Request, operation: str) -> list[Call]:
    body = request.json()
    if operation in _SINGLE_TABLE:
        return [Call(f"dynamodb:{operation}", _table_arn(request, _required(body, "TableName")))]
    if operation in _INDEXED:
        return [Call(f"dynamodb:{operation}", _indexed_arn(request, body))]
    if operation in _BATCH:
        tables = _required(body, "RequestItems", dict)
        return [Call(f"dynamodb:{operation}", _table_arn(request, t)) for t in tables]
    if operation in _TRANSACTION_KINDS:
        return _transaction(request, operation, _required(body, "TransactItems", list))
    raise Unclassified(f"DynamoDB operation {operation} is not classified")


def _table_arn(request: _Request, table: str) -> str:
    # Newer SDKs accept the table's ARN wherever a table name goes.
    return table if table.startswith("arn:") else request.arn("dynamodb", f"table/{table}")


def _indexed_arn(request: _Request, body: dict) -> str:
    table = _table_arn(request, _required(body, "TableName"))
    index = body.get("IndexName")
    return f"{table}/index/{index}" if index else table


def _transaction(request: _Request, operation: str, items: list) -> list[Call]:
    kinds = _TRANSACTION_KINDS[operation]
    context = {"dynamodb:EnclosingOperation": operation}
    return [_transaction_element(request, kinds, item, context) for item in items]


def _transaction_element(request: _Request, kinds: dict, item: dict, context: dict) -> Call:
    if not isinstance(item, dict) or len(item) != 1 or next(iter(item)) not in kinds:
        raise Unclassified(f"transaction element is not one of {sorted(kinds)}")
    kind, element = next(iter(item.items()))
    if not isinstance(element, dict):
        raise Unclassified(f"transaction element {kind} is not an object")
    table = _table_arn(request, _required(element, "TableName"))
    return Call(f"dynamodb:{kinds[kind]}", table, dict(context))


# --------------------------------------------------------------------------- DynamoDB Streams

# Shard iterators start with their stream's ARN: "<stream arn>|1|<opaque>".
_ITERATOR_STREAM = re.compile(r"^(arn:[^|]+/stream/[^|/]+)\|")


def _streams(request: _Request, operation: str) -> list[Call]:
    body = request.json()
    if operation in ("DescribeStream", "GetShardIterator"):
        stream = _required(body, "StreamArn")
    elif operation == "GetRecords":
        stream = _stream_of_iterator(request, _required(body, "ShardIterator"))
    elif operation == "ListStreams":
        # Without a table, ListStreams concerns every stream of the account.
        table = _table_arn(request, _required(body, "TableName")) if "TableName" in body else None
        stream = f"{table}/stream/*" if table else "*"
    else:
        raise Unclassified(f"DynamoDB Streams operation {operation} is not classified")
    return [Call(f"dynamodb:{operation}", stream)]


def _stream_of_iterator(request: _Request, iterator: str) -> str:
    embedded = _ITERATOR_STREAM.match(iterator)
    if embedded:
        return embedded.group(1)
    resolved = request.stream_arn_of_iterator(iterator) if request.stream_arn_of_iterator else None
    if not resolved:
        raise Unclassified("shard iterator names no stream")
    return resolved


# --------------------------------------------------------------------------- SQS

_SQS_ACTIONS = {
    "SendMessage": "SendMessage",
    "SendMessageBatch": "SendMessage",
    "ReceiveMessage": "ReceiveMessage",
    "DeleteMessage": "DeleteMessage",
    "DeleteMessageBatch": "DeleteMessage",
    "ChangeMessageVisibility": "ChangeMessageVisibility",
    "ChangeMessageVisibilityBatch": "ChangeMessageVisibility",
    "GetQueueAttributes": "GetQueueAttributes",
    "GetQueueUrl": "GetQueueUrl",
}


def _sqs_json(request: _Request, operation: str) -> list[Call]:
    return _sqs(request, operation, request.json())


def _sqs_query(request: _Request) -> list[Call]:
    params = request.form()
    return _sqs(request, _required(params, "Action"), params)


def _sqs(request: _Request, operation: str, params: Mapping) -> list[Call]:
    if operation not in _SQS_ACTIONS:
        raise Unclassified(f"SQS operation {operation} is not classified")
    if operation == "GetQueueUrl":
        owner = params.get("QueueOwnerAWSAccountId")
        queue = request.arn("sqs", _required(params, "QueueName"), owner)
    else:
        # The query protocol may address the queue by the request path instead of QueueUrl.
        queue = _queue_arn(request, params.get("QueueUrl") or request.path)
    return [Call(f"sqs:{_SQS_ACTIONS[operation]}", queue)]


def _queue_arn(request: _Request, url: str) -> str:
    """A queue URL's path is /<account>/<name>, whatever the host."""
    parts = [p for p in urlsplit(url).path.split("/") if p]
    if len(parts) != 2 or not re.fullmatch(r"\d{12}", parts[0]):
        raise Unclassified(f"{url!r} is not a queue URL")
    account, name = parts
    return request.arn("sqs", name, account)


# --------------------------------------------------------------------------- SES v2


def _sesv2(request: _Request) -> list[Call]:
    route = request.path.removeprefix("/v2/email/").rstrip("/")
    if (request.method, route) == ("POST", "outbound-emails"):
        return _send_email(request, request.json())
    if (request.method, route) == ("GET", "account"):
        return [Call("ses:GetAccount", "*")]
    if (request.method, route) == ("POST", "identities"):
        identity = _required(request.json(), "EmailIdentity")
        return [Call("ses:CreateEmailIdentity", _identity_arn(request, identity))]
    identity = route.removeprefix("identities/")
    if request.method == "GET" and identity != route and "/" not in identity:
        return [Call("ses:GetEmailIdentity", _identity_arn(request, unquote(identity)))]
    raise Unclassified(f"SES operation {request.method} {request.path} is not classified")


def _send_email(request: _Request, body: dict) -> list[Call]:
    """SendEmail is authorised on the sending identity and on the configuration set, if named."""
    sender = _bare_address(_required(body, "FromEmailAddress"))
    context = {"ses:FromAddress": sender}
    # Which identity (address or its domain) is verified is not known here: the address is.
    identity = body.get("FromEmailAddressIdentityArn") or _identity_arn(request, sender)
    calls = [Call("ses:SendEmail", identity, context)]
    configuration_set = body.get("ConfigurationSetName")
    if configuration_set:
        resource = request.arn("ses", f"configuration-set/{configuration_set}")
        calls.append(Call("ses:SendEmail", resource, dict(context)))
    return calls


def _bare_address(value: str) -> str:
    """'"Licensing" <licensing@example.com>' -> 'licensing@example.com'."""
    _, address = parseaddr(value)
    if "@" not in address:
        raise Unclassified(f"{value!r} is not an email address")
    return address


def _identity_arn(request: _Request, identity: str) -> str:
    return request.arn("ses", f"identity/{identity}")


# ------------------------------------------------------------- Secrets Manager, Logs, X-Ray


def _secrets(request: _Request, operation: str) -> list[Call]:
    if operation == "BatchGetSecretValue":
        return _batch_get_secret_value(request, request.json())
    if operation not in ("GetSecretValue", "DescribeSecret"):
        raise Unclassified(f"Secrets Manager operation {operation} is not classified")
    secret = _secret_arn(request, _required(request.json(), "SecretId"))
    return [Call(f"secretsmanager:{operation}", secret)]


def _batch_get_secret_value(request: _Request, body: dict) -> list[Call]:
    """The batch itself on *, then GetSecretValue on each secret of its SecretIdList."""
    # With Filters, which secrets it reads depends on what the account holds.
    if "Filters" in body:
        raise Unclassified("BatchGetSecretValue by Filters names no secrets")
    ids = _required(body, "SecretIdList", list)
    if not all(isinstance(i, str) and i for i in ids):
        raise Unclassified("SecretIdList holds something other than secret ids")
    reads = [Call("secretsmanager:GetSecretValue", _secret_arn(request, i)) for i in ids]
    return [Call("secretsmanager:BatchGetSecretValue", "*"), *reads]


def _secret_arn(request: _Request, secret_id: str) -> str:
    if secret_id.startswith("arn:"):
        return secret_id
    resolved = request.secret_arn(secret_id) if request.secret_arn else None
    if not resolved:
        raise Unclassified(f"no ARN known for secret {secret_id!r}")
    return resolved


def _logs(request: _Request, operation: str) -> list[Call]:
    return [Call(f"logs:{operation}", "*")]


_XRAY_PATHS = {
    "/TraceSegments": "PutTraceSegments",
    "/TelemetryRecords": "PutTelemetryRecords",
    "/GetSamplingRules": "GetSamplingRules",
    "/SamplingTargets": "GetSamplingTargets",
    "/SamplingStatisticSummaries": "GetSamplingStatisticSummaries",
}


def _xray(request: _Request) -> list[Call]:
    operation = _XRAY_PATHS.get(request.path)
    if request.method != "POST" or operation is None:
        raise Unclassified(f"X-Ray operation {request.method} {request.path} is not classified")
    return [Call(f"xray:{operation}", "*")]


# X-Amz-Target prefix -> (SigV4 signing name, handler of the operation).
_BY_TARGET: dict[str, tuple[str, Callable[[_Request, str], list[Call]]]] = {
    "DynamoDB_20120810": ("dynamodb", _dynamodb),
    "DynamoDBStreams_20120810": ("dynamodb", _streams),
    "AmazonSQS": ("sqs", _sqs_json),
    "secretsmanager": ("secretsmanager", _secrets),
    "Logs_20140328": ("logs", _logs),
}

# Services without a target header, recognised by the signature's credential scope.
_BY_SCOPE: dict[str, Callable[[_Request], list[Call]]] = {
    "sqs": _sqs_query,
    "xray": _xray,
}
