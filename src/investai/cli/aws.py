"""``investai aws``: the AWS shape's resources.

``provision`` creates every table, the bucket, the queues, the data key, the application secret and the user
pool from the one definition the CDK app also reads (``adapters/aws/resources.py``); for emulators (moto, with
``AWS_ENDPOINT_URL``) and sandbox accounts. Production accounts are deployed by the CDK app.

``prepare`` does, against a deployment, what ``investai serve`` does before it serves — the first administrator
in the Cognito pool, and the sample market history and documents when the settings ask for them — since no
function of a deployment runs it: an operator runs it once after the first ``cdk deploy``.
"""

from __future__ import annotations

import typer

from investai.cli.common import cli_settings, fail

aws_app = typer.Typer(
    help="The AWS shape: create its resources on an emulator or a sandbox account", no_args_is_help=True
)


@aws_app.command("provision")
def provision() -> None:
    """Create every resource of the AWS shape that does not exist yet (safe to run again)."""
    from investai.bootstrap.aws import provision as provision_resources

    settings = cli_settings()
    try:
        report = provision_resources(settings)
    except Exception as exc:  # botocore's errors: no credentials, no endpoint, access denied
        fail(f"provisioning failed: {type(exc).__name__}: {exc}")
    width = max(len(kind) for kind, _, _ in report.resources)
    for kind, name, created in report.resources:
        typer.echo(f"{kind:{width}}  {'created' if created else 'exists ':7}  {name}")
    names = report.names
    typer.echo(f"{'queue url':{width}}  {names.queue_url}")
    typer.echo(f"{'user pool':{width}}  {names.user_pool_id} (app client {names.user_pool_client_id})")


@aws_app.command("prepare")
def prepare() -> None:
    """Prepare a deployment's first start: its first administrator and, if asked, the sample data (run once)."""
    from investai.cli.common import open_container
    from investai.cli.service import prepare_first_start

    container = open_container(service=True)
    email = container.settings.admin_email
    created = prepare_first_start(container)  # on a refused password it has closed the container and exits 2
    container.close()
    if created:
        typer.echo(f"first administrator created: {email} (sign in and choose a new password if one was printed)")
    else:
        typer.echo("the deployment already has users: no administrator created")
