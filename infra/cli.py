"""`emberwatch-deploy`: deploy, run, upgrade and tear down Emberwatch on AWS (the command line; what it
does against the stack is in `infra.operations`).

    emberwatch-deploy up --allowed-cidr 203.0.113.7/32 --subnet-id subnet-0abc --alert-email me@example.com
    emberwatch-deploy submit                  # start the job (EMR step running `flink run` on YARN)
    emberwatch-deploy upgrade                 # stop with a savepoint, upload the new code, resume from it
    emberwatch-deploy dashboards              # import the OpenSearch Dashboards objects
    emberwatch-deploy status | savepoint | down [--delete-data]

Every command takes --stack-name (EMBERWATCH_STACK, default "emberwatch"), --region (AWS_REGION) and
--profile (AWS_PROFILE); --endpoint-url points the AWS clients at an emulator (tests use moto_server).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

import boto3
from botocore.exceptions import BotoCoreError, ClientError, EndpointConnectionError

from infra import dashboard_import, stack
from infra.errors import DeployError
from infra.operations import (
    Clients,
    stack_outputs,
    stack_parameter,
    submit_job,
    take_savepoint,
    upload_package,
)
from infra.package import build_package

logger = logging.getLogger(__name__)

ENV_STACK = "EMBERWATCH_STACK"
ENV_OS_PASSWORD = "EMBERWATCH_OS_PASSWORD"
DEFAULT_STACK = "emberwatch"


# ------------------------------------------------------------------------------------------ helpers


def _clients(args: argparse.Namespace) -> Clients:
    try:
        session = (
            boto3.session.Session(profile_name=args.profile) if args.profile else boto3.session.Session()
        )
    except BotoCoreError as exc:
        raise DeployError(
            f"AWS profile {args.profile!r} not usable: {exc}. Check `aws configure list-profiles`."
        ) from exc
    return Clients(session, args.region, args.endpoint_url)


def _parse_params(pairs: list[str]) -> dict[str, str]:
    params = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise DeployError(f"--param {pair!r} is not KEY=VALUE (e.g. --param CoreInstanceCount=3).")
        params[key] = value
    return params


# ------------------------------------------------------------------------------------------ commands


def cmd_up(args: argparse.Namespace) -> int:
    clients = _clients(args)
    cfn, s3 = clients.client("cloudformation"), clients.client("s3")
    package = build_package(Path(args.project_root).resolve())
    body = Path(args.template).read_text(encoding="utf-8") if args.template else None
    params = _parse_params(args.param)
    for flag, key in (
        ("allowed_cidr", "DashboardAllowedCidr"),
        ("alert_email", "AlertEmail"),
        ("subnet_id", "SubnetId"),
        ("key_name", "KeyName"),
    ):
        if getattr(args, flag):
            params[key] = getattr(args, flag)
    exists = stack.stack_status(cfn, args.stack_name) is not None
    if not exists and "DashboardAllowedCidr" not in params:
        raise DeployError(
            "First deploy needs --allowed-cidr: the network allowed to open Dashboards, e.g. your public "
            "IP as x.x.x.x/32 (see https://checkip.amazonaws.com)."
        )
    known_subnet = params.get("SubnetId") or (exists and stack_parameter(cfn, args.stack_name, "SubnetId"))
    if not args.no_cluster and not known_subnet:
        raise DeployError(
            "The EMR cluster needs --subnet-id: a subnet with a route to the internet (public, or behind "
            "NAT), tagged for-use-with-amazon-emr-managed-policies=true. Or pass --no-cluster."
        )
    if not exists:
        print(f"creating stack {args.stack_name} (storage, stream, topic, domain: 15-30 min)")
        stack.deploy_stack(cfn, args.stack_name, {**params, "DeployCluster": "false"}, body)
    bucket = stack.stack_facts(cfn, args.stack_name)["BucketName"]
    uploaded = upload_package(s3, bucket, package)
    print(f"package s3://{bucket}/{package.s3_key} ({'uploaded' if uploaded else 'already there'})")
    if args.no_cluster:
        params["DeployCluster"] = "false"
    else:
        params["DeployCluster"] = "true"
        installed = stack_parameter(cfn, args.stack_name, "ArtifactKey")
        if not installed or args.reinstall:
            params["ArtifactKey"] = package.s3_key
        elif installed != package.s3_key:
            print(
                f"the cluster keeps its installed package {installed}; `emberwatch-deploy upgrade` runs "
                "the job from the new one (--reinstall replaces the cluster to change Python dependencies)"
            )
    result = stack.deploy_stack(cfn, args.stack_name, params, body)
    print(f"stack {args.stack_name}: {result.action} {', '.join(result.changes) or '(no changes)'}")
    _print_outputs(stack.stack_facts(cfn, args.stack_name))
    if args.start_job and not args.no_cluster:
        step_ids = submit_job(clients, args.stack_name, "LATEST", [], None, None, wait=False)
        print(f"job submitted: steps {' '.join(step_ids)}")
    if args.import_dashboards:
        url = stack_outputs(clients, args.stack_name, "OpenSearchEndpoint")["OpenSearchEndpoint"]
        auth = dashboard_import.request_auth("sigv4", region=clients.region, boto3_session=clients.session)
        imported = dashboard_import.import_saved_objects(url, auth)
        print(f"imported {imported.success_count} saved objects into {url}/_dashboards")
    return 0


def _print_outputs(outputs: dict[str, str]) -> None:
    for key in sorted(outputs):
        print(f"  {key:20} {outputs[key]}")


def cmd_submit(args: argparse.Namespace) -> int:
    step_ids = submit_job(
        _clients(args),
        args.stack_name,
        args.initpos,
        args.job_args,
        args.package_key,
        args.from_savepoint,
        args.wait,
        _overrides(args),
    )
    print("submitted steps " + " ".join(step_ids))
    return 0


def _overrides(args: argparse.Namespace) -> dict[str, str | None]:
    return {
        "ClusterId": getattr(args, "cluster_id", None),
        "OpenSearchEndpoint": getattr(args, "opensearch_url", None),
    }


def cmd_savepoint(args: argparse.Namespace) -> int:
    print(take_savepoint(_clients(args), args.stack_name, _overrides(args)))
    return 0


def cmd_upgrade(args: argparse.Namespace) -> int:
    clients = _clients(args)
    package = build_package(Path(args.project_root).resolve())
    overrides = _overrides(args)
    outputs = stack_outputs(clients, args.stack_name, "BucketName", "ClusterId", overrides=overrides)
    upload_package(clients.client("s3"), outputs["BucketName"], package)
    savepoint = take_savepoint(clients, args.stack_name, overrides)
    print(f"job stopped with savepoint {savepoint}")
    step_ids = submit_job(
        clients, args.stack_name, "LATEST", args.job_args, package.s3_key, savepoint, args.wait, overrides
    )
    print(f"resumed from it with package {package.s3_key}: steps {' '.join(step_ids)}")
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    clients = _clients(args)
    cfn = clients.client("cloudformation")
    status = stack.stack_status(cfn, args.stack_name)
    print(f"stack {args.stack_name}: {status or 'not deployed'}")
    if status is None:
        return 1
    outputs = {**stack.stack_facts(cfn, args.stack_name), **{k: v for k, v in _overrides(args).items() if v}}
    _print_outputs(outputs)
    if outputs.get("ClusterId"):
        emr = clients.client("emr")
        cluster = emr.describe_cluster(ClusterId=outputs["ClusterId"])["Cluster"]
        print(f"cluster {cluster['Id']}: {cluster['Status']['State']}")
        for step in emr.list_steps(ClusterId=cluster["Id"])["Steps"][:6]:
            print(f"  step {step['Id']} {step['Name']:32} {step['Status']['State']}")
    return 0


def cmd_down(args: argparse.Namespace) -> int:
    clients = _clients(args)
    cfn = clients.client("cloudformation")
    if stack.stack_status(cfn, args.stack_name) is None:
        print(f"stack {args.stack_name} does not exist")
        return 0
    bucket = stack.stack_facts(cfn, args.stack_name).get("BucketName")
    stack.delete_stack(cfn, args.stack_name)
    print(f"stack {args.stack_name} deleted")
    if bucket and args.delete_data:
        count = stack.empty_and_delete_bucket(clients.client("s3"), bucket)
        print(f"bucket {bucket} deleted with its {count} objects")
    elif bucket:
        print(f"bucket {bucket} kept (checkpoints, savepoints, logs); --delete-data removes it")
    return 0


def cmd_dashboards(args: argparse.Namespace) -> int:
    clients = _clients(args)
    url = args.url or stack_outputs(clients, args.stack_name, "OpenSearchEndpoint")["OpenSearchEndpoint"]
    password = args.password or os.environ.get(ENV_OS_PASSWORD)
    auth = dashboard_import.request_auth(
        args.auth, region=args.region, boto3_session=clients.session, basic=(args.user, password)
    )
    result = dashboard_import.import_saved_objects(url, auth, Path(args.file))
    print(f"imported {result.success_count} saved objects into {url}/_dashboards")
    for error in result.errors:
        print(f"  refused: {error}")
    return 1 if result.errors else 0


# ------------------------------------------------------------------------------------------ parser


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="emberwatch-deploy", description=__doc__.split("\n\n")[0])
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--stack-name",
        default=os.environ.get(ENV_STACK, DEFAULT_STACK),
        help=f"CloudFormation stack (default: {ENV_STACK} or {DEFAULT_STACK!r})",
    )
    common.add_argument("--region", default=None, help="AWS region (default: AWS_REGION / your profile's)")
    common.add_argument("--profile", default=None, help="AWS profile (default: AWS_PROFILE)")
    common.add_argument("--endpoint-url", default=None, help="AWS endpoint override, for emulators")
    common.add_argument("--cluster-id", help="EMR cluster (default: the stack's ClusterId)")
    common.add_argument("-v", "--verbose", action="store_true")
    common.add_argument("--debug", action="store_true", help="show the full traceback of an error")
    sub = parser.add_subparsers(dest="command", required=True)

    up = sub.add_parser("up", parents=[common], help="package, upload, create/update the stack")
    up.add_argument("--project-root", default=".", help="repository root holding cep/, common/, jobs/")
    up.add_argument("--template", default=None, help="template file (default: the packaged one)")
    up.add_argument("--allowed-cidr", help="DashboardAllowedCidr: who may open Dashboards (x.x.x.x/32)")
    up.add_argument("--alert-email", help="AlertEmail: subscribe this address to the alerts")
    up.add_argument("--subnet-id", help="SubnetId of the EMR cluster")
    up.add_argument("--key-name", help="KeyName: EC2 key pair for SSH to the EMR primary node")
    up.add_argument(
        "--param", action="append", default=[], metavar="KEY=VALUE", help="any template parameter"
    )
    up.add_argument("--no-cluster", action="store_true", help="deploy everything but the EMR cluster")
    up.add_argument("--reinstall", action="store_true", help="replace the cluster to install the new package")
    up.add_argument("--start-job", action="store_true", help="then submit the job (as `submit` does)")
    up.add_argument("--import-dashboards", action="store_true", help="then import the Dashboards objects")
    up.set_defaults(func=cmd_up)

    def job_flags(p: argparse.ArgumentParser) -> None:
        p.add_argument("--opensearch-url", help="domain endpoint (default: the stack's OpenSearchEndpoint)")
        p.add_argument("--wait", action="store_true", help="wait until the steps complete")
        p.add_argument(
            "--job-arg",
            dest="job_args",
            action="append",
            default=[],
            metavar="ARG",
            help="extra job argument, repeatable (e.g. --job-arg=--parallelism --job-arg=4)",
        )

    submit = sub.add_parser("submit", parents=[common], help="run the job as an EMR step")
    submit.add_argument(
        "--initpos",
        default="LATEST",
        choices=["LATEST", "TRIM_HORIZON"],
        help="where the job starts reading the stream when it has no restored state",
    )
    submit.add_argument("--package-key", help="S3 key of the package (default: the stack's ArtifactKey)")
    submit.add_argument("--from-savepoint", help="savepoint path to resume from, or 'latest'")
    job_flags(submit)
    submit.set_defaults(func=cmd_submit)

    savepoint = sub.add_parser("savepoint", parents=[common], help="stop the job with a savepoint")
    savepoint.set_defaults(func=cmd_savepoint)

    upgrade = sub.add_parser("upgrade", parents=[common], help="savepoint, upload new code, resume")
    upgrade.add_argument("--project-root", default=".")
    job_flags(upgrade)
    upgrade.set_defaults(func=cmd_upgrade)

    status = sub.add_parser("status", parents=[common], help="stack, cluster and recent steps")
    status.set_defaults(func=cmd_status)

    down = sub.add_parser("down", parents=[common], help="delete the stack")
    down.add_argument("--delete-data", action="store_true", help="also empty and delete the bucket")
    down.set_defaults(func=cmd_down)

    dash = sub.add_parser("dashboards", parents=[common], help="import the Dashboards saved objects")
    dash.add_argument("--url", help="domain endpoint (default: the stack's OpenSearchEndpoint output)")
    dash.add_argument("--auth", choices=dashboard_import.AUTH_MODES, default="sigv4")
    dash.add_argument("--user", help="basic-auth user (fine-grained access control)")
    dash.add_argument("--password", help=f"basic-auth password (default: {ENV_OS_PASSWORD})")
    dash.add_argument("--file", default=str(dashboard_import.SAVED_OBJECTS))
    dash.set_defaults(func=cmd_dashboards)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(message)s"
    )
    try:
        return args.func(args)
    except (DeployError, ClientError, BotoCoreError) as exc:
        if args.debug:
            raise
        print(f"emberwatch-deploy {args.command}: {_explain(exc)}", file=sys.stderr)
        return 2


def _explain(exc: Exception) -> str:
    """One line: what failed and what to do."""
    if isinstance(exc, ClientError):
        return f"AWS refused a call: {exc}"
    if isinstance(exc, EndpointConnectionError):
        return f"{exc}; check --endpoint-url and --region, or your network"
    if isinstance(exc, BotoCoreError):
        return f"{exc}; run with --debug for the traceback"
    return str(exc)


if __name__ == "__main__":
    sys.exit(main())
