"""The translated template (target/template.cfn.json) read as AWS reads it, for a local stack.

Everything the local stack wires comes from here: each function's binary, environment, role,
timeout; every route with its function and authorizer; what feeds each function (stream,
queues, schedules). Intrinsic functions are evaluated with the stack's parameters and
conditions, and every resource resolves to the local resource that stands for it (the
table, queues, secrets and configuration set the stack creates in the emulator; the user
pool to the tests' own issuer; the API to the local gateway). Nothing is taken from
anywhere else, so a template that would not work in AWS does not work here either.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

REGION = "us-east-1"
ACCOUNT = "123456789012"


class TemplateError(Exception):
    """The template uses something this reading does not know: fail, never guess."""


@dataclass
class Local:
    """What the local stack stands in with for the template's resources."""

    stack_name: str
    emulator: str  # the emulator's URL, as queue URLs name it
    gateway_url: str  # the API's invoke URL
    issuer_url: str  # the user pool's issuer (the tests' own)
    region: str = REGION
    account: str = ACCOUNT
    # Resources created in the emulator, by logical id: physical id and attributes.
    physical: dict = field(default_factory=dict)
    attributes: dict = field(default_factory=dict)
    # AWS endpoints that stand for a local one: the user pool's issuer URL is the tests'
    # issuer, the API's invoke URL the local gateway's (prefixes of a resolved string).
    rewrites: dict = field(default_factory=dict)

    def rewrite(self, text: str) -> str:
        for aws, local in self.rewrites.items():
            if text.startswith(aws):
                return local + text[len(aws):]
        return text


@dataclass(frozen=True)
class Authorizer:
    issuer: str
    audiences: tuple


@dataclass(frozen=True)
class RouteDecl:
    method: str
    path: str
    function: str  # logical id of the Lambda function
    authorizer: Authorizer | None
    declared_as: str  # "body" (the API's definition) or "resource" (AWS::ApiGatewayV2::Route)


@dataclass
class FunctionDecl:
    logical_id: str
    binary: str
    environment: dict
    role: str  # logical id of its AWS::IAM::Role
    timeout: int
    memory: int
    architectures: list
    reserved_concurrency: object


@dataclass
class EventSource:
    logical_id: str
    function: str
    kind: str  # "sqs" or "stream"
    source_arn: str
    properties: dict


@dataclass
class ScheduleDecl:
    logical_id: str
    function: str
    expression: str
    input: str | None


