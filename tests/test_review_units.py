"""The review's reading of terraform's change records, on hand-written entries of the documented
`terraform show -json` shape (https://developer.hashicorp.com/terraform/internals/json-format):
masking, unknowns, and what a reviewer is warned about."""

from __future__ import annotations

from aiinfra.review import SENSITIVE, UNKNOWN, attribute_changes, config_doc, stack_changes


def entry(rtype: str, actions: list[str], before, after, **change) -> dict:
    return {"address": f"{rtype}.x", "mode": "managed", "type": rtype, "name": "x",
            "change": {"actions": actions, "before": before, "after": after, **change}}


def test_changed_leaves_before_and_after_with_sensitive_values_masked_and_unknowns_named():
    change = {"before": {"a": 1, "tags": {"k": "v"}, "secret": "old", "same": "s", "empty": None},
              "after": {"a": 2, "tags": {"k": "w"}, "secret": "new", "same": "s", "empty": "", "arn": None},
              "after_unknown": {"arn": True}, "before_sensitive": {"secret": True}, "after_sensitive": {"secret": True}}
    got = {c.path: (c.before, c.after) for c in attribute_changes(change)}
    assert got == {"a": (1, 2), "tags.k": ("v", "w"), "secret": (SENSITIVE, SENSITIVE), "arn": (None, UNKNOWN)}
    # a secret whose value changed is still shown only as changed, never in clear
    assert "old" not in repr(got) and "new" not in repr(got)


def test_what_a_reviewer_is_warned_about():
    doc = {"resource_changes": [
        entry("aws_kms_key", ["delete"], {"deletion_window_in_days": 7}, None),
        entry("aws_autoscaling_group", ["delete", "create"], {"name": "g"}, {"name": "g2"}, replace_paths=[["name"]]),
        entry("aws_s3_bucket_lifecycle_configuration", ["update"], {"rule": [{"transition": [{"days": 30}]}]},
              {"rule": [{"transition": [{"days": 7}]}]}),
        entry("aws_s3_bucket", ["no-op"], {"bucket": "b"}, {"bucket": "b"}),
        {"address": "data.aws_ami.x", "mode": "data", "type": "aws_ami", "name": "x", "change": {"actions": ["read"]}},
    ]}
    s = stack_changes("st", doc)
    assert (s.add, s.change, s.destroy) == (1, 1, 2)
    key, group, rule = s.changes
    assert key.action == "destroy" and key.stateful == "KMS key" and "deletion in 7 days" in key.warning
    assert group.action == "replace" and group.replace_paths == ["name"] and "GPU group is replaced" in group.warning
    assert rule.action == "update" and "rule[0].transition[0].days 30 -> 7" in rule.warning
    (gone,) = stack_changes("st", {"resource_changes": [entry("google_compute_region_instance_group_manager", ["delete"], {}, None)]}).changes
    assert gone.action == "destroy" and "GPU group is destroyed: its nodes are terminated" in gone.warning


def test_the_plans_configuration_reads_like_synthesized_json():
    plan = {"configuration": {"root_module": {"resources": [{
        "address": "aws_autoscaling_schedule.s", "mode": "managed", "type": "aws_autoscaling_schedule", "name": "s",
        "expressions": {"autoscaling_group_name": {"references": ["aws_autoscaling_group.g.name", "aws_autoscaling_group.g"]},
                        "recurrence": {"constant_value": "0 6 * * 6"},
                        "tags": {"constant_value": ["${aws_x.y.arn}"], "references": ["aws_x.y.arn"]},
                        "metadata_options": [{"http_tokens": {"constant_value": "required"}}],
                        "rule": [{"id": {"constant_value": "a"}}, {"id": {"constant_value": "b"}}]}}]}}}
    body = config_doc(plan)["resource"]["aws_autoscaling_schedule"]["s"]
    assert body["autoscaling_group_name"] == "${aws_autoscaling_group.g.name}" and body["recurrence"] == "0 6 * * 6"
    assert body["tags"] == ["${aws_x.y.arn}"]
    assert body["metadata_options"] == {"http_tokens": "required"}  # one block: an object, as cdktf writes it
    assert body["rule"] == [{"id": "a"}, {"id": "b"}]
