"""
moto standing in for AWS in test/cdk-deploy.integration.test.ts.

Usage: python3 test/support/moto-server.py REQUEST_LOG

Listens on an ephemeral 127.0.0.1 port and prints `listening PORT` on stdout once it accepts connections. Every
request is appended to REQUEST_LOG as a JSON line, so that the test can tell which API calls the CDK CLI made:
{"service", "action", "method", "path", "status", "stackName"?, "templateUrl"?}. Exits when stdin closes (the test
ending, however it ends) or on SIGTERM.

Three things differ from plain `moto_server`, all because of what the Spotwise templates need:

1. The public SSM parameter the templates read as an `AWS::SSM::Parameter::Value<String>` default,
   /aws/service/powertools/typescript/generic/all/2.35.0, is seeded. moto's CloudFormation resolves such defaults
   from its SSM backend, but moto's PutParameter refuses names under /aws/ (as AWS does), so it is written into
   the backend directly. The Amazon Linux AMI parameters moto ships itself.

2. ExecuteChangeSet creates no resources for the app's stacks (every stack but the bootstrap stack, CDKToolkit),
   though it still resolves their parameters and records their template. moto cannot create all of their
   resources: a Spot Fleet with LaunchTemplateConfigs raises KeyError, custom resources want Docker to run their
   Lambda functions, and several types are not supported at all. moto does not roll back on such a failure: it
   answers 500, leaves what it made, and the SDK's retry of the 500 then "succeeds" with nothing more created.
   What the deploy would end as is then an accident of moto's coverage and the SDK's retries, not anything the
   CLI did. The test is about the CLI's side of `cdk deploy` and asserts nothing about resources. CDKToolkit's
   resources are created normally: the deploy needs its staging bucket and its version parameter, and moto
   supports all of them.

3. The request log above (moto's own recorder stores request bodies, not action names).
"""

import datetime
import io
import json
import signal
import sys
import threading
from urllib.parse import parse_qs, unquote

from moto.cloudformation.models import ChangeSet
from moto.core import DEFAULT_ACCOUNT_ID
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
from moto.ssm.models import Parameter, ssm_backends
from werkzeug.serving import make_server

REGION = "us-east-1"
BOOTSTRAP_STACK = "CDKToolkit"

# The layer ARN is made up; nothing in moto resolves it.
POWERTOOLS_PARAMETER = "/aws/service/powertools/typescript/generic/all/2.35.0"
POWERTOOLS_LAYER_ARN = "arn:aws:lambda:us-east-1:094274105915:layer:AWSLambdaPowertoolsTypeScriptV2:41"


def seed_public_parameters() -> None:
    backend = ssm_backends[DEFAULT_ACCOUNT_ID][REGION]
    backend._parameters[POWERTOOLS_PARAMETER].append(  # PutParameter refuses /aws/ names
        Parameter(
            account_id=DEFAULT_ACCOUNT_ID,
            name=POWERTOOLS_PARAMETER,
            value=POWERTOOLS_LAYER_ARN,
            parameter_type="String",
            description=None,
            allowed_pattern=None,
            keyid=None,
            last_modified_date=datetime.datetime.now(datetime.timezone.utc),
            version=1,
            data_type="text",
        )
    )


_create_resources = ChangeSet.apply


def apply_without_resources(self: ChangeSet) -> None:
    """ChangeSet.apply, minus resource creation for every stack but CDKToolkit (see 2. above)."""
    if self.stack.name == BOOTSTRAP_STACK:
        _create_resources(self)
        return
    # The first half of moto's ResourceMap.update: parameters (SSM-typed defaults included) and conditions.
    resource_map = self.stack.resource_map
    resource_map._template = self.template_dict
    if self.parameters:
        resource_map.input_parameters = self.parameters
    resource_map.load_mapping()
    resource_map.load_parameters()
    resource_map.load_conditions()


ChangeSet.apply = apply_without_resources


def request_fields(environ: dict, body: bytes) -> dict:
    """The API action and, for CloudFormation, the stack and template URL, from whichever protocol was used."""
    params: dict = {}
    content_type = environ.get("CONTENT_TYPE", "")
    query = parse_qs(environ.get("QUERY_STRING", ""))
    if content_type.startswith("application/x-www-form-urlencoded"):
        params = {key: values[0] for key, values in parse_qs(body.decode("utf-8", "replace")).items()}
    elif "json" in content_type and body:
        try:
            parsed = json.loads(body)
            params = parsed if isinstance(parsed, dict) else {}
        except ValueError:
            params = {}
    target = environ.get("HTTP_X_AMZ_TARGET")
    if target:
        action = target.rsplit(".", 1)[-1]
    elif "Action" in query:
        action = query["Action"][0]
    else:
        # REST protocols (S3): the method stands for the action; the path says what it was on.
        action = params.get("Action") or environ.get("REQUEST_METHOD", "")
    fields = {"action": action}
    if isinstance(params.get("StackName"), str):
        fields["stackName"] = params["StackName"]
    if isinstance(params.get("TemplateURL"), str):
        fields["templateUrl"] = params["TemplateURL"]
    return fields


def service_of(environ: dict) -> str:
    """The signing service from the Authorization header's credential scope, e.g. `s3`, `cloudformation`."""
    auth = environ.get("HTTP_AUTHORIZATION", "")
    try:
        scope = auth.split("Credential=", 1)[1].split(",", 1)[0]
        return scope.split("/")[3]
    except IndexError:
        return ""


class RequestLog:
    """WSGI middleware: passes each request to moto and appends what it was, and moto's status, to a file."""

    def __init__(self, app, path: str):
        self.app = app
        self.path = path
        self.lock = threading.Lock()

    def write(self, entry: dict) -> None:
        with self.lock, open(self.path, "a", encoding="utf-8") as log:
            log.write(json.dumps(entry) + "\n")

    def __call__(self, environ, start_response):
        if environ.get("PATH_INFO", "").startswith("/moto-api"):
            return self.app(environ, start_response)
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else b""
        environ["wsgi.input"] = io.BytesIO(body)
        entry = {
            "service": service_of(environ),
            "method": environ.get("REQUEST_METHOD", ""),
            "path": unquote(environ.get("PATH_INFO", "")),
            **request_fields(environ, body),
        }

        def recording_start_response(status, headers, exc_info=None):
            entry["status"] = int(status.split(" ", 1)[0])
            return start_response(status, headers, exc_info)

        try:
            result = self.app(environ, recording_start_response)
        except Exception:
            # werkzeug turns this into a 500 without calling start_response: log it as one.
            entry["status"] = 500
            self.write(entry)
            raise
        self.write(entry)
        return result


def main() -> None:
    log_path = sys.argv[1]
    seed_public_parameters()
    app = RequestLog(DomainDispatcherApplication(create_backend_app), log_path)
    server = make_server("127.0.0.1", 0, app, threaded=True)

    def stop(*_args) -> None:
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)

    def watch_stdin() -> None:
        sys.stdin.read()
        stop()

    threading.Thread(target=watch_stdin, daemon=True).start()
    print(f"listening {server.server_port}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
