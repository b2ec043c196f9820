"""Creating and wiring one stage's stacks.

Order and references (no cycles): networking and security depend on nothing; in prod the secondary-region stack
follows security (it replicates the data key, whose ARN it reads through CDK's ``cross_region_references``, set
on both stacks) and precedes storage (which replicates into its bucket and copies backups into its vault);
storage uses networking and security; compute uses networking, security and storage; api fronts compute;
monitoring watches storage, compute and api. Deployment order in prod: networking, security, secondary,
storage, compute, api, monitoring (the CDK CLI follows the dependencies). Security names the other stacks'
resources by their deterministic names (``StageConfig.name``), so least-privilege policies need no reference
back into storage or compute. The user pool lives in the api stack; the functions find it by name
(``<prefix>-users``), as the product's settings do, so compute does not depend on api.
"""

from __future__ import annotations

from dataclasses import dataclass

from aws_cdk import App, Environment, Stack, Tags

from investai_infra.config import StageConfig
from investai_infra.stacks.api import ApiStack
from investai_infra.stacks.compute import ComputeStack
from investai_infra.stacks.monitoring import MonitoringStack
from investai_infra.stacks.networking import NetworkingStack
from investai_infra.stacks.resilience import ApiFailover, BackupAndRecovery, SecondaryRegionStack
from investai_infra.stacks.security import SecurityStack
from investai_infra.stacks.static_site import StaticSite
from investai_infra.stacks.storage import StorageStack


@dataclass(frozen=True)
class StageStacks:
    config: StageConfig
    networking: NetworkingStack
    security: SecurityStack
    storage: StorageStack
    compute: ComputeStack
    api: ApiStack
    monitoring: MonitoringStack
    secondary: SecondaryRegionStack | None

    def all(self) -> list[Stack]:
        stacks: list[Stack] = [self.networking, self.security, self.storage, self.compute, self.api, self.monitoring]
        return stacks + ([self.secondary] if self.secondary is not None else [])


def build_stage(app: App, config: StageConfig) -> StageStacks:
    env = Environment(account=config.account, region=config.region)
    networking = NetworkingStack(app, config.stack_name("Networking"), config=config, env=env)
    security = SecurityStack(
        app,
        config.stack_name("Security"),
        config=config,
        env=env,
        cross_region_references=config.replicate_to_secondary,
    )
    secondary = None
    if config.replicate_to_secondary:
        secondary = SecondaryRegionStack(
            app,
            config.stack_name("Secondary"),
            config=config,
            env=Environment(account=config.account, region=config.secondary_region),
            data_key_arn=security.data_key.key_arn,  # read in the secondary region: adds the dependency on security
            cross_region_references=True,
        )
    storage = StorageStack(
        app, config.stack_name("Storage"), config=config, networking=networking, security=security, env=env
    )
    if secondary is not None:
        storage.add_stack_dependency(secondary, "the replication destination exists before replication is configured")
    static_site = StaticSite(storage, "StaticSite", config=config, access_logs=storage.access_logs_bucket)
    BackupAndRecovery(storage, "Backup", config=config, key=security.data_key)
    compute = ComputeStack(
        app,
        config.stack_name("Compute"),
        config=config,
        networking=networking,
        security=security,
        storage=storage,
        static_url=static_site.url,
        env=env,
    )
    api = ApiStack(
        app, config.stack_name("Api"), config=config, networking=networking, security=security, compute=compute, env=env
    )
    if config.domain_name and config.secondary_domain_name and config.hosted_zone_id:
        ApiFailover(api, "Failover", config=config, api=api)
    monitoring = MonitoringStack(
        app, config.stack_name("Monitoring"), config=config, storage=storage, compute=compute, api=api, env=env
    )
    stacks = StageStacks(config, networking, security, storage, compute, api, monitoring, secondary)
    for stack in stacks.all():
        for key, value in config.tags.items():
            Tags.of(stack).add(key, value)  # cost allocation tags on everything
    return stacks