class Template:
    def __init__(self, cfn: dict, parameters: dict[str, str], local: Local):
        self.cfn = cfn
        self.resources = cfn["Resources"]
        self.local = local
        self.parameters = self._parameters(parameters)
        self.conditions: dict[str, bool] = {}
        for name in cfn.get("Conditions", {}):
            self.condition(name)

    # ---- parameters and conditions

    def _parameters(self, given: dict[str, str]) -> dict[str, str]:
        declared = self.cfn.get("Parameters", {})
        unknown = set(given) - set(declared)
        if unknown:
            raise TemplateError(f"parameters the template does not declare: {sorted(unknown)}")
        values = {}
        for name, decl in declared.items():
            if name in given:
                values[name] = str(given[name])
            elif "Default" in decl:
                values[name] = str(decl["Default"])
            else:
                raise TemplateError(f"parameter {name} has no default and was not given")
            allowed = decl.get("AllowedValues")
            if allowed is not None and values[name] not in [str(a) for a in allowed]:
                raise TemplateError(f"parameter {name}={values[name]} is not allowed")
            pattern = decl.get("AllowedPattern")
            if pattern is not None and not re.fullmatch(pattern, values[name]):
                raise TemplateError(f"parameter {name}={values[name]} fails its pattern")
        return values

    def condition(self, name: str) -> bool:
        if name not in self.conditions:
            self.conditions[name] = bool(self.resolve(self.cfn["Conditions"][name]))
        return self.conditions[name]

    def exists(self, logical_id: str) -> bool:
        r = self.resources.get(logical_id)
        return r is not None and ("Condition" not in r or self.condition(r["Condition"]))

    # ---- intrinsic functions

    def pseudo(self, name: str):
        l = self.local
        return {
            "AWS::Region": l.region,
            "AWS::AccountId": l.account,
            "AWS::Partition": "aws",
            "AWS::StackName": l.stack_name,
            "AWS::StackId": f"arn:aws:cloudformation:{l.region}:{l.account}:stack/"
            f"{l.stack_name}/00000000-0000-4000-8000-000000000000",
            "AWS::URLSuffix": "amazonaws.com",
        }.get(name)

    def ref(self, name: str):
        if name in self.parameters:
            return self.parameters[name]
        p = self.pseudo(name)
        if p is not None:
            return p
        if not self.exists(name):
            raise TemplateError(f"Ref to {name}, which this stack does not create")
        if name not in self.local.physical:
            raise TemplateError(f"Ref to {name} ({self.resources[name]['Type']}): no local stand-in")
        return self.local.physical[name]

    def get_att(self, name: str, attribute: str):
        if not self.exists(name):
            raise TemplateError(f"GetAtt {name}.{attribute}: not created")
        try:
            return self.local.attributes[name][attribute]
        except KeyError:
            raise TemplateError(f"GetAtt {name}.{attribute}: no local stand-in") from None

    def sub(self, spec):
        text, variables = (spec, {}) if isinstance(spec, str) else (spec[0], spec[1])
        variables = {k: self.resolve(v) for k, v in variables.items()}

        def one(m):
            expr = m.group(1)
            if expr.startswith("!"):
                return "${" + expr[1:] + "}"
            if expr in variables:
                return str(variables[expr])
            if "." in expr and expr.split(".", 1)[0] in self.resources:
                return str(self.get_att(*expr.split(".", 1)))
            return str(self.ref(expr))

        return self.local.rewrite(re.sub(r"\$\{([^}]+)\}", one, text))

    def resolve(self, v):
        """A value with every intrinsic evaluated; AWS::NoValue drops the key or item."""
        if isinstance(v, list):
            out = [self.resolve(x) for x in v]
            return [x for x in out if x is not NO_VALUE]
        if not isinstance(v, dict):
            return v
        if len(v) == 1:
            (k, a), = v.items()
            if k == "Ref":
                return NO_VALUE if a == "AWS::NoValue" else self.ref(a)
            if k == "Fn::GetAtt":
                name, attribute = a if isinstance(a, list) else a.split(".", 1)
                return self.get_att(name, attribute)
            if k == "Fn::Sub":
                return self.sub(a)
            if k == "Fn::If":
                return self.resolve(a[1] if self.condition(a[0]) else a[2])
            if k == "Fn::Equals":
                return str(self.resolve(a[0])) == str(self.resolve(a[1]))
            if k == "Fn::Not":
                return not self.resolve(a[0])
            if k == "Fn::And":
                return all(self.resolve(x) for x in a)
            if k == "Fn::Or":
                return any(self.resolve(x) for x in a)
            if k == "Condition":
                return self.condition(a)
            if k == "Fn::Join":
                return a[0].join(str(x) for x in self.resolve(a[1]))
            if k == "Fn::Select":
                return self.resolve(a[1])[int(self.resolve(a[0]))]
            if k == "Fn::Split":
                return str(self.resolve(a[1])).split(a[0])
            if k.startswith("Fn::"):
                raise TemplateError(f"intrinsic {k} is not read here")
        out = {key: self.resolve(x) for key, x in v.items()}
        return {key: x for key, x in out.items() if x is not NO_VALUE}

    # ---- what the stack is made of

    def of_type(self, kind: str) -> dict:
        return {k: r for k, r in self.resources.items() if r["Type"] == kind and self.exists(k)}

    def functions(self) -> dict[str, FunctionDecl]:
        out = {}
        for logical, r in self.of_type("AWS::Lambda::Function").items():
            props = r["Properties"]
            binary = (r.get("Metadata") or {}).get("BuildProperties", {}).get("Binary")
            if not binary:
                raise TemplateError(f"{logical} names no binary (Metadata.BuildProperties.Binary)")
            role = props["Role"]
            if not (isinstance(role, dict) and "Fn::GetAtt" in role):
                raise TemplateError(f"{logical}'s role is not a role of this stack")
            env = self.resolve((props.get("Environment") or {}).get("Variables") or {})
            out[logical] = FunctionDecl(
                logical_id=logical,
                binary=binary,
                environment={k: str(v) for k, v in env.items()},
                role=role["Fn::GetAtt"][0],
                timeout=int(self.resolve(props.get("Timeout", 3))),
                memory=int(self.resolve(props.get("MemorySize", 128))),
                architectures=self.resolve(props.get("Architectures", ["x86_64"])),
                reserved_concurrency=self.resolve(props.get("ReservedConcurrentExecutions")),
            )
        return out

    def role_properties(self, logical: str) -> dict:
        return self.resolve(self.resources[logical]["Properties"])

    def _function_of_arn(self, value) -> str:
        """The function a `${X.Arn}` (in a Sub) or a `GetAtt X.Arn` names, read unresolved."""
        if isinstance(value, dict) and "Fn::GetAtt" in value:
            return value["Fn::GetAtt"][0]
        if isinstance(value, dict) and "Fn::Sub" in value:
            text = value["Fn::Sub"] if isinstance(value["Fn::Sub"], str) else value["Fn::Sub"][0]
            m = re.search(r"\$\{(\w+)\.Arn\}", text)
            if m:
                return m.group(1)
        raise TemplateError(f"cannot tell which function {value!r} invokes")

    def routes(self) -> list[RouteDecl]:
        out = []
        for logical, api in self.of_type("AWS::ApiGatewayV2::Api").items():
            out += self._body_routes(api["Properties"].get("Body") or {})
        out += self._resource_routes()
        return out

    def _body_routes(self, body: dict) -> list[RouteDecl]:
        schemes = body.get("components", {}).get("securitySchemes", {})
        out = []
        for path, methods in body.get("paths", {}).items():
            for method, op in methods.items():
                integration = op.get("x-amazon-apigateway-integration")
                if integration is None:
                    continue
                method = "ANY" if method == "x-amazon-apigateway-any-method" else method.upper()
                out.append(
                    RouteDecl(
                        method=method,
                        path=path,
                        function=self._function_of_arn(integration["uri"]),
                        authorizer=self._body_authorizer(op.get("security", []), schemes),
                        declared_as="body",
                    )
                )
        return out

    def _body_authorizer(self, security: list, schemes: dict) -> Authorizer | None:
        names = [name for requirement in security for name in requirement]
        if not names:
            return None
        if len(names) > 1:
            raise TemplateError(f"a route with several authorizers: {names}")
        spec = schemes[names[0]]["x-amazon-apigateway-authorizer"]
        if spec.get("type") != "jwt":
            raise TemplateError(f"authorizer {names[0]} is not a JWT authorizer")
        jwt = self.resolve(spec["jwtConfiguration"])
        return Authorizer(issuer=jwt["issuer"], audiences=tuple(jwt.get("audience", [])))

    def _resource_routes(self) -> list[RouteDecl]:
        out = []
        for logical, r in self.of_type("AWS::ApiGatewayV2::Route").items():
            p = r["Properties"]
            method, path = p["RouteKey"].split(" ", 1)
            target = p["Target"]
            m = re.fullmatch(r"integrations/\$\{(\w+)\}", target.get("Fn::Sub", ""))
            if not m:
                raise TemplateError(f"{logical}: target {target!r} is not an integration here")
            integration = self.resources[m.group(1)]["Properties"]
            authorizer = None
            if p.get("AuthorizationType") == "JWT":
                a = self.resources[p["AuthorizerId"]["Ref"]]["Properties"]
                jwt = self.resolve(a["JwtConfiguration"])
                authorizer = Authorizer(issuer=jwt["Issuer"], audiences=tuple(jwt["Audience"]))
            elif p.get("AuthorizationType", "NONE") != "NONE":
                raise TemplateError(f"{logical}: authorization {p['AuthorizationType']}")
            out.append(
                RouteDecl(
                    method=method,
                    path=path,
                    function=self._function_of_arn(integration["IntegrationUri"]),
                    authorizer=authorizer,
                    declared_as="resource",
                )
            )
        return out

    def event_sources(self) -> list[EventSource]:
        out = []
        for logical, r in self.of_type("AWS::Lambda::EventSourceMapping").items():
            p = r["Properties"]
            function = p["FunctionName"]["Ref"]
            source = p["EventSourceArn"]
            kind = "stream" if source.get("Fn::GetAtt", [None, None])[1] == "StreamArn" else "sqs"
            out.append(EventSource(logical, function, kind, self.resolve(source), self.resolve(p)))
        return out

    def schedules(self) -> list[ScheduleDecl]:
        out = []
        for logical, r in self.of_type("AWS::Scheduler::Schedule").items():
            p = r["Properties"]
            out.append(
                ScheduleDecl(
                    logical_id=logical,
                    function=p["Target"]["Arn"]["Fn::GetAtt"][0],
                    expression=self.resolve(p["ScheduleExpression"]),
                    input=self.resolve(p["Target"].get("Input")),
                )
            )
        return out


class _NoValue:
    def __repr__(self):
        return "AWS::NoValue"


NO_VALUE = _NoValue()


def load(path: str) -> dict:
    with open(path, encoding="utf-8") as f:
        return json.load(f)
