"""The stage's network: the seed's VPC plan (10.0.0.0/16 with public, private and isolated /24s per zone), NAT,
flow logs, endpoints and the four security groups every other stack places its resources in.

Subnet CIDRs are the seed's, not CDK's: CDK's default allocator hands out /24s in order from 10.0.0.0, which
would put the first public subnet at 10.0.0.0/24. :class:`SeedSubnetCidrs` answers CDK's allocation request with
the configured list instead, so the plan in the seed document is what is deployed (and firewall rules or peering
written against it stay true).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import jsii
from aws_cdk import Environment, RemovalPolicy, Stack
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_logs as logs
from constructs import Construct

from investai_infra.config import StageConfig
from investai_infra.stacks.common import acknowledge, log_retention

HTTPS = ec2.Port.tcp(443)


@jsii.implements(ec2.IIpAddresses)
class SeedSubnetCidrs:
    """CDK's ``IIpAddresses`` with fixed CIDRs: the VPC's block and, per subnet type, one CIDR per zone in zone
    order (the n-th subnet of a group gets the group's n-th CIDR)."""

    def __init__(self, vpc_cidr: str, cidrs: dict[ec2.SubnetType, tuple[str, ...]]) -> None:
        self._vpc_cidr = vpc_cidr
        self._cidrs = cidrs

    def allocate_vpc_cidr(self) -> ec2.VpcIpamOptions:
        return ec2.VpcIpamOptions(cidr_block=self._vpc_cidr)

    def allocate_subnets_cidr(
        self, *, requested_subnets: Sequence[ec2.RequestedSubnet | dict[str, Any]], vpc_cidr: str
    ) -> ec2.SubnetIpamOptions:
        used: dict[ec2.SubnetType, int] = {}
        allocated = []
        for request in requested_subnets:
            assert isinstance(request, ec2.RequestedSubnet)  # jsii passes the struct, never a dict
            kind = request.configuration.subnet_type
            index = used.get(kind, 0)
            used[kind] = index + 1
            plan = self._cidrs[kind]
            if index >= len(plan):
                raise ValueError(f"the seed plans {len(plan)} {kind} subnets; the VPC asks for more")
            allocated.append(ec2.AllocatedSubnet(cidr=plan[index]))
        return ec2.SubnetIpamOptions(allocated_subnets=allocated)


class NetworkingStack(Stack):
    """VPC, endpoints and security groups of one stage (see the module)."""

    def __init__(self, scope: Construct, construct_id: str, *, config: StageConfig, env: Environment) -> None:
        super().__init__(scope, construct_id, env=env, description=f"InvestAI {config.stage}: VPC and security groups")
        self.config = config
        self.vpc = self._vpc(config)
        self._flow_logs(config)
        self.api_security_group = self._group(
            "ApiSecurityGroup", "API entry: HTTPS from clients, onward to the functions only"
        )
        self.lambda_security_group = self._group(
            "LambdaSecurityGroup", "Functions and workers: HTTPS out to AWS APIs, market data and the data stores"
        )
        self.database_security_group = self._group("DatabaseSecurityGroup", "Data stores: HTTPS in from functions")
        self.opensearch_security_group = self._group("OpenSearchSecurityGroup", "OpenSearch: HTTPS in from functions")
        self._rules()
        self._endpoints(config)

    # -- VPC ----------------------------------------------------------------------------------------------
    def _vpc(self, config: StageConfig) -> ec2.Vpc:
        zones = len(config.availability_zones)
        cidrs = {
            ec2.SubnetType.PUBLIC: config.public_subnets[:zones],
            ec2.SubnetType.PRIVATE_WITH_EGRESS: config.private_subnets[:zones],
            ec2.SubnetType.PRIVATE_ISOLATED: config.isolated_subnets[:zones],
        }
        return ec2.Vpc(
            self,
            "Vpc",
            vpc_name=config.name("vpc"),
            ip_addresses=SeedSubnetCidrs(config.vpc_cidr, cidrs),
            availability_zones=list(config.availability_zones),
            nat_gateways=min(config.nat_gateways, zones),
            subnet_configuration=[
                ec2.SubnetConfiguration(name="public", subnet_type=ec2.SubnetType.PUBLIC, cidr_mask=24),
                ec2.SubnetConfiguration(name="private", subnet_type=ec2.SubnetType.PRIVATE_WITH_EGRESS, cidr_mask=24),
                ec2.SubnetConfiguration(name="isolated", subnet_type=ec2.SubnetType.PRIVATE_ISOLATED, cidr_mask=24),
            ],
            enable_dns_hostnames=True,
            enable_dns_support=True,
        )

    def _flow_logs(self, config: StageConfig) -> None:
        """Every accepted and rejected flow, kept as long as the stage keeps its logs (incident forensics)."""
        group = logs.LogGroup(
            self,
            "FlowLogGroup",
            log_group_name=f"/investai/{config.stage}/vpc-flow-logs",
            retention=log_retention(config.log_retention_days),
            removal_policy=RemovalPolicy.RETAIN,
        )
        self.vpc.add_flow_log(
            "FlowLogs",
            destination=ec2.FlowLogDestination.to_cloud_watch_logs(group),
            traffic_type=ec2.FlowLogTrafficType.ALL,
        )

    # -- security groups ----------------------------------------------------------------------------------
    def _group(self, construct_id: str, description: str) -> ec2.SecurityGroup:
        return ec2.SecurityGroup(self, construct_id, vpc=self.vpc, description=description, allow_all_outbound=False)

    def _rules(self) -> None:
        """The seed's rules: clients → API (HTTPS), API → functions, functions → data stores and OpenSearch, all
        on 443; functions out to HTTPS anywhere (AWS APIs through the NAT or endpoints, market data providers).
        No group accepts anything else, and only the API group accepts traffic from outside the VPC."""
        self.api_security_group.add_ingress_rule(ec2.Peer.any_ipv4(), HTTPS, "HTTPS from clients")
        self.api_security_group.connections.allow_to(self.lambda_security_group, HTTPS, "API to functions")
        self.lambda_security_group.add_egress_rule(ec2.Peer.any_ipv4(), HTTPS, "HTTPS to AWS APIs and providers")
        self.lambda_security_group.connections.allow_to(self.database_security_group, HTTPS, "functions to data")
        self.lambda_security_group.connections.allow_to(self.opensearch_security_group, HTTPS, "functions to search")
        acknowledge(
            self.api_security_group,
            {
                "EC23": "The API entry group exists to accept HTTPS (443 only) from any client; WAF and the "
                "Cognito authorizer filter requests, and every other group accepts traffic from groups only."
            },
        )

    # -- endpoints ----------------------------------------------------------------------------------------
    def _endpoints(self, config: StageConfig) -> None:
        """S3 and DynamoDB gateway endpoints (free; the bulk of the data traffic) in every stage; interface
        endpoints for the services the functions call per request where the stage lists them."""
        private = [
            ec2.SubnetSelection(subnet_type=ec2.SubnetType.PRIVATE_WITH_EGRESS),
            ec2.SubnetSelection(subnet_type=ec2.SubnetType.PRIVATE_ISOLATED),
        ]
        self.vpc.add_gateway_endpoint("S3Endpoint", service=ec2.GatewayVpcEndpointAwsService.S3, subnets=private)
        self.vpc.add_gateway_endpoint(
            "DynamoDbEndpoint", service=ec2.GatewayVpcEndpointAwsService.DYNAMODB, subnets=private
        )
        if not config.interface_endpoints:
            return
        self.endpoint_security_group = self._group("EndpointSecurityGroup", "Interface endpoints: HTTPS from functions")
        self.lambda_security_group.connections.allow_to(self.endpoint_security_group, HTTPS, "functions to endpoints")
        for service in config.interface_endpoints:
            self.vpc.add_interface_endpoint(
                f"Endpoint-{service}",
                service=ec2.InterfaceVpcEndpointAwsService(service),
                subnets=ec2.SubnetSelection(subnet_type=ec2.SubnetType.PRIVATE_WITH_EGRESS),
                security_groups=[self.endpoint_security_group],
                private_dns_enabled=True,
                open=False,
            )
