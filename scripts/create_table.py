#!/usr/bin/env python3
"""Create a DynamoDB table from its definition in template.yaml (the one and only copy).

Reads the AWS::DynamoDB::Table resource's Properties from the SAM/CloudFormation template,
translates them into the DynamoDB API's CreateTable request, creates the table on the endpoint
in AWS_ENDPOINT_URL_DYNAMODB, waits until it is ACTIVE, then applies the TimeToLiveSpecification
and (where the endpoint supports it) the PointInTimeRecoverySpecification.

    create_table.py --template template.yaml --resource StateTable --table-name wxopen-local
"""

import argparse
import os
import sys

import boto3
import botocore.exceptions
import yaml


class CfnLoader(yaml.SafeLoader):
    """A YAML loader that reads CloudFormation's short tags (!Ref, !Sub, !GetAtt, ...)."""


def _construct_cfn_tag(loader, tag_suffix, node):
    name = "Ref" if tag_suffix == "Ref" else "Condition" if tag_suffix == "Condition" else f"Fn::{tag_suffix}"
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
        if tag_suffix == "GetAtt":
            value = value.split(".", 1)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    return {name: value}


CfnLoader.add_multi_constructor("!", _construct_cfn_tag)


def load_template(path):
    with open(path, encoding="utf-8") as f:
        return yaml.load(f, Loader=CfnLoader)


def _is_intrinsic(value):
    return isinstance(value, dict) and len(value) == 1 and (
        "Ref" in value or next(iter(value)).startswith("Fn::")
    )


def _check_literal(value, where):
    """The local table is built from literal values only: fail clearly on !Ref and friends."""
    if _is_intrinsic(value):
        raise SystemExit(f"create_table: {where} uses {next(iter(value))}; only literal values can be created locally")
    if isinstance(value, dict):
        for k, v in value.items():
            _check_literal(v, f"{where}.{k}")
    elif isinstance(value, list):
        for i, v in enumerate(value):
            _check_literal(v, f"{where}[{i}]")


def _pick(d, keys):
    return {k: d[k] for k in keys if k in d}


# CreateTable parameters that DynamoDB Local ignores or does not support, and that do not change
# how the table behaves for the code under test.
IGNORED = {
    "TableName",  # replaced by --table-name
    "Tags",
    "TableClass",
    "DeletionProtectionEnabled",
    "ContributorInsightsSpecification",
    "KinesisStreamSpecification",
    "ImportSourceSpecification",
    "ResourcePolicy",
    "WarmThroughput",
    "OnDemandThroughput",
    "TimeToLiveSpecification",  # applied after creation
    "PointInTimeRecoverySpecification",  # applied after creation
}


def create_table_request(props, table_name):
    """CloudFormation's AWS::DynamoDB::Table Properties -> DynamoDB CreateTable parameters."""
    _check_literal({k: v for k, v in props.items() if k not in IGNORED}, "Properties")
    unknown = set(props) - IGNORED - {
        "BillingMode",
        "AttributeDefinitions",
        "KeySchema",
        "GlobalSecondaryIndexes",
        "LocalSecondaryIndexes",
        "ProvisionedThroughput",
        "SSESpecification",
        "StreamSpecification",
    }
    if unknown:
        raise SystemExit(f"create_table: don't know how to create {sorted(unknown)} locally; teach scripts/create_table.py")

    req = {
        "TableName": table_name,
        "AttributeDefinitions": props["AttributeDefinitions"],
        "KeySchema": props["KeySchema"],
        "BillingMode": props.get("BillingMode", "PROVISIONED"),
    }
    if "ProvisionedThroughput" in props:
        req["ProvisionedThroughput"] = props["ProvisionedThroughput"]
    if props.get("GlobalSecondaryIndexes"):
        req["GlobalSecondaryIndexes"] = [
            _pick(gsi, ("IndexName", "KeySchema", "Projection", "ProvisionedThroughput"))
            for gsi in props["GlobalSecondaryIndexes"]
        ]
    if props.get("LocalSecondaryIndexes"):
        req["LocalSecondaryIndexes"] = [
            _pick(lsi, ("IndexName", "KeySchema", "Projection")) for lsi in props["LocalSecondaryIndexes"]
        ]
    sse = props.get("SSESpecification")
    if sse:
        # CloudFormation says SSEEnabled, the API says Enabled.
        api_sse = {"Enabled": bool(sse.get("SSEEnabled", False))}
        api_sse.update(_pick(sse, ("SSEType", "KMSMasterKeyId")))
        req["SSESpecification"] = api_sse
    stream = props.get("StreamSpecification")
    if stream:
        req["StreamSpecification"] = {"StreamEnabled": True, "StreamViewType": stream["StreamViewType"]}
    return req


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--template", default="template.yaml")
    parser.add_argument("--resource", default="StateTable", help="logical id of the AWS::DynamoDB::Table")
    parser.add_argument("--table-name", required=True)
    parser.add_argument("--endpoint-url", default=os.environ.get("AWS_ENDPOINT_URL_DYNAMODB"))
    parser.add_argument("--quiet", action="store_true")
    args = parser.parse_args()

    def say(msg):
        if not args.quiet:
            print(f"create_table: {msg}", file=sys.stderr)

    if not args.endpoint_url:
        raise SystemExit("create_table: no endpoint (set AWS_ENDPOINT_URL_DYNAMODB or --endpoint-url); refusing to touch AWS")

    template = load_template(args.template)
    resource = (template.get("Resources") or {}).get(args.resource)
    if not resource or resource.get("Type") != "AWS::DynamoDB::Table":
        raise SystemExit(f"create_table: {args.template} has no AWS::DynamoDB::Table named {args.resource}")
    props = resource.get("Properties") or {}

    ddb = boto3.client("dynamodb", endpoint_url=args.endpoint_url)
    req = create_table_request(props, args.table_name)
    try:
        ddb.create_table(**req)
        say(f"created {args.table_name} from {args.template}#{args.resource}")
    except ddb.exceptions.ResourceInUseException:
        say(f"{args.table_name} already exists; leaving it as it is")
    ddb.get_waiter("table_exists").wait(TableName=args.table_name, WaiterConfig={"Delay": 1, "MaxAttempts": 60})

    ttl = props.get("TimeToLiveSpecification")
    if ttl and ttl.get("Enabled"):
        _check_literal(ttl, "TimeToLiveSpecification")
        current = ddb.describe_time_to_live(TableName=args.table_name)["TimeToLiveDescription"]
        if current.get("TimeToLiveStatus") not in ("ENABLED", "ENABLING"):
            ddb.update_time_to_live(
                TableName=args.table_name,
                TimeToLiveSpecification={"Enabled": True, "AttributeName": ttl["AttributeName"]},
            )
        say(f"TTL on {ttl['AttributeName']}")

    pitr = props.get("PointInTimeRecoverySpecification")
    if pitr and pitr.get("PointInTimeRecoveryEnabled"):
        try:
            ddb.update_continuous_backups(
                TableName=args.table_name,
                PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True},
            )
            say("point-in-time recovery enabled")
        except botocore.exceptions.ClientError as e:
            say(f"point-in-time recovery not applied locally ({e.response['Error'].get('Code')})")


if __name__ == "__main__":
    main()
