#!/usr/bin/env python3
"""Checks the integration files against the binary's option table and real schemas.

- plugin.yml: the linter's required keys; `configuration` is a valid draft-07 schema
  with no `format` keyword, `additionalProperties: false`, a description on every
  property, and exactly the options of src/config/options.rs.
- action.yml: the same options as inputs (plus `api-token`), each mapped to its
  INPUT_* variable in the run step's env, and no `${{ inputs.* }}` inside any `run:`.
- README.md: every YAML example parses; Buildkite examples validate against the
  Buildkite pipeline schema and their plugin configuration against plugin.yml;
  GitHub examples validate against the workflow schema and use only real inputs.
"""

import pathlib
import re
import subprocess
import sys
import tempfile

import jsonschema
import yaml

ROOT = pathlib.Path(__file__).resolve().parent.parent
failures = []


def fail(message):
    failures.append(message)
    print(f"FAIL: {message}")


def options():
    source = (ROOT / "src/config/options.rs").read_text()
    return re.findall(r'OptionSpec \{[^}]*?name: "([^"]+)"', source)


def walk(node, path=""):
    if isinstance(node, dict):
        for key, value in node.items():
            yield path + "/" + str(key), key, value
            yield from walk(value, path + "/" + str(key))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from walk(value, f"{path}/{i}")


def check_plugin(names):
    plugin = yaml.safe_load((ROOT / "plugin.yml").read_text())
    for key in ("name", "description", "author", "requirements", "configuration"):
        if key not in plugin:
            fail(f"plugin.yml lacks `{key}`")
    config = plugin["configuration"]
    jsonschema.Draft7Validator.check_schema(config)
    for path, key, _ in walk(config):
        if key == "format":
            fail(f"plugin.yml uses `format` at {path} (the plugin linter's Ajv rejects it)")
    if config.get("additionalProperties") is not False:
        fail("plugin.yml configuration must set additionalProperties: false")
    props = config.get("properties", {})
    for name, spec in props.items():
        if not spec.get("description"):
            fail(f"plugin.yml option `{name}` has no description")
    if sorted(props) != sorted(names):
        fail(f"plugin.yml options {sorted(props)} differ from the binary's {sorted(names)}")
    return config


def check_action(names):
    action = yaml.safe_load((ROOT / "action.yml").read_text())
    inputs = action.get("inputs", {})
    expected = sorted(names + ["api-token"])
    if sorted(inputs) != expected:
        fail(f"action.yml inputs {sorted(inputs)} differ from {expected}")
    for name, spec in inputs.items():
        if not spec.get("description"):
            fail(f"action.yml input `{name}` has no description")
    steps = action["runs"]["steps"]
    for step in steps:
        if "${{ inputs." in step.get("run", ""):
            fail(f"action.yml step `{step.get('name')}` interpolates inputs inside run:")
    run = next(s for s in steps if s.get("id") == "run")
    for name in names:
        if name == "binary-path":
            continue
        var = "INPUT_" + name.upper().replace("-", "_")
        if run.get("env", {}).get(var) != "${{ inputs.%s }}" % name:
            fail(f"action.yml does not map input `{name}` to {var}")
    for out in ("packages", "published-count", "skipped-count", "failed-count", "unverified-count", "promoted-count", "report-file"):
        if out not in action.get("outputs", {}):
            fail(f"action.yml lacks output `{out}`")
    return inputs


def check_schema(kind, text):
    with tempfile.NamedTemporaryFile("w", suffix=".yml", delete=False) as f:
        f.write(text)
    result = subprocess.run(["check-jsonschema", "--builtin-schema", kind, f.name], capture_output=True, text=True)
    if result.returncode != 0:
        fail(f"README example does not validate as {kind}:\n{text}\n{result.stdout}{result.stderr}")


def check_readme(config_schema, inputs):
    readme = (ROOT / "README.md").read_text()
    blocks = re.findall(r"```ya?ml\n(.*?)```", readme, re.S)
    validator = jsonschema.Draft7Validator(config_schema)
    buildkite = github = 0
    for text in blocks:
        doc = yaml.safe_load(text)
        if not doc:
            fail("README has an empty YAML block")
            continue
        if isinstance(doc, dict) and "jobs" in doc:
            github += 1
            check_schema("vendor.github-workflows", text)
            for _, key, value in walk(doc):
                if key == "uses" and isinstance(value, str) and "package-publisher" in value:
                    pass
            for path, key, value in walk(doc):
                if isinstance(value, dict) and "package-publisher" in str(value.get("uses", "")):
                    for name in value.get("with", {}):
                        if name not in inputs:
                            fail(f"README GitHub example uses unknown input `{name}`")
        elif isinstance(doc, dict) and "steps" in doc:
            check_schema("vendor.buildkite", text)
            for _, key, value in walk(doc):
                if key == "plugins" and isinstance(value, list):
                    for plugin in value:
                        for ref, conf in (plugin.items() if isinstance(plugin, dict) else []):
                            if "package-publisher" in ref:
                                buildkite += 1
                                # A release tag, or (before the first release) a full commit SHA.
                                if not re.search(r"#(v\d+\.\d+\.\d+|[0-9a-f]{40})$", ref):
                                    fail(f"README plugin reference {ref} is not pinned to a vX.Y.Z tag or a commit SHA")
                                for error in validator.iter_errors(conf or {}):
                                    fail(f"README plugin config {conf} is invalid: {error.message}")
    if buildkite == 0:
        fail("README has no Buildkite plugin example")
    if github == 0:
        fail("README has no GitHub workflow example")
    print(f"README: {len(blocks)} YAML blocks, {buildkite} plugin configurations, {github} workflows checked")


def main():
    names = options()
    config = check_plugin(names)
    inputs = check_action(names)
    check_readme(config, inputs)
    print(f"integration checks: {len(failures)} failed")
    sys.exit(1 if failures else 0)


main()
