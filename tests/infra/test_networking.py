"""The networking stack against the seed's plan: the VPC and its nine subnets (three in dev's one zone), NAT
gateways, flow logs, endpoints, and the security groups' rules (nothing from 0.0.0.0/0 but HTTPS into the API
group; functions reach the data stores and OpenSearch on 443 only)."""

from __future__ import annotations

import pytest

pytest.importorskip("aws_cdk")

from aws_cdk.assertions import Match

STAGES = ("dev", "staging", "prod")
ZONES = {"dev": ("us-east-1a",), "staging": ("us-east-1a", "us-east-1b", "us-east-1c")}
ZONES["prod"] = ZONES["staging"]
SEED_SUBNETS = {
    "Public": ("10.0.1.0/24", "10.0.2.0/24", "10.0.3.0/24"),
    "Private": ("10.0.11.0/24", "10.0.12.0/24", "10.0.13.0/24"),
    "Isolated": ("10.0.21.0/24", "10.0.22.0/24", "10.0.23.0/24"),
}
NAT_GATEWAYS = {"dev": 1, "staging": 1, "prod": 3}
FLOW_LOG_RETENTION = {"dev": 14, "staging": 90, "prod": 365}
INTERFACE_ENDPOINTS = ("sqs", "kms", "secretsmanager", "sts", "bedrock-runtime")


def resources(synthesised, stage: str, kind: str) -> dict[str, dict]:
    template = synthesised.template_json(stage, "networking")
    return {name: body for name, body in template["Resources"].items() if body["Type"] == kind}


def group_id(synthesised, stage: str, attribute: str) -> str:
    """The logical id of one of the stack's security groups (``api_security_group``, ...)."""
    stack = synthesised.stages[stage].networking
    return stack.resolve(getattr(stack, attribute).node.default_child.logical_id)


@pytest.mark.parametrize("stage", STAGES)
def test_vpc_has_the_seed_cidr_and_dns(synthesised, stage: str) -> None:
    template = synthesised.template(stage, "networking")
    template.resource_count_is("AWS::EC2::VPC", 1)
    template.has_resource_properties(
        "AWS::EC2::VPC",
        {"CidrBlock": "10.0.0.0/16", "EnableDnsHostnames": True, "EnableDnsSupport": True},
    )


@pytest.mark.parametrize("stage", STAGES)
def test_subnets_are_the_seed_cidrs_one_per_zone_and_tier(synthesised, stage: str) -> None:
    zones = ZONES[stage]
    expected = {
        (cidr, zone, tier) for tier, cidrs in SEED_SUBNETS.items() for cidr, zone in zip(cidrs, zones, strict=False)
    }
    found = set()
    for subnet in resources(synthesised, stage, "AWS::EC2::Subnet").values():
        properties = subnet["Properties"]
        tier = next(tag["Value"] for tag in properties["Tags"] if tag["Key"] == "aws-cdk:subnet-type")
        found.add((properties["CidrBlock"], properties["AvailabilityZone"], tier))
        assert properties["MapPublicIpOnLaunch"] is (tier == "Public")
    assert found == expected
    assert len(found) == 3 * len(zones)  # dev: the first of each; staging and prod: all nine


@pytest.mark.parametrize("stage", STAGES)
def test_nat_gateways_per_stage(synthesised, stage: str) -> None:
    template = synthesised.template(stage, "networking")
    template.resource_count_is("AWS::EC2::NatGateway", NAT_GATEWAYS[stage])
    template.resource_count_is("AWS::EC2::InternetGateway", 1)


@pytest.mark.parametrize("stage", STAGES)
def test_flow_logs_capture_all_traffic_for_the_stage_retention(synthesised, stage: str) -> None:
    template = synthesised.template(stage, "networking")
    template.has_resource_properties(
        "AWS::EC2::FlowLog",
        {"ResourceType": "VPC", "TrafficType": "ALL", "LogDestinationType": "cloud-watch-logs"},
    )
    template.has_resource_properties(
        "AWS::Logs::LogGroup",
        {"LogGroupName": f"/investai/{stage}/vpc-flow-logs", "RetentionInDays": FLOW_LOG_RETENTION[stage]},
    )


@pytest.mark.parametrize("stage", STAGES)
def test_gateway_endpoints_for_s3_and_dynamodb(synthesised, stage: str) -> None:
    template = synthesised.template(stage, "networking")
    for service in ("s3", "dynamodb"):
        template.has_resource_properties(
            "AWS::EC2::VPCEndpoint",
            {
                "VpcEndpointType": "Gateway",
                "ServiceName": {"Fn::Join": ["", ["com.amazonaws.", {"Ref": "AWS::Region"}, f".{service}"]]},
                # route tables of the private and isolated subnets: one each per zone
                "RouteTableIds": Match.any_value(),
            },
        )
    for endpoint in resources(synthesised, stage, "AWS::EC2::VPCEndpoint").values():
        if endpoint["Properties"].get("VpcEndpointType") == "Gateway":
            assert len(endpoint["Properties"]["RouteTableIds"]) == 2 * len(ZONES[stage])


