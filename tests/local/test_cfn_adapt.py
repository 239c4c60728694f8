"""Adapting translated CloudFormation to moto: skipped types and definition substitutions."""

from __future__ import annotations

import copy
import json
from typing import Any

from stp.local.cfn_adapt import inline_definition_substitutions, skip_unsupported

TEMPLATE: dict[str, Any] = {
    "Resources": {
        "Topic": {"Type": "AWS::SNS::Topic", "Properties": {}},
        "Alarm": {
            "Type": "AWS::CloudWatch::Alarm",
            "Properties": {"AlarmActions": [{"Ref": "Topic"}]},
        },
        "Queue": {
            "Type": "AWS::SQS::Queue",
            "DependsOn": ["Alarm", "Topic"],
            "Properties": {
                "Tags": [
                    {"Key": "alarm", "Value": {"Ref": "Alarm"}},
                    {"Key": "arn", "Value": {"Fn::GetAtt": ["Alarm", "Arn"]}},
                    {"Key": "sub", "Value": {"Fn::Sub": "${Alarm}/${Alarm.Arn}/${Topic}"}},
                ]
            },
        },
    },
    "Outputs": {"AlarmName": {"Value": {"Ref": "Alarm"}}},
}


def test_unsupported_resources_go_and_references_become_placeholders() -> None:
    template = copy.deepcopy(TEMPLATE)
    warnings = skip_unsupported(template, "stack")
    assert set(template["Resources"]) == {"Topic", "Queue"}
    queue = template["Resources"]["Queue"]
    assert queue["DependsOn"] == ["Topic"]
    tags = {tag["Key"]: tag["Value"] for tag in queue["Properties"]["Tags"]}
    assert tags["alarm"] == "stp-local-skipped:Alarm"
    assert tags["arn"] == "stp-local-skipped:Alarm.Arn"
    assert tags["sub"] == {
        "Fn::Sub": "stp-local-skipped:Alarm/stp-local-skipped:Alarm.Arn/${Topic}"
    }
    assert template["Outputs"]["AlarmName"]["Value"] == "stp-local-skipped:Alarm"
    assert (
        warnings[0]
        == "stack/Alarm (AWS::CloudWatch::Alarm): not supported by the emulation, not created"
    )
    assert any(w.startswith("stack/Queue refers to skipped Alarm") for w in warnings)
    assert any(w.startswith("stack/Outputs.AlarmName refers to skipped Alarm") for w in warnings)


def test_supported_templates_are_untouched() -> None:
    template = {"Resources": {"Topic": {"Type": "AWS::SNS::Topic", "Properties": {}}}}
    assert skip_unsupported(template, "stack") == []
    assert template == {"Resources": {"Topic": {"Type": "AWS::SNS::Topic", "Properties": {}}}}


def test_definition_substitutions_replace_only_their_names() -> None:
    definition = {
        "StartAt": "Work",
        "States": {
            "Work": {
                "Type": "Task",
                "Resource": "${WorkArn}",
                "Parameters": {"run.$": "$$.Execution.Name", "other": "${NotASubstitution}"},
                "End": True,
            }
        },
    }
    lines = json.dumps(definition, indent=2).split("\n")
    template: dict[str, Any] = {
        "Resources": {
            "Machine": {
                "Type": "AWS::StepFunctions::StateMachine",
                "Properties": {
                    "DefinitionString": {"Fn::Join": ["\n", lines]},
                    "DefinitionSubstitutions": {"WorkArn": {"Fn::GetAtt": ["Work", "Arn"]}},
                },
            }
        }
    }
    inline_definition_substitutions(template)
    properties = template["Resources"]["Machine"]["Properties"]
    assert "DefinitionSubstitutions" not in properties
    separator, parts = properties["DefinitionString"]["Fn::Join"]
    assert separator == ""
    assert {"Fn::GetAtt": ["Work", "Arn"]} in parts
    text = "".join(part if isinstance(part, str) else "ARN" for part in parts)
    assert json.loads(text)["States"]["Work"]["Resource"] == "ARN"
    assert json.loads(text)["States"]["Work"]["Parameters"] == {
        "run.$": "$$.Execution.Name",
        "other": "${NotASubstitution}",
    }
