"""
What the moto of test/support/moto-server.py holds, through the ordinary AWS APIs (boto3, which moto depends on),
as one JSON document on stdout, for test/cdk-deploy.integration.test.ts.

Usage: python3 test/support/moto-snapshot.py ENDPOINT BUCKET STACK...

The credentials and Region come from the environment the test passes.
"""

import json
import sys

import boto3
from botocore.exceptions import ClientError

BOOTSTRAP_VERSION_PARAMETER = "/cdk-bootstrap/hnb659fds/version"


def main() -> None:
    endpoint, bucket, *stack_names = sys.argv[1:]
    session = boto3.session.Session()

    def client(service: str):
        return session.client(service, endpoint_url=endpoint)

    cloudformation = client("cloudformation")
    s3 = client("s3")

    stacks = {}
    for name in stack_names:
        try:
            [stack] = cloudformation.describe_stacks(StackName=name)["Stacks"]
        except ClientError:
            stacks[name] = None
            continue
        # moto's ListChangeSets ignores StackName, so the stack's own are picked out here.
        change_sets = [
            {"name": summary["ChangeSetName"], "executionStatus": summary.get("ExecutionStatus")}
            for summary in cloudformation.list_change_sets(StackName=name)["Summaries"]
            if summary["StackId"] == stack["StackId"]
        ]
        template = cloudformation.get_template(StackName=name)["TemplateBody"]
        stacks[name] = {
            "status": stack["StackStatus"],
            "parameters": {p["ParameterKey"]: p.get("ParameterValue") for p in stack.get("Parameters", [])},
            "changeSets": change_sets,
            # boto3 parses a JSON TemplateBody into a dict; a string is kept as it came.
            "template": template if isinstance(template, str) else json.dumps(template),
        }

    try:
        version = client("ssm").get_parameter(Name=BOOTSTRAP_VERSION_PARAMETER)["Parameter"]["Value"]
    except ClientError:
        version = None

    try:
        keys = [item["Key"] for item in s3.list_objects_v2(Bucket=bucket).get("Contents", [])]
        objects = {key: s3.get_object(Bucket=bucket, Key=key)["Body"].read().decode("utf-8") for key in keys}
    except ClientError:
        objects = None

    identity = client("sts").get_caller_identity()
    json.dump(
        {
            "account": identity["Account"],
            "stacks": stacks,
            "bootstrapVersion": version,
            "bucketObjects": objects,
        },
        sys.stdout,
    )


if __name__ == "__main__":
    main()
