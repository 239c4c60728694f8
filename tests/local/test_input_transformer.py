"""EventBridge target input: InputTransformer placeholders in and out of JSON strings."""

from __future__ import annotations

import json
from typing import Any

from stp.local import object_created_event, render_template, target_input

EVENT = object_created_event(
    bucket="market-data",
    key="raw/prices 1.csv",
    size=1234,
    etag='"abc123"',
    version_id=None,
    account_id="123456789012",
    region="eu-west-1",
)
PATHS = {
    "bucket": "$.detail.bucket.name",
    "key": "$.detail.object.key",
    "size": "$.detail.object.size",
}
RULE = "arn:aws:events:eu-west-1:123456789012:rule/upload-trigger"


def render(template: str, paths: dict[str, str] | None = None) -> Any:
    return json.loads(render_template(template, paths or PATHS, EVENT, RULE))


def test_the_s3_event_has_the_fields_s3_sends() -> None:
    assert EVENT["detail-type"] == "Object Created"
    assert EVENT["source"] == "aws.s3"
    assert EVENT["resources"] == ["arn:aws:s3:::market-data"]
    assert EVENT["region"] == "eu-west-1"
    detail = EVENT["detail"]
    assert detail["bucket"] == {"name": "market-data"}
    assert detail["object"]["etag"] == "abc123"
    assert detail["object"]["size"] == 1234
    assert detail["reason"] == "PutObject"
    assert set(detail) >= {"version", "request-id", "requester", "object", "bucket"}


def test_unquoted_placeholders_insert_json_values() -> None:
    rendered = render('{"bucket": <bucket>, "key": <key>, "size": <size>}')
    assert rendered == {"bucket": "market-data", "key": "raw/prices 1.csv", "size": 1234}


def test_quoted_placeholders_insert_text_into_the_string() -> None:
    rendered = render('{"note": "uploaded <key> (<size> bytes) to <bucket>"}')
    assert rendered == {"note": "uploaded raw/prices 1.csv (1234 bytes) to market-data"}


def test_quoted_values_are_escaped_for_the_string() -> None:
    event = {"detail": {"text": 'say "hi"\\now'}}
    rendered = render_template('{"said": "<text>"}', {"text": "$.detail.text"}, event, RULE)
    assert json.loads(rendered) == {"said": 'say "hi"\\now'}


def test_objects_insert_as_json_outside_strings() -> None:
    assert render('{"where": <bucket>, "obj": <o>}', {**PATHS, "o": "$.detail.bucket"}) == {
        "where": "market-data",
        "obj": {"name": "market-data"},
    }


def test_a_missing_path_is_null() -> None:
    assert render('{"missing": <gone>}', {"gone": "$.detail.nothing"}) == {"missing": None}


def test_plain_text_templates_get_plain_values() -> None:
    text = render_template("<key> landed in <bucket>", PATHS, EVENT, RULE)
    assert text == "raw/prices 1.csv landed in market-data"


def test_predefined_variables() -> None:
    rendered = render('{"rule": <aws.events.rule-name>, "event": <aws.events.event.json>}', {})
    assert rendered["rule"] == "upload-trigger"
    assert rendered["event"] == EVENT


def test_target_input_and_input_path() -> None:
    assert target_input({"Input": '{"fixed": 1}'}, EVENT, RULE) == '{"fixed": 1}'
    selected = target_input({"InputPath": "$.detail.bucket"}, EVENT, RULE)
    assert json.loads(selected) == {"name": "market-data"}
    assert json.loads(target_input({}, EVENT, RULE)) == EVENT