@pytest.mark.parametrize("stage", STAGES)
def test_interface_endpoints_outside_dev(synthesised, stage: str) -> None:
    interface = {
        body["Properties"]["ServiceName"]: body["Properties"]
        for body in resources(synthesised, stage, "AWS::EC2::VPCEndpoint").values()
        if body["Properties"].get("VpcEndpointType") == "Interface"
    }
    if stage == "dev":
        assert interface == {}
        return
    assert set(interface) == {f"com.amazonaws.us-east-1.{service}" for service in INTERFACE_ENDPOINTS}
    endpoint_group = group_id(synthesised, stage, "endpoint_security_group")
    for properties in interface.values():
        assert properties["PrivateDnsEnabled"] is True
        assert properties["SecurityGroupIds"] == [{"Fn::GetAtt": [endpoint_group, "GroupId"]}]
        assert len(properties["SubnetIds"]) == len(ZONES[stage])


@pytest.mark.parametrize("stage", STAGES)
def test_only_the_api_group_is_open_and_only_to_https(synthesised, stage: str) -> None:
    api = group_id(synthesised, stage, "api_security_group")
    open_ingress = []
    for name, group in resources(synthesised, stage, "AWS::EC2::SecurityGroup").items():
        for rule in group["Properties"].get("SecurityGroupIngress", []):
            if rule.get("CidrIp") == "0.0.0.0/0" or rule.get("CidrIpv6") == "::/0":
                open_ingress.append((name, rule["IpProtocol"], rule["FromPort"], rule["ToPort"]))
    for rule in resources(synthesised, stage, "AWS::EC2::SecurityGroupIngress").values():
        properties = rule["Properties"]
        assert "CidrIp" not in properties  # group-to-group rules only
        assert "CidrIpv6" not in properties
    assert open_ingress == [(api, "tcp", 443, 443)]


def _ingress(synthesised, stage: str) -> set[tuple[str, str, int, int]]:
    """(target group, source group, from port, to port) of every group-to-group ingress rule."""
    return {
        (
            rule["Properties"]["GroupId"]["Fn::GetAtt"][0],
            rule["Properties"]["SourceSecurityGroupId"]["Fn::GetAtt"][0],
            rule["Properties"]["FromPort"],
            rule["Properties"]["ToPort"],
        )
        for rule in resources(synthesised, stage, "AWS::EC2::SecurityGroupIngress").values()
    }


@pytest.mark.parametrize("stage", STAGES)
def test_groups_chain_api_to_functions_to_data_on_443(synthesised, stage: str) -> None:
    api, functions, database, search = (
        group_id(synthesised, stage, attribute)
        for attribute in (
            "api_security_group",
            "lambda_security_group",
            "database_security_group",
            "opensearch_security_group",
        )
    )
    expected = {
        (functions, api, 443, 443),
        (database, functions, 443, 443),
        (search, functions, 443, 443),
    }
    if stage != "dev":
        expected.add((group_id(synthesised, stage, "endpoint_security_group"), functions, 443, 443))
    assert _ingress(synthesised, stage) == expected


@pytest.mark.parametrize("stage", STAGES)
def test_egress_is_restricted(synthesised, stage: str) -> None:
    """No group has CDK's allow-all egress; the functions may go out on HTTPS only."""
    functions = group_id(synthesised, stage, "lambda_security_group")
    for name, group in resources(synthesised, stage, "AWS::EC2::SecurityGroup").items():
        for rule in group["Properties"].get("SecurityGroupEgress", []):
            assert rule["IpProtocol"] != "-1", f"{name} allows all outbound traffic"
            if rule.get("CidrIp") == "0.0.0.0/0":
                assert (name, rule["IpProtocol"], rule["FromPort"], rule["ToPort"]) == (functions, "tcp", 443, 443)


def test_public_attributes_are_the_constructs_other_stacks_use(synthesised) -> None:
    from aws_cdk import aws_ec2 as ec2

    networking = synthesised.stages["prod"].networking
    assert isinstance(networking.vpc, ec2.Vpc)
    for attribute in (
        "api_security_group",
        "lambda_security_group",
        "database_security_group",
        "opensearch_security_group",
    ):
        assert isinstance(getattr(networking, attribute), ec2.SecurityGroup)
    assert len(networking.vpc.isolated_subnets) == 3
    assert len(synthesised.stages["dev"].networking.vpc.private_subnets) == 1
